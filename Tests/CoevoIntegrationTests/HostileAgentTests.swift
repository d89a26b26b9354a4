import CoevoTestSupport
import CoevoWire
import Foundation
import Testing

extension ProcessTests {
    /// Agents that attack the worker, the grader, each other and the coordinator, run the
    /// way a user runs them: a real coordinator, two workers as root, real git, graders
    /// under their own user. Each route an agent tries is named in its script and in the
    /// assertion that says it yielded nothing; the honest agent's score is the best the
    /// store holds and the pool finishes.
    @Suite(.enabled(if: getuid() == 0, "the workers must be root to give agents users of their own"))
    struct HostileAgentTests {
        @Test func everyRouteAnAgentTriesYieldsNothingAndTheHonestAgentWins() async throws {
            let scratch = try Scratch("hostile")
            defer { scratch.close() }
            let run = TestRun(scratch: scratch)
            try await playHostileAgents(in: scratch, database: run.database, endpoint: run.endpoint, port: run.port,
                                        coordinator: { try run.coordinator(config: $0) }, worker: { _ in ([], []) })
        }

        /// The same agents with the coordinator and each worker on a host of its own
        /// (network namespaces joined by a bridge), over CURVE, as on a cluster: the
        /// coordinator's port is another host's, and the agents still reach nothing.
        @Test(.enabled(if: NetnsLab.available, "needs root and ip netns"))
        func everyRouteYieldsNothingWithTheWorkersOnHostsOfTheirOwn() async throws {
            let scratch = try Scratch("hostile-netns")
            let lab = try NetnsLab()
            defer { scratch.close(); lab.close() }
            let keys = scratch.url("keys").path
            try await CurveRunTests.keys("coordinator", dir: keys, in: scratch)
            for id in ["w-0", "w-1"] { try await CurveRunTests.keys(id, dir: keys + "/workers", in: scratch) }
            let coordinatorHost = try lab.host("coord", address: 1)
            let hosts = ["w-0": try lab.host("w0", address: 11), "w-1": try lab.host("w1", address: 12)]
            try await playHostileAgents(
                in: scratch, database: scratch.url("run.sqlite").path, endpoint: "tcp://10.77.0.1:5555", port: 5555,
                coordinatorSettings: "curve_key: \(keys)/coordinator.key, authorized_keys: \(keys)/workers",
                coordinator: { config in
                    try Child("coevo-coordinator", ["--config", config, "--exit-when-done"], in: scratch, name: "coordinator",
                              wrapper: lab.wrapper(coordinatorHost))
                },
                worker: { id in
                    (["--coordinator-key", "\(keys)/coordinator.pub", "--key", "\(keys)/workers/\(id).key"], lab.network(hosts[id]!))
                })
        }

