import Foundation
import Testing

extension ProcessTests {
    /// llm.chat jobs from worker processes to a local scripted endpoint, under a budget.
    @Suite struct BudgetRunTests {
        @Test func aSpentBudgetStopsDispatchCleanlyAndKeepsWhatRan() async throws {
            let scratch = try Scratch("budget")
            defer { scratch.close() }
            let run = TestRun(scratch: scratch)
            let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            let port = freePort()
            let server = Process()
            server.executableURL = URL(fileURLWithPath: "/usr/bin/env")
            server.arguments = ["python3", root.appendingPathComponent("Tests/CoevoBackendsTests/Fixtures/fault_server.py").path, "\(port)"]
            let ready = Pipe()
            server.standardOutput = ready
            try server.run()
            defer { kill(server.processIdentifier, SIGKILL); server.waitUntilExit() }
            _ = ready.fileHandleForReading.availableData

            let config = try scratch.write("budget.yaml", """
                run: {name: budget-it, seed: 1}
                coordinator: {bind: \(run.endpoint), database: \(run.database)}
                workers: {count: 1, slots: 2}
                endpoints: [{name: scripted, url: "http://127.0.0.1:\(port)/okslow", model: m, concurrency: 2,
                             price_input_per_million: 1000, price_output_per_million: 1000}]
                budget: {max_calls: 5}
                workload: {kind: llm.chat, jobs: 40, endpoint: scripted, max_tokens: 4}
                """)
            let coevo = try Child("coevo", ["run", config], in: scratch, name: "run")
            #expect(await coevo.waitForExit(timeout: 60) == 0, "\(coevo.log)")
            #expect(coevo.log.contains("call budget reached"))
            #expect(coevo.log.contains("interrupted"))
            let db = try Database(run.database)
            let results = try db.int("SELECT COUNT(*) FROM results WHERE status = 'succeeded'")
            // Five calls spend the budget; at most the two already running finish after it.
            #expect((5...7).contains(results), "\(results) results")
            #expect(try db.int("SELECT COUNT(*) FROM events WHERE kind = 'budget_exhausted'") == 1)
            // 13 tokens a call at $1000 per million tokens each way.
            let cost = try db.strings("SELECT CAST(output AS TEXT) FROM results").compactMap {
                (try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any])?["costUSD"] as? Double
            }
            #expect(cost.count == results && cost.allSatisfy { abs($0 - 0.013) < 1e-9 })

            // Again on the same database: the spent budget is remembered, nothing more runs.
            let again = try Child("coevo", ["run", config], in: scratch, name: "run-2")
            #expect(await again.waitForExit(timeout: 60) == 0, "\(again.log)")
            #expect(try db.int("SELECT COUNT(*) FROM results") == results)
        }
    }
}
