import CoevoTestSupport
import Foundation
import Testing

extension ProcessTests {
    /// What the agents said, read in headless Chromium off a live dashboard: a proposer/
    /// solver run on the fault server's scripted endpoint (a reply is a function of its
    /// request), every model call's prompt and reply shown as the database holds them, and
    /// the page's filters admitting one agent's, one round's calls only. Bad input tried: a
    /// round that is no number (400), a run that is not there (404).
    @Suite struct AgentWordsTests {
        @Test func theDashboardShowsEachAgentsPromptsAndRepliesFilteredByAgentAndRound() async throws {
            let scratch = try Scratch("words")
            defer { scratch.close() }
            let (server, port) = try TestSupport.startFaultServer()
            defer { kill(server.processIdentifier, SIGKILL); server.waitUntilExit() }
            let run = TestRun(scratch: scratch)
            let http = freePort()
            let config = try scratch.write("ps.yaml", """
                run: {name: words, seed: 4}
                coordinator: {bind: \(run.endpoint), database: \(run.database)}
                endpoints: [{name: scripted, url: "http://127.0.0.1:\(port)/scripted", model: m}]
                proposer_solver: {rounds: 2, proposers: 2, solvers: 2, tasks_per_proposer: 1, attempts: 2, max_tokens: 48}
                """)
            _ = try Child("coevo-coordinator", ["--config", config, "--dashboard", "127.0.0.1:\(http)"], in: scratch, name: "coordinator")
            _ = try run.worker("w-1", slots: 8)
            let database = run.database
            #expect(await eventually(timeout: 60) { (try? Database(database).strings("SELECT state FROM runs")) == ["finished"] },
                    "\(scratch.logs)")
            let db = try Database(database)
            let id = try #require(try db.strings("SELECT id FROM runs").first)
            // The database's own record of agent a1's round-2 calls: prompt and reply.
            let rows = try db.strings("""
                SELECT json_extract(CAST(j.payload AS TEXT), '$.prompt') || char(31) || json_extract(CAST(r.output AS TEXT), '$.text')
                FROM jobs j JOIN results r ON r.job_id = j.id
                WHERE json_extract(CAST(j.payload AS TEXT), '$.agent') = 'a1' AND json_extract(CAST(j.payload AS TEXT), '$.round') = 2
                ORDER BY j.id
                """)
            try #require(!rows.isEmpty, "a1 made calls in round 2")
            let all = try db.int("SELECT COUNT(*) FROM jobs WHERE kind = 'llm.chat'")