        /// Nine agents, one honest and eight trying the routes their scripts name, on two
        /// root workers (`worker` gives a worker's extra arguments and wrapper); what each
        /// route yielded is read from the store, the exports and the machine.
        func playHostileAgents(in scratch: Scratch, database: String, endpoint: String, port: Int, coordinatorSettings: String = "",
                               coordinator makeCoordinator: (String) throws -> Child,
                               worker: (String) -> (arguments: [String], wrapper: [String])) async throws {
            let host = URLComponents(string: endpoint)?.host ?? "127.0.0.1"
            let tag = UUID().uuidString.prefix(8)
            let secrets = (grader: "GRADER-SECRET-\(tag)", root: "ROOT-SECRET-\(tag)", hidden: "hidden-input-\(tag)",
                           worker: "WORKER-SECRET-\(tag)")
            // Anything written here came from outside a sandbox: no agent's sandbox shows it.
            let marks = scratch.url("marks")
            try FileManager.default.createDirectory(at: marks, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o777])
            _ = chmod(marks.path, 0o777)
            let rootOnly = try scratch.write("root-only.txt", secrets.root)
            _ = chmod(rootOnly, 0o600)
            for directory in ["seed", "grader"] { try FileManager.default.createDirectory(at: scratch.url(directory), withIntermediateDirectories: true) }
            _ = try scratch.write("seed/TASK.md", "Make candidate.sh print its stdin in capitals.\n")
            _ = try scratch.write("seed/candidate.sh", "echo nothing\n")
            _ = try scratch.write("grader/secret.txt", secrets.grader + "\n")
            _ = try scratch.write("grader/hidden.txt", secrets.hidden + "\n")
            // 10 for the right answer, 1 otherwise; the candidate's second line is shown to
            // its agent (this task says so), unless it quotes the hidden input.
            _ = try scratch.write("grader/grade.sh", """
                first=$(sed -n 1p "$COEVO_CANDIDATE_STDOUT"); second=$(sed -n 2p "$COEVO_CANDIDATE_STDOUT" | tr -d '"\\\\' | cut -c1-300)
                case "$second" in *"$(cat hidden.txt)"*) second="(withheld)" ;; esac
                score=1; [ "$first" = "$(tr a-z A-Z < hidden.txt)" ] && score=10
                echo "{\\"score\\": $score, \\"feedback\\": \\"candidate: $second\\"}"
                """)
            let agent = try scratch.write("agent.sh", """
                read -r first
                MARK=\(marks.path); ROOTONLY=\(rootOnly); DB=\(database); GRADER_SRC=\(scratch.url("grader").path)
                W0=\(scratch.url("w-0").path); W1=\(scratch.url("w-1").path); HOST=\(host); PORT=\(port)
                round1=no; case $first in *"round 1 of"*) round1=yes ;; esac
                case $COEVO_AGENT in
                  a0) printf 'tr a-z A-Z\\n# round 1: %s\\n' $round1 > candidate.sh ;;
                  a1) # route: git hooks, config and attributes that the worker's git (root) would run
                      d=$(git rev-parse --git-common-dir); mkdir -p "$d/hooks"
                      for h in reference-transaction post-checkout post-index-change pre-commit post-commit post-rewrite pre-auto-gc; do
                        printf '#!/bin/sh\\nid -u >> %s/hook-%s\\n' "$MARK" "$h" > "$d/hooks/$h"; chmod +x "$d/hooks/$h"
                      done
                      printf '#!/bin/sh\\nid -u >> %s/external\\necho FORGED DIFF\\n' "$MARK" > "$HOME/x"; chmod +x "$HOME/x"
                      git config diff.external "$HOME/x"; git config core.fsmonitor "$HOME/x"; git config core.pager "$HOME/x"
                      git config diff.evil.textconv "$HOME/x"; echo '* diff=evil' > .gitattributes
                      echo "# a1" >> candidate.sh ;;
                  a2) # route: links, a hard link, a FIFO and a linked directory in the outbox, read by the worker
                      n=.coevo/outbox/notes
                      ln -s "$ROOTONLY" $n/001.md; ln -s /proc/1/environ $n/002.md; ln "$ROOTONLY" $n/003.md 2>/dev/null
                      mkfifo $n/004.md; printf 'a2 plain note\\n' > $n/005.md
                      rm -rf .coevo/outbox/skills; ln -s "$W0" .coevo/outbox/skills
                      echo "# a2" >> candidate.sh ;;
                  a3) # route: other agents' workspaces and homes
                      seen=$(ls -a "$(dirname "$COEVO_WORKSPACE")" | tr '\\n' ' ')
                      for d in "$W0"/discovery/*/agents/* "$W1"/discovery/*/agents/*; do
                        [ "$d" = "$COEVO_WORKSPACE" ] || [ "$d" = "$HOME" ] || { echo pwned > "$d/pwned.txt" 2>/dev/null && echo "$d"; }
                      done > "$HOME/wrote"
                      coevo memory add-note "a3 sees [$seen] wrote [$(cat "$HOME/wrote")]"
                      echo "# a3" >> candidate.sh ;;
                  a4) # route: the candidate hands its hidden input to its agent (home, /tmp, its tree) and opens sockets
                      if [ $round1 = yes ]; then
                        { echo 'h=$(cat)'
                          echo "echo \\"\\$h\\" > $HOME/leak.txt 2>/dev/null; echo \\"\\$h\\" > /tmp/leak.txt; echo \\"\\$h\\" > leak.txt 2>/dev/null"
                          echo 'echo nothing'
                          echo "python3 -c \\"import socket; socket.create_connection(('$HOST', $PORT), 2)\\" 2>&1 | tail -1"; } > candidate.sh
                      else
                        coevo memory add-note "a4 found home [$(cat "$HOME/leak.txt" 2>&1)] tmp [$(cat /tmp/leak.txt 2>&1)]"
                        echo "# a4" >> candidate.sh
                      fi ;;
                  a5) # routes: /proc of the worker and grader, environment, the store, the grader's source, the cache's git objects, the coordinator's port
                      procs=$(ls /proc | grep -c '^[0-9]')
                      envs=$( { env; cat /proc/[0-9]*/environ 2>/dev/null | tr '\\0' '\\n'; } | grep -c WORKER-SECRET)
                      db=$(head -c 16 "$DB" 2>&1 | tr -dc 'a-zA-Z :')
                      grader=$(cat "$GRADER_SRC/secret.txt" 2>&1)
                      cache=$(cat "$W0"/discovery/*/repo/.git/HEAD "$W1"/discovery/*/repo/.git/HEAD 2>&1 | tr '\\n' ' ')
                      port=$(python3 -c "import socket; socket.create_connection(('$HOST', $PORT), 2); print('connected')" 2>&1 | tail -1)
                      coevo memory add-note "a5 procs=$procs envs=$envs db=[$db] grader=[$grader] cache=[$cache] port=[$port]"
                      echo "# a5" >> candidate.sh ;;
                  a6) # route: a detached process that outlives its step
                      if [ $round1 = yes ]; then
                        setsid sh -c "sleep 1; echo late > $HOME/late.txt; echo late > $MARK/late" < /dev/null > /dev/null 2>&1 &
                      else
                        coevo memory add-note "a6 late [$(cat "$HOME/late.txt" 2>&1)]"
                      fi
                      echo "# a6" >> candidate.sh ;;
                  a7) # routes: a full /tmp, a fork bomb (which ends its step at the process limit)
                      head -c 400000000 /dev/zero > /tmp/fill 2>/dev/null; filled=$(stat -c %s /tmp/fill); rm -f /tmp/fill
                      coevo memory add-note "a7 tmp=$filled"
                      forks=$(python3 -c "
                import os, signal, time
                kids = []
                try:
                    for i in range(3000):
                        pid = os.fork()
                        if pid == 0:
                            time.sleep(30); os._exit(0)
                        kids.append(pid)
                except OSError:
                    pass
                for pid in kids: os.kill(pid, signal.SIGKILL); os.waitpid(pid, 0)
                print(len(kids))")
                      sleep 5; echo "# a7 forks=$forks" >> candidate.sh ;;
                  a8) # route: rewriting the pool's shared view
                      r=$( { echo forged > .coevo/shared/notes/forged.md; } 2>&1)
                      coevo memory add-note "a8 shared [$r]"
                      echo "# a8" >> candidate.sh ;;
                esac
                coevo eval -m "$COEVO_AGENT"
                """)
            let config = try scratch.write("discovery.yaml", """
                run: {name: hostile, seed: 9}
                coordinator: {bind: "\(endpoint)", database: \(database), min_workers: 2\(coordinatorSettings.isEmpty ? "" : ", " + coordinatorSettings)}
                discovery:
                  task: {seed: \(scratch.url("seed").path), grader: \(scratch.url("grader").path), grade_command: [sh, grade.sh],
                         candidate_command: [sh, candidate.sh], candidate_input: hidden.txt, graders: 2,
                         grader_timeout_ms: 10000, candidate_timeout_ms: 10000}
                  agents: [{runtime: command, count: 9, command: [sh, \(agent)]}]
                  rounds: 2
                  step_timeout_ms: 60000
                """)
            let coordinator = try makeCoordinator(config)
            for id in ["w-0", "w-1"] {
                let (arguments, wrapper) = worker(id)
                _ = try Child("coevo-worker", ["--connect", endpoint, "--id", id, "--slots", "5", "--workspace", scratch.url(id).path,
                                               "--allow-command", "sh"] + arguments, in: scratch, name: id, wrapper: wrapper,
                              environment: ["COEVO_TEST_WORKER_SECRET": secrets.worker])
            }
            #expect(await coordinator.waitForExit(timeout: 240) == 0, "\(scratch.logs)")
            let db = try Database(database)
            func notes(_ agent: String) throws -> [String] { try db.strings("SELECT body FROM notes WHERE agent = '\(agent)' ORDER BY round") }
            #expect(try db.strings("SELECT state FROM runs") == ["finished"])

