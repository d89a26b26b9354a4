import CoevoTestSupport
import Foundation
import Testing

extension ProcessTests {
    /// Discovery pools through a real coordinator, two worker processes, real git and real
    /// grader subprocesses.
    @Suite struct DiscoveryRunTests {
        /// The repository's shipped tasks.
        static let tasks = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("Tasks")
        /// The circle-packing task (entries of `task:`), and the scheduling task's candidate,
        /// run as the shipped configs run them: the tests grade as users do.
        static let packingTask = "seed: \(tasks.path)/circle-packing/seed, grader: \(tasks.path)/circle-packing/grader, "
            + "grade_command: [python3, grade.py], \(candidateFields(of: "discovery.yaml"))"
        static let schedulingCandidate = candidateFields(of: "discovery-scheduling.yaml")
        /// A shipped config's `candidate_*` fields, as entries of a flow mapping.
        static func candidateFields(of config: String) -> String {
            let file = tasks.deletingLastPathComponent().appendingPathComponent("Configs/\(config)")
            let text = (try? String(contentsOf: file, encoding: .utf8)) ?? ""
            return text.split(separator: "\n").map { $0.trimmingCharacters(in: .whitespaces) }
                .filter { $0.hasPrefix("candidate_") }.joined(separator: ", ")
        }

        /// Two workers with their own workspace roots in `scratch`.
        static func workers(_ run: TestRun, _ scratch: Scratch) throws {
            for id in ["w-0", "w-1"] {
                _ = try Child("coevo-worker", ["--connect", run.endpoint, "--id", id, "--slots", "4", "--workspace", scratch.url(id).path,
                                                     "--allow-command", "sh", "--allow-command", "python3"],
                              in: scratch, name: id)
            }
        }

        /// Runs `config` to its end; returns (key, commit, score) of every attempt.
        static func runToEnd(_ run: TestRun, _ scratch: Scratch, config: String, name: String) async throws -> [String] {
            let coordinator = try run.coordinator(config: config, name: name)
            try workers(run, scratch)
            #expect(await coordinator.waitForExit(timeout: 150) == 0, "\(scratch.logs)")
            return try Database(run.database).strings("""
                SELECT key || ' ' || commit_sha || ' ' || COALESCE(printf('%.9f', score), '-') FROM attempts ORDER BY round, key
                """)
        }