            let base = "http://127.0.0.1:\(http)"
            let front = try DashboardTests.chromium(["--timeout=4000", "--dump-dom", base + "/"])
            #expect(front.contains("href=\"runs/\(id)/words\""), "the run links its agents' words")
            // An agent's heatmap row and lineage node link its own words, in its pool.
            let solverLink = "href=\"runs/\(id)/words?agent=a1&amp;role=solver\""
            #expect(front.components(separatedBy: solverLink).count - 1 == 2, "heatmap row and lineage node of solver a1")
            let solver = try DashboardTests.chromium(["--timeout=4000", "--dump-dom", "\(base)/runs/\(id)/words?agent=a1&role=solver"])
            let solverCalls = solver.components(separatedBy: "<article class=\"call\"").dropFirst()
            #expect(!solverCalls.isEmpty && solverCalls.allSatisfy { $0.contains("data-agent=\"a1\" data-role=\"solver\"") })
            #expect(solverCalls.count == (try db.int("""
                SELECT COUNT(*) FROM jobs WHERE json_extract(CAST(payload AS TEXT), '$.agent') = 'a1'
                AND json_extract(CAST(payload AS TEXT), '$.role') = 'solver'
                """)))
            let page = try DashboardTests.chromium(["--timeout=4000", "--dump-dom", "\(base)/runs/\(id)/words?agent=a1&round=2"])
            let calls = page.components(separatedBy: "<article class=\"call\"").dropFirst()
            #expect(calls.count == rows.count, "\(calls.count) calls shown, \(rows.count) stored")
            #expect(calls.allSatisfy { $0.contains("data-agent=\"a1\"") && $0.contains("data-round=\"2\"") })
            for (shown, stored) in zip(calls, rows) {
                let parts = stored.split(separator: "\u{1F}", omittingEmptySubsequences: false).map(String.init)
                #expect(shown.contains("<pre class=\"prompt\">\(Self.escaped(parts[0]))</pre>"), "prompt: \(parts[0])")
                #expect(shown.contains("<pre class=\"reply\">\(Self.escaped(parts[1]))</pre>"), "reply: \(parts[1])")
            }
            let unfiltered = try DashboardTests.curl("\(base)/api/runs/\(id)/words?top=10000").body
            let object = try #require(try JSONSerialization.jsonObject(with: Data(unfiltered.utf8)) as? [String: Any])
            #expect(object["matching"] as? Int == all && (object["roles"] as? [String]) == ["proposer", "solver"], "\(object.keys)")
            #expect(try DashboardTests.curl("\(base)/runs/\(id)/words?round=two").code == 400)
            #expect(try DashboardTests.curl("\(base)/runs/nope/words").code == 404)
        }

        /// As Chromium writes text into the DOM it dumps.
        static func escaped(_ text: String) -> String {
            text.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;")
                .replacingOccurrences(of: ">", with: "&gt;")
        }

        /// A discovery pool's steps on the same page: each step's prompt, how it ended, its
        /// commit's message and diff, and the grader's words and score, as the database holds
        /// them (evolve agents on the shipped circle-packing task: no model needed).
        @Test func aDiscoveryStepShowsItsDiffAndTheGradersWords() async throws {
            let scratch = try Scratch("words-discovery")
            defer { scratch.close() }
            let run = TestRun(scratch: scratch)
            let http = freePort()
            let config = try scratch.write("discovery.yaml", """
                run: {name: words-discovery, seed: 5}
                coordinator: {bind: \(run.endpoint), database: \(run.database)}
                discovery:
                  task: {\(DiscoveryRunTests.packingTask)}
                  agents: [{runtime: evolve, count: 2, files: [pack.py], scale: 0.01}]
                  rounds: 2
                """)
            _ = try Child("coevo-coordinator", ["--config", config, "--dashboard", "127.0.0.1:\(http)"], in: scratch, name: "coordinator")
            try DiscoveryRunTests.workers(run, scratch)
            let database = run.database
            #expect(await eventually(timeout: 90) { (try? Database(database).strings("SELECT state FROM runs")) == ["finished"] },
                    "\(scratch.logs)")
            let db = try Database(database)
            let id = try #require(try db.strings("SELECT id FROM runs").first)
            let feedback = try #require(try db.strings("SELECT feedback FROM attempts WHERE key = 'r2.step.a1'").first)
            let score = try #require(try db.strings("SELECT printf('%.6g', score) FROM attempts WHERE key = 'r2.step.a1'").first)
            #expect(!feedback.isEmpty, "the grader said something")
            // The attempts leaderboard links each attempt's step: its agent, in its round.
            let front = try DashboardTests.chromium(["--timeout=4000", "--dump-dom", "http://127.0.0.1:\(http)/"])
            #expect(front.contains("href=\"runs/\(id)/words?agent=a1&amp;round=2\""), "\(front.suffix(3000))")
            let page = try DashboardTests.chromium(["--timeout=4000", "--dump-dom",
                                                    "http://127.0.0.1:\(http)/runs/\(id)/words?agent=a1&round=2"])
            let steps = page.components(separatedBy: "<article class=\"call\"").dropFirst()
            #expect(steps.count == 1 && steps.first?.contains("data-role=\"evolve\" data-round=\"2\" data-phase=\"step\"") == true,
                    "\(page.suffix(3000))")
            let step = String(steps.first ?? "")
            #expect(step.contains("<pre class=\"diff\">") && step.contains("+++ b/pack.py"), "the commit's diff: \(step.prefix(2000))")
            #expect(step.contains("grader (\(score))") && step.contains(AgentWordsTests.escaped(feedback)), "the grader's words: \(step.prefix(3000))")
        }
    }
}