            // The honest agent's answer is the best the store holds; nobody forged a better one.
            #expect(try db.strings("SELECT DISTINCT agent FROM attempts WHERE score = 10") == ["a0"])
            #expect(try db.int("SELECT COUNT(*) FROM attempts WHERE score > 10") == 0)
            // a7's fork bomb ends both its steps: no attempt of its.
            #expect(try db.int("SELECT COUNT(*) FROM attempts") == 16)
            #expect(try db.int("SELECT COUNT(*) FROM attempts WHERE agent = 'a7'") == 0)
            // No secret reached anything the pool stores or exports: notes, feedback, diffs, events.
            let runID = try db.strings("SELECT id FROM runs")[0]
            let export = (try? String(contentsOf: scratch.url("exports/\(runID)/attempts.jsonl"), encoding: .utf8)) ?? ""
            let stored = try db.strings("SELECT body FROM notes UNION ALL SELECT feedback FROM attempts UNION ALL SELECT detail FROM events")
            for secret in [secrets.grader, secrets.root, secrets.hidden, secrets.worker] {
                #expect(!export.contains(secret) && !stored.contains { $0.contains(secret) }, "\(secret) leaked")
            }
            // git: no hook, external diff, fsmonitor, pager or textconv ran outside a sandbox
            // (each would have left its uid in MARK), and the exported diff is git's own.
            let marked = try FileManager.default.contentsOfDirectory(atPath: marks.path)
            #expect(marked.isEmpty, "written from outside a sandbox: \(marked)")
            let diffs = export.split(separator: "\n").filter { $0.contains("\"agent\":\"a1\"") }
            #expect(diffs.count == 2 && diffs.allSatisfy { $0.contains("+++ b/candidate.sh") && !$0.contains("FORGED DIFF") }, "\(diffs)")
            // Links, a hard link, a FIFO and a linked directory in the outbox: only the plain note came through.
            #expect(try notes("a2") == ["a2 plain note", "a2 plain note"])
            // Other agents' workspaces and homes: not in a3's sandbox, so not seen and not written.
            for note in try notes("a3") {
                #expect(note.hasPrefix("a3 sees [. .. a3 a3.home ] wrote []"), "\(note)")
            }
            let pwned = (FileManager.default.enumerator(atPath: scratch.directory.path)?.allObjects as? [String] ?? [])
                .filter { $0.hasSuffix("pwned.txt") || $0.hasSuffix("leak.txt") || $0.hasSuffix("late.txt") }
            #expect(pwned.isEmpty, "\(pwned)")
            // The candidate could not hand its hidden input on, nor reach the coordinator.
            let a4Notes = try notes("a4")
            let expected = ["w-0", "w-1"].map { worker in
                ["a4 found home [cat: \(scratch.url(worker).path)/discovery/\(runID)/agents/a4.home/leak.txt: No such file or directory] tmp [cat: /tmp/leak.txt: No such file or directory]"]
            }
            #expect(expected.contains(a4Notes), "\(a4Notes)")
            let a4 = try db.strings("SELECT feedback FROM attempts WHERE agent = 'a4' AND round = 1")
            #expect(a4.count == 1 && a4[0].contains("candidate: ") && !a4[0].contains("connected")
                    && (a4[0].contains("unreachable") || a4[0].contains("refused")), "\(a4)")
            // /proc shows the sandbox's own few processes, no environment holds the worker's
            // secret, and the store, the grader's source, the caches and the port are out of reach.
            for note in try notes("a5") {
                let procs = Int(note.firstMatch(of: /procs=([0-9]+)/)?.1 ?? "") ?? 999
                #expect(procs < 10, "\(note)")
                #expect(note.contains("envs=0 ") && note.contains("db=[head: cannot open") && note.contains("grader=[cat: ")
                        && note.contains("No such file") && !note.contains("refs/") && !note.contains("connected"), "\(note)")
                #expect(note.contains("unreachable") || note.contains("refused"), "\(note)")
            }
            // A detached process ended with its step's sandbox: it never wrote, inside or out.
            let a6 = try notes("a6")
            #expect(a6.count == 1 && a6[0].hasPrefix("a6 late [cat: ") && a6[0].contains("No such file"), "\(a6)")
            // /tmp stops at its size; a fork bomb at the step's process limit, which ends the step.
            let a7 = try notes("a7")
            #expect(a7.count == 2 && a7.allSatisfy { Int($0.firstMatch(of: /tmp=([0-9]+)/)?.1 ?? "") ?? .max <= 256 << 20 }, "\(a7)")
            let a7Faults = try db.strings("SELECT detail FROM events WHERE kind = 'discovery_agent_fault' AND detail LIKE '%.step.a7:%'")
            #expect(a7Faults.count == 2 && a7Faults.allSatisfy { $0.contains("forks were refused at its 512-process limit") }, "\(a7Faults)")
            // The shared view is read-only.
            let a8 = try notes("a8")
            #expect(a8.count == 2 && a8.allSatisfy { $0.contains("Read-only file system") }, "\(a8)")
        }

        /// Agents that go past each of a step's limits, on a worker that holds them with a
        /// control group per step: memory, processes, CPU time, the disk of workspace and
        /// home together (five files, each under the per-file limit), and a tree nested too
        /// deep to be counted. Each step ends with its limit named, a home that went past
        /// the disk limit is emptied, and the honest agent's attempt is graded and stored.
        @Test(.enabled(if: access("/sys/fs/cgroup/memory", W_OK) == 0 || access("/sys/fs/cgroup/cgroup.subtree_control", W_OK) == 0,
                       "the worker needs writable cgroups (v1 memory, or v2) to hold a step"))
        func everyLimitAStepGoesPastEndsItNamedAndThePoolGoesOn() async throws {
            let scratch = try Scratch("limits")
            defer { scratch.close() }
            let run = TestRun(scratch: scratch)
            for directory in ["seed", "grader"] { try FileManager.default.createDirectory(at: scratch.url(directory), withIntermediateDirectories: true) }
            _ = try scratch.write("seed/answer.txt", "nothing\n")
            _ = try scratch.write("seed/TASK.md", "Write good into answer.txt.\n")
            _ = try scratch.write("grader/grade.sh", """
                score=1; grep -q good "$COEVO_CANDIDATE/answer.txt" && score=10
                echo "{\\"score\\": $score}"
                """)
            let agent = try scratch.write("agent.sh", """
                case $COEVO_AGENT in
                  a0) echo good > answer.txt ;;
                  a1) # route: memory past the limit
                      python3 -c "
                x = []
                while True:
                    x.append(b'x' * (16 << 20)); open('$HOME/held', 'w').write(str(len(x) * 16))" ;;
                  a2) # route: a full disk, in files each under the per-file limit
                      for i in 1 2 3; do head -c 25000000 /dev/urandom > "$HOME/fill$i"; head -c 25000000 /dev/urandom > "fill$i"; done ;;
                  a3) # route: a fork bomb
                      python3 -c "
                import os, time
                while True:
                    if os.fork() == 0: time.sleep(60); os._exit(0)" ;;
                  a4) # route: CPU without end
                      python3 -c "while True: pass" ;;
                  a5) # route: files hidden below more directories than a count goes
                      python3 -c "
                import os
                for i in range(300): os.mkdir('d'); os.chdir('d')
                open('big', 'wb').write(os.urandom(1 << 20))" ;;
                esac
                # Past a limit, a step is ended within seconds; otherwise it would submit after this.
                [ $COEVO_AGENT = a0 ] || sleep 20
                coevo eval -m "$COEVO_AGENT"
                """)
            let config = try scratch.write("discovery.yaml", """
                run: {name: limits, seed: 3}
                coordinator: {bind: \(run.endpoint), database: \(run.database), min_workers: 1}
                discovery:
                  task: {seed: \(scratch.url("seed").path), grader: \(scratch.url("grader").path), grade_command: [sh, grade.sh]}
                  agents: [{runtime: command, count: 6, command: [sh, \(agent)]}]
                  rounds: 1
                  step_timeout_ms: 60000
                  limits: {memory_mb: 128, disk_mb: 64, processes: 48, cpu_seconds: 3}
                """)
            let coordinator = try run.coordinator(config: config)
            let workspace = scratch.url("w")
            _ = try Child("coevo-worker", ["--connect", run.endpoint, "--id", "w", "--slots", "6", "--workspace", workspace.path,
                                           "--allow-command", "sh"], in: scratch, name: "w")
            #expect(await coordinator.waitForExit(timeout: 120) == 0, "\(scratch.logs)")
            let db = try Database(run.database)
            #expect(try db.strings("SELECT state FROM runs") == ["finished"])
            #expect(try db.strings("SELECT agent || ' ' || score FROM attempts") == ["a0 10.0"])
            let faults = try db.strings("SELECT detail FROM events WHERE kind = 'discovery_agent_fault'").joined(separator: "\n")
            func fault(_ agent: String) -> String {
                faults.split(separator: "\n").first { $0.hasPrefix("r1.step.\(agent):") }.map(String.init) ?? "(no fault of \(agent))"
            }
            #expect(fault("a1").contains("at its 128 MiB memory limit (discovery.limits.memory_mb)"), "\(faults)")
            #expect(fault("a2").contains("took more than its 64 MiB of disk (discovery.limits.disk_mb); its home was emptied"), "\(faults)")
            #expect(fault("a3").contains("refused at its 48-process limit (discovery.limits.processes)"), "\(faults)")
            #expect(fault("a4").contains("used more than its 3 CPU seconds (discovery.limits.cpu_seconds)"), "\(faults)")
            #expect(fault("a5").contains("nested more than 256 directories deep"), "\(faults)")
            #expect(!faults.contains("r1.step.a0:"), "\(faults)")
            // What a1 held when it was stopped, and a2's home is gone.
            let runID = try db.strings("SELECT id FROM runs")[0]
            let agents = workspace.appendingPathComponent("discovery/\(runID)/agents")
            let held = Int((try? String(contentsOf: agents.appendingPathComponent("a1.home/held"), encoding: .utf8)) ?? "") ?? .max
            #expect(held <= 128, "a1 held \(held) MiB")
            #expect(!FileManager.default.fileExists(atPath: agents.appendingPathComponent("a2.home").path))
        }

        /// Anyone on the machine could reach `coevo run`'s port: without keys of its own in the
        /// config it still runs CURVE, so a plain client that says READY gets no answer and no
        /// job, while `coevo status` of the same user still gets in.
        @Test func aPlainClientOnTheMachineCannotJoinCoevoRun() async throws {
            let scratch = try Scratch("run-curve")
            defer { scratch.close() }
            let run = TestRun(scratch: scratch)
            let config = try run.config(kind: "sleep", jobs: 3000, sleepMs: 20, workers: 1, slots: 4)
            let coevo = try Child("coevo", ["run", config], in: scratch, name: "run")
            #expect(await eventually(timeout: 30) { Database.resultCount(run.database) > 20 }, "\(scratch.logs)")
            let intruder = try RawPeer(endpoint: run.endpoint, routingID: "intruder")
            intruder.send(.ready(ReadyMessage.with { $0.workerID = "intruder"; $0.session = "s1"; $0.slots = 64; $0.capabilities = ["sleep"] }))
            #expect(intruder.receive(timeoutMilliseconds: 3000) == nil)
            let status = try Child("coevo", ["status", "--connect", run.endpoint], in: scratch, name: "status")
            #expect(await status.waitForExit(timeout: 15) == 0, "\(status.log)")
            #expect(status.log.contains("local-0") && !status.log.contains("intruder"), "\(status.log)")
            #expect(await coevo.waitForExit(timeout: 90) == 0, "\(coevo.log)")
            #expect(try Database(run.database).strings("SELECT DISTINCT worker FROM results") == ["local-0"])
            let keyFile = FileManager.default.homeDirectoryForCurrentUser.appendingPathComponent(".coevo/local/\(run.port).key").path
            #expect(!FileManager.default.fileExists(atPath: keyFile), "the run's keys are removed when it ends")
        }
    }
}