        @Test func evolveAndCommandAgentsImproveThePackingAndTheSameSeedGivesTheSameAttempts() async throws {
            var lists: [[String]] = []
            for life in 0..<2 {
                // Each life has its own workers and caches: nothing is shared but the seed.
                let scratch = try Scratch("discovery-\(life)")
                defer { scratch.close() }
                let run = TestRun(scratch: scratch)
                // A command agent: reads the shared memory, leaves a note, changes a file,
                // submits, and would then sleep on: the submission must end its step.
                let agent = try scratch.write("agent.sh", """
                    read -r first
                    coevo memory add-note "$COEVO_AGENT saw $(coevo memory attempts --top 100 | grep -c evolve) evolve attempts"
                    echo "# $first" >> pack.py
                    coevo eval -m "note the round"
                    sleep 30
                    """)
                let config = try scratch.write("discovery.yaml", """
                    run: {name: discovery-it, seed: 5}
                    coordinator: {bind: \(run.endpoint), database: \(run.database), min_workers: 2}
                    discovery:
                      task: {\(Self.packingTask), graders: 2}
                      agents:
                        - {runtime: evolve, count: 2, files: [pack.py], scale: 0.01}
                        - {runtime: command, count: 1, command: [sh, \(agent)]}
                      rounds: 8
                      step_timeout_ms: 20000
                    """)
                let attempts = try await Self.runToEnd(run, scratch, config: config, name: "coordinator")
                lists.append(attempts)
                let db = try Database(run.database)
                #expect(attempts.count == 24)
                // The seed scores 1.874802; evolve found better.
                let best = try db.strings("SELECT printf('%.6f', MAX(score)) FROM attempts")[0]
                #expect(Double(best)! > 1.8749, "best \(best)")
                // The command agent's attempts only add a comment: the seed's score, every time.
                #expect(try db.strings("SELECT DISTINCT printf('%.6f', score) FROM attempts WHERE agent = 'a2'") == ["1.874802"])
                #expect(try db.int("SELECT COUNT(*) FROM results r JOIN jobs j ON j.id = r.job_id WHERE j.kind = 'discovery.step' AND CAST(r.output AS TEXT) LIKE '%ended: it submitted%'") == 8)
                #expect(try db.int("SELECT COUNT(*) FROM notes WHERE agent = 'a2'") == 8)
                #expect(try db.int("SELECT COUNT(DISTINCT worker) FROM results") == 2)
                // Each agent's steps stay on the worker of its first (it has free slots): its session and cache are there.
                #expect(try db.int("""
                    SELECT COUNT(DISTINCT r.worker) FROM results r JOIN jobs j ON j.id = r.job_id
                    WHERE j.kind = 'discovery.step' AND json_extract(CAST(j.payload AS TEXT), '$.agent') = 'a2'
                    """) == 1)
                #expect(try db.strings("SELECT state FROM runs") == ["finished"])
                // The workers got every commit and task file with their jobs (the grades found
                // the commits), but the store keeps none of them per job: they grow with the
                // pool's history, and the pool makes them again on resume.
                #expect(try db.int("""
                    SELECT COUNT(*) FROM jobs WHERE json_array_length(CAST(payload AS TEXT), '$.chain.bundles') = 0
                    AND json_array_length(CAST(payload AS TEXT), '$.chain.seedFiles') = 0
                    AND COALESCE(json_array_length(CAST(payload AS TEXT), '$.graderFiles'), 0) = 0
                    """) == 48)
                #expect(try db.int("SELECT COUNT(*) FROM jobs WHERE CAST(payload AS TEXT) GLOB '*\"bundle\":\"[^\"]*'") == 0)  // viewed: commits only
                // The grader's private file never reached a workspace (grade directories are removed).
                let found = FileManager.default.enumerator(atPath: scratch.directory.path)?.allObjects.compactMap { $0 as? String }
                    .filter { $0.hasSuffix("best_known.json") } ?? []
                #expect(found.isEmpty, "\(found)")

                let coevo = try Binaries.path("coevo")
                let listed = try TestSupport.capture([coevo, "memory", "attempts", "--db", run.database, "--top", "3"])
                #expect(listed.status == 0)
                #expect(listed.output.split(separator: "\n").dropFirst().first?.hasPrefix(String(best.prefix(5))) == true, "\(listed.output)")
                let notes = try TestSupport.capture([coevo, "memory", "notes", "--db", run.database])
                #expect(notes.output.contains("a2 saw 2 evolve attempts"), "\(notes.output)")
                // The training export: every attempt with its diff.
                let runID = try db.strings("SELECT id FROM runs")[0]
                let export = try String(contentsOf: scratch.url("exports/\(runID)/attempts.jsonl"), encoding: .utf8)
                let lines = export.split(separator: "\n").map { try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] }
                #expect(lines.count == 24)
                #expect(lines.allSatisfy { ($0?["diff"] as? String)?.contains("+++ b/pack.py") == true })
            }
            #expect(lists[0] == lists[1])
        }

        @Test func crashingHangingAndHostileAgentsAndGradersAreRecordedAndTheRunGoesOn() async throws {
            let scratch = try Scratch("discovery-faults")
            defer { scratch.close() }
            let run = TestRun(scratch: scratch)
            // Bad input: agents that make their grader crash, hang or print no score, one
            // that deletes its workspace's .git (in round 1), one that exits at once, one that floods its
            // output, one that tries to read the grader's private file, one that writes a
            // 1.5 GiB file and one that commits 9 MB by hand past `coevo eval`; the grader runs
            // as nobody and reads that file itself.
            try FileManager.default.createDirectory(at: scratch.url("seed"), withIntermediateDirectories: true)
            try FileManager.default.createDirectory(at: scratch.url("grader"), withIntermediateDirectories: true)
            _ = try scratch.write("seed/TASK.md", "Write mode.txt.\n")
            _ = try scratch.write("grader/secret.txt", "the private answer\n")
            _ = try scratch.write("grader/grade.sh", """
                case $(cat "$COEVO_CANDIDATE/mode.txt") in
                  crash) echo boom >&2; exit 1 ;;
                  hang) sleep 60 ;;
                  noscore) echo "all good" ;;
                  *) echo "{\\"score\\": $(wc -c < "$COEVO_CANDIDATE/mode.txt"), \\"feedback\\": \\"uid $(id -u) read $(cat secret.txt)\\"}" ;;
                esac
                """)
            let agent = try scratch.write("agent.sh", """
                read -r first
                case $COEVO_AGENT in
                  a0) echo crash > mode.txt ;;
                  a1) echo hang > mode.txt ;;
                  a2) echo noscore > mode.txt ;;
                  a3) case $first in *"round 1 of"*) rm -rf .git ;; esac; echo ok > mode.txt ;;
                  a4) exit 3 ;;
                  a5) head -c 3000000 /dev/zero; echo flood > mode.txt; coevo memory add-note "uid $(id -u)" ;;
                  a6) cat \(scratch.url("w-0").path)/discovery/*/grades/*/grader/secret.txt \(scratch.url("w-1").path)/discovery/*/grades/*/grader/secret.txt > mode.txt 2>&1; echo spy >> mode.txt ;;
                  a7) head -c 1610612736 /dev/zero > big.bin; coevo eval -m big 2> refused.txt || coevo memory add-note "$(cat refused.txt)"
                      rm -f big.bin refused.txt; echo big > mode.txt ;;
                  a8) head -c 9000000 /dev/urandom > noise.bin; git add noise.bin; git -c user.name=a8 -c user.email=a8@x commit -qm noise
                      printf '{"commit":"%s","parent":"%s","message":"sneak"}' "$(git rev-parse HEAD)" "$(git rev-parse HEAD~1)" > .coevo/sneak.json
                      mv .coevo/sneak.json .coevo/submitted.json; sleep 10 ;;
                esac
                echo "$COEVO_AGENT" >> agents.txt
                coevo eval -m "$COEVO_AGENT"
                """)
            let config = try scratch.write("discovery.yaml", """
                run: {name: discovery-faults, seed: 3}
                coordinator: {bind: \(run.endpoint), database: \(run.database), min_workers: 2}
                discovery:
                  task: {seed: \(scratch.url("seed").path), grader: \(scratch.url("grader").path), grade_command: [sh, grade.sh],
                         graders: 3, grader_timeout_ms: 1500, grader_user: 65534}
                  agents: [{runtime: command, count: 9, command: [sh, \(agent)]}]
                  rounds: 2
                  step_timeout_ms: 20000
                """)
            _ = try await Self.runToEnd(run, scratch, config: config, name: "coordinator")
            let db = try Database(run.database)
            func column(_ sql: String) throws -> [String] { try db.strings(sql) }
            #expect(try column("SELECT agent || ':' || status FROM attempts WHERE round = 1 ORDER BY key")
                    == ["a0:crashed", "a1:timeout", "a2:crashed", "a5:baseline", "a6:baseline", "a7:baseline"])
            #expect(try column("SELECT feedback FROM attempts WHERE key = 'r1.step.a2'")[0].contains("printed no {\"score\""))
            // What a crashed grader printed is the owner's, in an event; the agents hear only how it ended.
            #expect(try column("SELECT feedback FROM attempts WHERE key = 'r1.step.a0'") == ["grader exit code 1"])
            #expect(try column("SELECT detail FROM events WHERE kind = 'discovery_grade_detail' AND detail LIKE 'r1.grade.a0:%'")
                    .first?.contains("boom") == true)
            // The grader ran as nobody and could read its own file.
            #expect(try column("SELECT feedback FROM attempts WHERE key = 'r1.step.a5'") == ["uid 65534 read the private answer"])
            // a5 ran as a user of its own from the workers' range (the same on both steps when
            // they ran on one worker). a6 ran while other grades may have been going on its
            // worker and could not see the grader's file (not in its sandbox, its user's alone
            // while grading, removed after), so mode.txt has no secret in it.
            let a5 = try column("SELECT body FROM notes WHERE agent = 'a5'")
            #expect(a5.count == 2 && a5.allSatisfy { ($0.split(separator: " ").last.flatMap { UInt32($0) } ?? 0) >= 2_000_000_002 }, "\(a5)")
            #expect(try column("SELECT feedback FROM attempts WHERE agent = 'a6'").allSatisfy { $0.hasPrefix("uid 65534 read") })
            let spied = try FileManager.default.subpathsOfDirectory(atPath: scratch.directory.path).filter { $0.hasSuffix("agents/a6/mode.txt") }
            for path in spied {
                #expect(!(try String(contentsOf: scratch.url(path), encoding: .utf8)).contains("private answer"))
            }
            // a4 never submits: its steps end with no attempt, logged each round, and each is a fault.
            #expect(try db.int("SELECT COUNT(*) FROM events WHERE kind = 'discovery_no_submission' AND detail LIKE 'r_.step.a4:%exit code 3%'") == 2)
            #expect(try db.int("SELECT COUNT(*) FROM events WHERE kind = 'discovery_agent_fault' AND detail LIKE 'r_.step.a4: exit code 3%'") == 2)
            // a3 deleted .git in round 1, so it could not submit; its workspace is made again
            // for round 2, from the seed (it has no attempt to go on from).
            #expect(try db.int("SELECT COUNT(*) FROM events WHERE kind = 'discovery_no_submission' AND detail LIKE 'r1.step.a3:%'") == 1)
            #expect(try column("SELECT agent || ':' || status || ':' || score FROM attempts WHERE round = 2 AND agent = 'a3'") == ["a3:baseline:3.0"])
            #expect(try column("SELECT parent_sha FROM attempts WHERE key = 'r2.step.a3'") == column("SELECT parent_sha FROM attempts WHERE key = 'r1.step.a5'"))
            // a7 tried to write 1.5 GiB and was stopped at the agents' 1 GiB file limit; `coevo
            // eval` refused the 1 GiB file with the reason (which a7 left as a note), and once
            // it was deleted the submission went through, small.
            #expect(try column("SELECT body FROM notes WHERE agent = 'a7'").allSatisfy {
                $0.contains("big.bin is 1024.0 MiB, and a submission's files may be at most 4.0 MiB each")
            })
            #expect(try db.int("SELECT COUNT(*) FROM notes WHERE agent = 'a7'") == 2)
            // Its bundle travels in the step's stored result: small.
            #expect(try db.int("""
                SELECT COUNT(*) FROM attempts a JOIN jobs j ON j.call_key = a.key JOIN results r ON r.job_id = j.id
                WHERE a.agent = 'a7' AND length(r.output) < 100000
                """) == 2)
            // a8 committed 9 MB of noise by hand and wrote its own submission: the worker
            // refused to ship it, and the step ended with no attempt.
            let a8 = try column("SELECT detail FROM events WHERE kind = 'discovery_no_submission' AND detail LIKE 'r_.step.a8:%'")
            #expect(a8.count == 2 && a8.allSatisfy { $0.contains("over the 8.0 MiB a submission may be") }, "\(a8)")
            #expect(try db.int("SELECT COUNT(*) FROM attempts WHERE agent = 'a8'") == 0)
            #expect(try db.int("SELECT COUNT(*) FROM attempts") == 13)
            #expect(try column("SELECT state FROM runs") == ["finished"])
        }

        @Test func aKilledCoordinatorResumesThePoolWithItsMemoryAndCountersIntact() async throws {
            // One life uninterrupted, one whose coordinator is SIGKILLed mid-run and started
            // again: the same attempts, notes and heartbeats, none twice.
            var outcomes: [[String]] = []
            for killed in [false, true] {
                let scratch = try Scratch("discovery-kill-\(killed)")
                defer { scratch.close() }
                let run = TestRun(scratch: scratch)
                let agent = try scratch.write("agent.sh", """
                    read -r first
                    coevo memory add-note "$COEVO_AGENT: $first"
                    echo "# $first" >> pack.py
                    coevo eval -m "comment"
                    """)
                let config = try scratch.write("discovery.yaml", """
                    run: {name: discovery-kill, seed: 9}
                    coordinator: {bind: \(run.endpoint), database: \(run.database), min_workers: 2}
                    discovery:
                      task: {\(Self.packingTask)}
                      agents:
                        - {runtime: evolve, count: 2, files: [pack.py]}
                        - {runtime: command, count: 1, command: [sh, \(agent)]}
                      rounds: 14
                      heartbeats: {pivot_after: 2, pivot_cooldown: 2, consolidate_every: 4}
                    """)
                let first = try run.coordinator(config: config, name: "coordinator-1")
                try Self.workers(run, scratch)
                if killed {
                    let attempts = { (try? Database(run.database).int("SELECT COUNT(*) FROM attempts")) ?? 0 }
                    #expect(await eventually(timeout: 60) { attempts() >= 15 }, "\(scratch.logs)")
                    first.signal(SIGKILL)
                    #expect(await first.waitForExit(timeout: 5) != nil)
                    #expect(attempts() < 42, "the run ended before the kill; make it longer")
                    let second = try run.coordinator(config: config, name: "coordinator-2")
                    #expect(await second.waitForExit(timeout: 120) == 0, "\(scratch.logs)")
                    #expect(second.log.contains("resumed by replaying"))
                } else {
                    #expect(await first.waitForExit(timeout: 120) == 0, "\(scratch.logs)")
                }
                let db = try Database(run.database)
                outcomes.append(try db.strings("SELECT key || ' ' || commit_sha || ' ' || status || ' ' || COALESCE(score, '-') FROM attempts ORDER BY round, key")
                                + db.strings("SELECT key || ' ' || body FROM notes ORDER BY round, key")
                                + db.strings("SELECT detail FROM events WHERE kind IN ('discovery_heartbeat', 'discovery_best', 'discovery_stopped') ORDER BY seq"))
                #expect(try db.int("SELECT COUNT(*) FROM attempts") == 42)
                #expect(try db.strings("SELECT state FROM runs") == ["finished"])
            }
            #expect(outcomes[0] == outcomes[1])
            #expect(outcomes[0].contains { $0.hasPrefix("pivot ") } && outcomes[0].contains { $0.hasPrefix("consolidate ") })
        }

        /// The store keeps a discovery job without its commits and task files; a job it
        /// holds unfinished goes out again as the resumed pool makes it. Here the coordinator
        /// and both workers are SIGKILLed while a round-2 step runs, and the step reruns on
        /// new workers with empty caches: it can only start from round 1's commit if its job
        /// brings the seed and that commit's bundle again.
        @Test func aStepLeftRunningByACrashGoesOutWholeToWorkersThatHaveNothing() async throws {
            let scratch = try Scratch("discovery-requeue")
            defer { scratch.close() }
            let run = TestRun(scratch: scratch)
            // The agent's sandbox shows it nothing outside its workspace and home: it marks its
            // sleep in its home, and sleeps only on the first life's workers.
            let agent = try scratch.write("agent.sh", """
                read -r first
                case $first in *"round 2 of"*) case $COEVO_WORKSPACE in */w-2/*) ;; *) touch "$HOME/slept"; sleep 60 ;; esac ;; esac
                echo "# $first" >> pack.py
                coevo eval -m "round"
                """)
            let config = try scratch.write("discovery.yaml", """
                run: {name: discovery-requeue, seed: 4}
                coordinator: {bind: \(run.endpoint), database: \(run.database), min_workers: 1}
                discovery:
                  task: {\(Self.packingTask)}
                  agents: [{runtime: command, count: 1, command: [sh, \(agent)]}]
                  rounds: 3
                """)
            func worker(_ id: String) throws -> Child {
                try Child("coevo-worker", ["--connect", run.endpoint, "--id", id, "--workspace", scratch.url(id).path,
                                           "--allow-command", "sh", "--allow-command", "python3"], in: scratch, name: id)
            }
            let first = try run.coordinator(config: config, name: "coordinator-1")
            let oldWorkers = [try worker("w-0"), try worker("w-1")]
            let leased = {
                (try? Database(run.database).int("""
                    SELECT COUNT(*) FROM jobs WHERE state = 'leased' AND json_extract(CAST(payload AS TEXT), '$.key') = 'r2.step.a0'
                    """)) ?? 0
            }
            let slept = {
                ["w-0", "w-1"].contains { id in
                    ((try? FileManager.default.subpathsOfDirectory(atPath: scratch.url(id).path)) ?? []).contains { $0.hasSuffix("agents/a0.home/slept") }
                }
            }
            #expect(await eventually(timeout: 60) { slept() && leased() == 1 }, "\(scratch.logs)")
            for child in [first] + oldWorkers { child.signal(SIGKILL) }
            for child in [first] + oldWorkers { _ = await child.waitForExit(timeout: 5) }

            let second = try run.coordinator(config: config, name: "coordinator-2")
            _ = try worker("w-2")
            #expect(await second.waitForExit(timeout: 90) == 0, "\(scratch.logs)")
            let db = try Database(run.database)
            #expect(try db.strings("SELECT key || ':' || status FROM attempts ORDER BY round") == ["r1.step.a0:baseline", "r2.step.a0:baseline", "r3.step.a0:baseline"])
            #expect(try db.int("SELECT COUNT(*) FROM events WHERE kind = 'discovery_step_failed'") == 0)
            // Round 2's step ran on the new worker, under the id the first life gave it.
            #expect(try db.strings("""
                SELECT r.worker FROM results r JOIN jobs j ON j.id = r.job_id WHERE json_extract(CAST(j.payload AS TEXT), '$.key') = 'r2.step.a0'
                """).map { $0.hasPrefix("w-2") } == [true])
        }

        @Test func anAgentCanStartOverFromThePoolsBestOnAnyWorker() async throws {
            let scratch = try Scratch("discovery-checkout")
            defer { scratch.close() }
            let run = TestRun(scratch: scratch)
            // From round 2 on, the command agent builds on the pool's best instead of its own
            // line (bad input first: an attempt that does not exist).
            let agent = try scratch.write("agent.sh", """
                read -r first
                case $first in
                  *"round 1 of"*) ;;
                  *) coevo memory checkout r99.step.a9 && exit 9
                     coevo memory checkout best || exit 8 ;;
                esac
                echo "# $first" >> pack.py
                coevo eval -m "on top of the best"
                """)
            let config = try scratch.write("discovery.yaml", """
                run: {name: discovery-checkout, seed: 4}
                coordinator: {bind: \(run.endpoint), database: \(run.database), min_workers: 2}
                discovery:
                  task: {\(Self.packingTask)}
                  agents:
                    - {runtime: evolve, count: 2, files: [pack.py]}
                    - {runtime: command, count: 1, command: [sh, \(agent)]}
                  rounds: 3
                """)
            _ = try await Self.runToEnd(run, scratch, config: config, name: "coordinator")
            let db = try Database(run.database)
            #expect(try db.int("SELECT COUNT(*) FROM attempts WHERE agent = 'a2'") == 3)
            for round in 2...3 {
                // The best before this round: the parent of a2's attempt, and its score (a comment changes nothing).
                let best = try db.strings("""
                    SELECT commit_sha || ' ' || printf('%.9f', score) FROM attempts WHERE round < \(round) AND pool_best = 1 ORDER BY round DESC, key DESC LIMIT 1
                    """)
                let mine = try db.strings("SELECT parent_sha || ' ' || printf('%.9f', score) FROM attempts WHERE round = \(round) AND agent = 'a2'")
                #expect(mine == best, "round \(round): \(mine) vs \(best)")
            }
            #expect(try db.int("SELECT COUNT(*) FROM events WHERE kind = 'discovery_agent_fault'") == 0)
        }

        @Test func aMinimisingTaskRanksItsAttemptsLowestFirst() async throws {
            let scratch = try Scratch("discovery-min")
            defer { scratch.close() }
            let run = TestRun(scratch: scratch)
            let config = try scratch.write("discovery.yaml", """
                run: {name: discovery-min, seed: 11}
                coordinator: {bind: \(run.endpoint), database: \(run.database), min_workers: 2}
                discovery:
                  task: {seed: \(Self.tasks.path)/job-scheduling/seed, grader: \(Self.tasks.path)/job-scheduling/grader,
                         grade_command: [python3, grade.py], \(Self.schedulingCandidate), direction: minimize}
                  agents: [{runtime: evolve, count: 3, files: [schedule.py], scale: 0.3}]
                  rounds: 4
                """)
            _ = try await Self.runToEnd(run, scratch, config: config, name: "coordinator")
            let db = try Database(run.database)
            let scores = try db.strings("SELECT score FROM attempts ORDER BY round, key").compactMap(Double.init)
            #expect(scores.count == 12)
            // The seed scores 1.186 on the hidden instances; lower is better.
            #expect(scores.min()! < 1.18, "\(scores)")
            let best = try db.strings("SELECT key FROM attempts WHERE pool_best = 1 ORDER BY round, key").last
            #expect(try db.strings("SELECT key FROM attempts ORDER BY score ASC, key LIMIT 1").first == best)
            let listed = try TestSupport.capture([try Binaries.path("coevo"), "memory", "attempts", "--db", run.database, "--top", "12"])
            let listedScores = listed.output.split(separator: "\n").dropFirst().compactMap { Double($0.split(separator: " ").first ?? "") }
            #expect(listedScores.count == 12 && listedScores == listedScores.sorted(), "\(listed.output)")
        }

        /// The repository's mini-swe-agent and aider (`make agents` and `make aider` install them).
        static let miniSweAgent = tasks.deletingLastPathComponent().appendingPathComponent(".venv-agents/bin/mini")
        static let aider = tasks.deletingLastPathComponent().appendingPathComponent(".venv-aider/bin/aider")
        /// Claude Code, codex and the LiteLLM gateway (`make cli-agents` installs them).
        static let claude = tasks.deletingLastPathComponent().appendingPathComponent(".venv-cli/bin/claude")
        static let codex = tasks.deletingLastPathComponent().appendingPathComponent(".venv-cli/bin/codex")
        static let litellm = tasks.deletingLastPathComponent().appendingPathComponent(".venv-cli/bin/litellm")

        /// One round of circle packing with `agent` (as a0, on the real SmolLM2 server,
        /// priced at 1,000 and 3,000 USD per million tokens) beside an evolve agent: a0's
        /// step output, and the run's database. The endpoint waits up to 200 s a call, not
        /// the default 60: a rewrite of pack.py may run to its 1,371-token limit, which
        /// took 57-62 s here (the call then timed out and was retried until the step ended).
        static func oneRealModelRound(_ name: String, agent: String) async throws -> (DiscoveryStepOutputView, Database, Scratch) {
            let scratch = try Scratch(name)
            let run = TestRun(scratch: scratch)
            let modelPort = freePort()
            let root = Self.tasks.deletingLastPathComponent()
            let config = try scratch.write("discovery.yaml", """
                run: {name: \(name), seed: 2}
                coordinator: {bind: \(run.endpoint), database: \(run.database)}
                workers: {count: 2, slots: 2}
                model_server:
                  command: [python3, \(root.path)/Deploy/local-model/serve_smollm2.py, --port, "\(modelPort)", --n_ctx, "8192"]
                  health_url: http://127.0.0.1:\(modelPort)/v1/models
                endpoints: [{name: local, url: "http://127.0.0.1:\(modelPort)", model: smollm2, timeout_ms: 200000,
                             price_input_per_million: 1000, price_output_per_million: 3000}]
                discovery:
                  task: {\(Self.packingTask)}
                  agents:
                    - \(agent)
                    - {runtime: evolve, count: 1, files: [pack.py]}
                  rounds: 1
                  step_timeout_ms: 240000
                """)
            let coevo = try Child("coevo", ["run", config], in: scratch, name: "run")
            #expect(await coevo.waitForExit(timeout: 400) == 0, "\(coevo.log)")
            let db = try Database(run.database)
            let outputs = try db.strings("""
                SELECT CAST(r.output AS TEXT) FROM results r JOIN jobs j ON j.id = r.job_id
                WHERE j.kind = 'discovery.step' AND json_extract(CAST(j.payload AS TEXT), '$.agent') = 'a0'
                """)
            #expect(outputs.count == 1)
            let output = try JSONDecoder().decode(DiscoveryStepOutputView.self, from: Data((outputs.first ?? "{}").utf8))
            // Whatever the agent did, its step is recorded once: an attempt or a step without one.
            let attempted = try db.int("SELECT COUNT(*) FROM attempts WHERE agent = 'a0'")
            let noted = try db.int("SELECT COUNT(*) FROM events WHERE kind = 'discovery_no_submission' AND detail LIKE 'r1.step.a0:%'")
            #expect(attempted + noted == 1)
            #expect(try db.int("SELECT COUNT(*) FROM attempts WHERE agent = 'a1'") == 1)
            #expect(try db.strings("SELECT state FROM runs") == ["finished"])
            // The tokens are priced at the endpoint's prices (no other price is known for a
            // local model): between all-input and all-output.
            let tokens = Double(output.tokens)
            #expect(output.costUSD >= tokens * 1000 / 1e6 && output.costUSD <= tokens * 3000 / 1e6, "\(output.costUSD) for \(output.tokens) tokens")
            return (output, db, scratch)
        }

        @Test(.enabled(if: TestSupport.llamaServerRequired, "the llama.cpp server is not installed (make test installs it)"))
        func miniSweAgentStepsReachTheRealModelAndTheirOutcomeIsRecorded() async throws {
            #expect(TestSupport.llamaServerInstalled && FileManager.default.isExecutableFile(atPath: Self.miniSweAgent.path),
                    "CI must have the llama.cpp server and mini-swe-agent: run `make test`, which installs them")
            guard TestSupport.llamaServerInstalled, FileManager.default.isExecutableFile(atPath: Self.miniSweAgent.path) else { return }
            let (output, _, scratch) = try await Self.oneRealModelRound(
                "discovery-mini", agent: "{runtime: mini-swe-agent, count: 1, program: \(Self.miniSweAgent.path), endpoint: local, max_turns: 2}")
            defer { scratch.close() }
            // The agent really called the model, and how it ended is recorded: SmolLM2-135M
            // mostly fails mini-swe-agent's format, which must show, not vanish.
            #expect(output.modelCalls >= 1 && output.tokens > 0, "\(output)")
            #expect(output.exit.contains("mini-swe-agent: "), "\(output.exit)")
        }

        /// `evolve` with a model-written mutation: one call per step to the real model,
        /// whose rewrite of pack.py is submitted and graded, or whose reply without one is
        /// recorded as a step without a submission, saying so.
        @Test(.enabled(if: TestSupport.llamaServerRequired, "the llama.cpp server is not installed (make test installs it)"))
        func evolveWithAModelWrittenMutationCallsTheModelOncePerStep() async throws {
            guard TestSupport.llamaServerInstalled else { return }
            let (output, db, scratch) = try await Self.oneRealModelRound(
                "discovery-model-evolve", agent: "{runtime: evolve, count: 1, files: [pack.py], mutation: model, endpoint: local}")
            defer { scratch.close() }
            #expect(output.modelCalls == 1 && output.tokens > 0, "\(output)")
            let attempts = try db.strings("SELECT message FROM attempts WHERE agent = 'a0'")
            if output.exit == "evolve: submitted" {
                #expect(attempts == ["evolve: the model rewrote pack.py"])
            } else {
                #expect(output.exit.hasPrefix("evolve: the model's reply held no changed pack.py"), "\(output.exit)")
                #expect(attempts.isEmpty)
            }
        }

        /// The real aider (PyPI) on the real model: the adapter's command line, the tokens
        /// it prints, and its session (its chat history) as aider itself leaves them.
        @Test(.enabled(if: TestSupport.llamaServerRequired, "the llama.cpp server is not installed (make test installs it)"))
        func aiderStepsReachTheRealModelAndKeepTheirChatHistory() async throws {
            #expect(FileManager.default.isExecutableFile(atPath: Self.aider.path), "CI must have aider: run `make test`, which installs it")
            guard TestSupport.llamaServerInstalled, FileManager.default.isExecutableFile(atPath: Self.aider.path) else { return }
            let (output, _, scratch) = try await Self.oneRealModelRound(
                "discovery-aider", agent: "{runtime: aider, count: 1, program: \(Self.aider.path), endpoint: local}")
            defer { scratch.close() }
            #expect(output.modelCalls >= 1 && output.tokens > 0, "aider printed its tokens: \(output)")
            #expect(output.session == "aider-chat-history", "\(output)")
            #expect(output.exit.hasPrefix("exit code 0"), "\(output.exit)")
        }

        /// The real Claude Code (the CLI that claude-agent-sdk's wheel bundles) and the real
        /// codex (openai-codex-cli-bin) on the real model, through the real LiteLLM gateway,
        /// which serves Anthropic's Messages API and OpenAI's Responses API in front of
        /// llama.cpp: two rounds on one worker, so each agent's second step resumes its first
        /// one's session. The gateway wants a key: it reaches the agents only as the
        /// endpoints' `api_key_env`, through the worker's `--allow-key`; without it every call
        /// would be refused and no tokens counted.
        @Test(.enabled(if: TestSupport.llamaServerRequired, "the llama.cpp server is not installed (make test installs it)"))
        func claudeCodeAndCodexReachTheRealModelThroughAGatewayAndResumeTheirSessions() async throws {
            let installed = [Self.claude, Self.codex, Self.litellm].allSatisfy { FileManager.default.isExecutableFile(atPath: $0.path) }
            #expect(installed, "CI must have Claude Code, codex and LiteLLM: run `make test`, which installs them")
            guard TestSupport.llamaServerInstalled, installed else { return }
            let scratch = try Scratch("discovery-cli")
            defer { scratch.close() }
            let run = TestRun(scratch: scratch)
            let (modelPort, gatewayPort) = (freePort(), freePort())
            let key = "sk-coevo-\(UUID().uuidString.prefix(8))"
            let root = Self.tasks.deletingLastPathComponent()
            _ = try Child(Self.litellm.path, ["--config", root.appendingPathComponent("Deploy/local-model/litellm-gateway.yaml").path,
                                              "--host", "127.0.0.1", "--port", "\(gatewayPort)"],
                          in: scratch, name: "gateway",
                          environment: ["COEVO_MODEL_URL": "http://127.0.0.1:\(modelPort)/v1", "LITELLM_MASTER_KEY": key,
                                        "LITELLM_LOCAL_MODEL_COST_MAP": "True"])
            // For time, not behaviour: the two tools' prompts are ~5,000 tokens (80/s here)
            // that a step's calls and a resumed session share, so the server keeps evaluated
            // prefixes (--reuse-prefix --cache true); and Claude Code asks for 512 tokens a
            // reply, not 32,000 (SmolLM2 often writes to the limit). One slot: the
            // steps take turns (the model server serves one call at a time anyway); with a
            // Claude call in flight, codex's calls through the gateway failed to connect.
            let gateway = "url: \"http://127.0.0.1:\(gatewayPort)\", model: smollm2, api_key_env: COEVO_GATEWAY_KEY, price_input_per_million: 1000, price_output_per_million: 3000"
            let config = try scratch.write("discovery.yaml", """
                run: {name: discovery-cli, seed: 2}
                coordinator: {bind: \(run.endpoint), database: \(run.database)}
                workers: {count: 1, slots: 1}
                model_server:
                  command: [python3, \(root.path)/Deploy/local-model/serve_smollm2.py, --port, "\(modelPort)", --n_ctx, "16384",
                            --reuse-prefix, --cache, "true"]
                  health_url: http://127.0.0.1:\(modelPort)/v1/models
                endpoints:
                  - {name: anthropic-gateway, api: anthropic, \(gateway)}
                  - {name: responses-gateway, api: openai, \(gateway)}
                discovery:
                  task: {\(Self.packingTask)}
                  agents:
                    - {runtime: claude-code, count: 1, program: \(Self.claude.path), endpoint: anthropic-gateway, max_turns: 1,
                       environment: {CLAUDE_CODE_MAX_OUTPUT_TOKENS: "512"}}
                    - {runtime: codex, count: 1, program: \(Self.codex.path), endpoint: responses-gateway}
                    - {runtime: evolve, count: 1, files: [pack.py]}
                  rounds: 2
                  step_timeout_ms: 400000
                """)
            // The gateway is up before the run starts, which asks each endpoint for a token first.
            let up = await eventually(timeout: 120) {
                (try? DashboardTests.curl("http://127.0.0.1:\(gatewayPort)/health/liveliness").code) == 200
            }
            #expect(up, "the gateway did not come up: \(scratch.logs)")
            let coevo = try Child("coevo", ["run", config], in: scratch, name: "run", environment: ["COEVO_GATEWAY_KEY": key])
            #expect(await coevo.waitForExit(timeout: 900) == 0, "\(scratch.logs)")
            let db = try Database(run.database)
            for agent in ["a0", "a1"] {
                let outputs = try db.strings("""
                    SELECT CAST(r.output AS TEXT) FROM results r JOIN jobs j ON j.id = r.job_id
                    WHERE j.kind = 'discovery.step' AND json_extract(CAST(j.payload AS TEXT), '$.agent') = '\(agent)' ORDER BY j.id
                    """).map { try JSONDecoder().decode(DiscoveryStepOutputView.self, from: Data($0.utf8)) }
                try #require(outputs.count == 2, "\(agent): \(scratch.logs)")
                // SmolLM2 sometimes answers codex's prompt with a loop that runs to the
                // gateway's 2,048-token cap or past the step's timeout (two CI runs); codex
                // then ends its turn with an error and no usage. Such a step is recorded as
                // it ended; at least one of the two must have counted its tokens.
                #expect(outputs.contains { $0.tokens > 0 && $0.modelCalls >= 1 }, "\(agent): \(outputs)")
                for output in outputs where output.tokens > 0 {
                    // The tool's own JSON lines gave the session and the tokens; the gateway's
                    // model is priced at the endpoint's prices, between all-input and all-output.
                    #expect(output.modelCalls >= 1, "\(agent): \(output)")
                    let tokens = Double(output.tokens)
                    #expect(output.costUSD >= tokens * 1000 / 1e6 && output.costUSD <= tokens * 3000 / 1e6,
                            "\(agent): \(output.costUSD) for \(output.tokens) tokens")
                }
                let session = try #require(outputs[0].session, "\(agent): \(outputs[0])")
                #expect(outputs[1].exit.contains("resumed session \(session)"), "\(agent): \(outputs[1].exit)")
                #expect(outputs[1].session == session, "\(agent)")
            }
            #expect(try db.strings("SELECT state FROM runs") == ["finished"])
        }
    }
}

/// The fields of a step's output this test reads.
struct DiscoveryStepOutputView: Decodable {
    var exit: String
    var modelCalls: Int
    var tokens: Int
    var costUSD: Double
    var session: String?
}
