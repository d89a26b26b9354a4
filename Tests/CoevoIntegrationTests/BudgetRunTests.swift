import CoevoTestSupport
import Foundation
import Testing

extension ProcessTests {
    /// llm.chat jobs from worker processes to a local scripted endpoint: under a budget,
    /// and through an outage.
    @Suite struct BudgetRunTests {
        /// Bad input tried: an endpoint that answers 503 to its first 12 requests. The jobs
        /// that meet the outage are deferred, the run pauses, and every job still succeeds.
        @Test func anEndpointOutagePausesTheRunAndLosesNothing() async throws {
            let scratch = try Scratch("outage")
            defer { scratch.close() }
            let run = TestRun(scratch: scratch)
            let (server, port) = try TestSupport.startFaultServer()
            defer { kill(server.processIdentifier, SIGKILL); server.waitUntilExit() }
            let config = try scratch.write("outage.yaml", """
                run: {name: outage-it, seed: 1}
                coordinator: {bind: \(run.endpoint), database: \(run.database), defer_pause_ms: 300}
                workers: {count: 1, slots: 2}
                endpoints: [{name: flaky, url: "http://127.0.0.1:\(port)/outage", model: m, concurrency: 2,
                             max_attempts: 2, breaker_open_ms: 200}]
                workload: {kind: llm.chat, jobs: 6, endpoint: flaky, max_tokens: 4}
                """)
            let coevo = try Child("coevo", ["run", config], in: scratch, name: "run")
            #expect(await coevo.waitForExit(timeout: 90) == 0, "\(coevo.log)")
            #expect(coevo.log.contains("gets no leases"))
            let db = try Database(run.database)
            #expect(try db.int("SELECT COUNT(*) FROM results WHERE status = 'succeeded'") == 6)
            #expect(try db.int("SELECT COUNT(*) FROM results WHERE status != 'succeeded'") == 0)
            #expect(try db.int("SELECT COUNT(*) FROM events WHERE kind = 'job_deferred'") >= 1)
            #expect(try db.int("SELECT COUNT(*) FROM jobs WHERE state = 'failed'") == 0)
        }

        @Test func aSpentBudgetStopsDispatchCleanlyAndKeepsWhatRan() async throws {
            let scratch = try Scratch("budget")
            defer { scratch.close() }
            let run = TestRun(scratch: scratch)
            let (server, port) = try TestSupport.startFaultServer()
            defer { kill(server.processIdentifier, SIGKILL); server.waitUntilExit() }

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
