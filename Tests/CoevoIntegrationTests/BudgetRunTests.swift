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
            // The outage is under way when the run starts: the start's endpoint check (which
            // would refuse the run) is skipped, as a user starting into a known outage does.
            let coevo = try Child("coevo", ["run", config, "--skip-endpoint-check"], in: scratch, name: "run")
            #expect(await coevo.waitForExit(timeout: 90) == 0, "\(coevo.log)")
            #expect(coevo.log.contains("gets no leases"))
            let db = try Database(run.database)
            #expect(try db.int("SELECT COUNT(*) FROM results WHERE status = 'succeeded'") == 6)
            #expect(try db.int("SELECT COUNT(*) FROM results WHERE status != 'succeeded'") == 0)
            #expect(try db.int("SELECT COUNT(*) FROM events WHERE kind = 'job_deferred'") >= 1)
            #expect(try db.int("SELECT COUNT(*) FROM jobs WHERE state = 'failed'") == 0)
        }

        /// Bad input tried: a worker whose policy does not let it send the endpoint's key
        /// joins first, with more slots than the worker that may. It answers UNSUPPORTED
        /// and is offered no more such jobs: it does not drain the queue into failures.
        @Test func aWorkerWithoutTheKeyDoesNotDrainTheQueue() async throws {
            let scratch = try Scratch("blackhole")
            defer { scratch.close() }
            let run = TestRun(scratch: scratch)
            let (server, port) = try TestSupport.startFaultServer()
            defer { kill(server.processIdentifier, SIGKILL); server.waitUntilExit() }
            setenv("COEVO_IT_KEY", "sk-it-test", 1)
            let config = try scratch.write("keyed.yaml", """
                run: {name: keyed-it, seed: 1}
                coordinator: {bind: \(run.endpoint), database: \(run.database)}
                endpoints: [{name: keyed, url: "http://127.0.0.1:\(port)/ok", model: m, api_key_env: COEVO_IT_KEY, concurrency: 4}]
                workload: {kind: llm.chat, jobs: 40, endpoint: keyed, max_tokens: 4}
                """)
            let coordinator = try run.coordinator(config: config)
            _ = try run.worker("keyless", slots: 16)
            #expect(await eventually(timeout: 20) { coordinator.log.contains("worker keyless joined") }, "\(coordinator.log)")
            #expect(await eventually(timeout: 20) { coordinator.log.contains("cannot run job") }, "\(coordinator.log)")
            _ = try Child("coevo-worker", ["--connect", run.endpoint, "--id", "keyed", "--slots", "4",
                                           "--allow-key", "COEVO_IT_KEY=http://127.0.0.1:\(port)"], in: scratch, name: "keyed")
            #expect(await coordinator.waitForExit(timeout: 60) == 0, "\(scratch.logs)")
            let db = try Database(run.database)
            #expect(try db.int("SELECT COUNT(*) FROM results WHERE status = 'succeeded'") == 40)
            #expect(try db.strings("SELECT DISTINCT worker FROM results") == ["keyed"])
            #expect(try db.int("SELECT COUNT(*) FROM jobs WHERE state = 'failed'") == 0)
            let refused = try db.int("SELECT COUNT(*) FROM events WHERE kind = 'job_unsupported' AND worker = 'keyless'")
            #expect((1...16).contains(refused), "\(refused): one lease batch at most, then the kind is not offered again")
        }

        /// Two runs on one coordinator; the first's endpoint is down for good. Its jobs
        /// are deferred for a minute, and the second run goes on and finishes meanwhile.
        @Test func anEndpointThatDefersHoldsBackOnlyItsOwnRun() async throws {
            let scratch = try Scratch("deferone")
            defer { scratch.close() }
            let run = TestRun(scratch: scratch)
            let (server, port) = try TestSupport.startFaultServer()
            defer { kill(server.processIdentifier, SIGKILL); server.waitUntilExit() }
            let stalled = try scratch.write("stalled.yaml", """
                run: {name: stalled, seed: 1}
                coordinator: {bind: \(run.endpoint), database: \(run.database)}
                endpoints: [{name: gone, url: "http://127.0.0.1:\(port)/down", model: m, max_attempts: 1}]
                workload: {kind: llm.chat, jobs: 5, endpoint: gone, max_tokens: 4}
                """)
            let first = try run.coordinator(config: stalled, name: "coordinator-1")
            #expect(await eventually(timeout: 20) { first.log.contains("listening on") }, "\(first.log)")
            first.signal(SIGTERM)
            #expect(await first.waitForExit(timeout: 20) == 0, "\(first.log)")

            let flowing = try run.config(kind: "sleep", jobs: 100, sleepMs: 10, extra: "  defer_pause_ms: 60000", workers: 0)
            let second = try run.coordinator(config: flowing, name: "coordinator-2")
            _ = try run.worker("w", slots: 4)
            let db = try Database(run.database)
            func results(_ name: String) throws -> Int {
                try db.int("SELECT COUNT(*) FROM results r JOIN jobs j ON j.id = r.job_id JOIN runs u ON u.key = j.run_key WHERE u.name = '\(name)'")
            }
            #expect(await eventually(timeout: 30) { (try? results("it")) == 100 }, "the other run finished while this one waits\n\(scratch.logs)")
            #expect(second.log.contains("starts beside them"), "\(second.log)")
            #expect(try db.int("SELECT COUNT(*) FROM events WHERE kind = 'job_deferred'") >= 1)
            #expect(try results("stalled") == 0 && (try db.int("SELECT COUNT(*) FROM jobs WHERE state = 'failed'")) == 0,
                    "the stalled run's jobs wait, none lost")
            second.signal(SIGTERM)
            #expect(await second.waitForExit(timeout: 30) == 0, "\(second.log)")
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
