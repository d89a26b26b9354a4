import CoevoCore
import CoevoTestSupport
import Foundation
import Testing

/// Exactly-once under any crash: a proposer/solver run against a scripted chat endpoint
/// (a reply is a function of its request alone), with the coordinator SIGKILLed at 20
/// random instants and restarted on its database each time, against the same run left
/// alone. Fault tried: SIGKILL at any point of the run (mid-phase, mid-commit, between
/// rounds), with the workers kept running across the coordinator's lives.
extension ProcessTests {
@Suite struct CrashRecoveryTests {
    static func config(_ run: TestRun, scratch: Scratch, port: Int) throws -> String {
        try scratch.write("ps.yaml", """
            run: {name: crash-it, seed: 11}
            coordinator: {bind: \(run.endpoint), database: \(run.database), heartbeat_interval_ms: 300}
            endpoints: [{name: scripted, url: "http://127.0.0.1:\(port)/scripted", model: m, concurrency: 8}]
            proposer_solver: {rounds: 6, proposers: 3, solvers: 3, tasks_per_proposer: 2, attempts: 3, max_tokens: 48}
            """)
    }

    /// Every export file, then the evolution's events in order.
    static func outcome(_ database: String) throws -> [String] {
        let root = URL(fileURLWithPath: database).deletingLastPathComponent().appendingPathComponent("exports")
        let run = try #require(try FileManager.default.contentsOfDirectory(atPath: root.path).first)
        let directory = root.appendingPathComponent(run)
        let files = try FileManager.default.contentsOfDirectory(atPath: directory.path).sorted()
        let events = try Database(database).strings("""
            SELECT kind || ' ' || detail FROM events WHERE kind = 'ps_round' OR kind = 'protocol_summary'
            OR kind LIKE '%_codream' OR kind LIKE '%_reflect' OR kind LIKE '%_consolidate' OR kind LIKE '%_pivot'
            ORDER BY rowid
            """)
        return try files.map { "\($0)\n" + (try String(contentsOf: directory.appendingPathComponent($0), encoding: .utf8)) }
            + [events.joined(separator: "\n")]
    }

    @Test func twentyCoordinatorKillsChangeNothingInTheExports() async throws {
        let (server, port) = try TestSupport.startFaultServer()
        defer { kill(server.processIdentifier, SIGKILL); server.waitUntilExit() }

        let calm = try Scratch("calm")
        defer { calm.close() }
        let calmRun = TestRun(scratch: calm)
        let calmCoordinator = try calmRun.coordinator(config: try Self.config(calmRun, scratch: calm, port: port))
        _ = try calmRun.worker("w1", slots: 8)
        _ = try calmRun.worker("w2", slots: 8)
        #expect(await calmCoordinator.waitForExit(timeout: 180) == 0, "\(calm.logs)")
        let expected = try Self.outcome(calmRun.database)
        let total = Database.resultCount(calmRun.database)

        let scratch = try Scratch("crash")
        defer { scratch.close() }
        let run = TestRun(scratch: scratch)
        let config = try Self.config(run, scratch: scratch, port: port)
        _ = try run.worker("w1", slots: 8)
        _ = try run.worker("w2", slots: 8)
        // Kill points spread over the whole run by its progress (results durable), each
        // a random few milliseconds after that point is passed.
        var rng = SeededGenerator(seed: 2026)
        // The last quarter is left alone: results come in bursts, and a kill point near the
        // end could be overtaken by the run finishing.
        let points = (0..<20).map { _ in 1 + Int(rng.next() % UInt64(max(1, total * 3 / 4))) }.sorted()
        var kills = 0
        for (life, point) in points.enumerated() {
            let coordinator = try run.coordinator(config: config, name: "coordinator-\(life)")
            _ = await eventually(timeout: 60) { Database.resultCount(run.database) >= point || !coordinator.isRunning }
            try await Task.sleep(for: .milliseconds(Int(rng.next() % 20)))
            guard coordinator.isRunning else { break }
            coordinator.signal(SIGKILL)
            _ = await coordinator.waitForExit(timeout: 10)
            kills += 1
        }
        // (On a database whose run is finished a coordinator would start a new run.)
        try #require(kills == 20, "the run ended before every kill point")
        let last = try run.coordinator(config: config, name: "coordinator-last")
        #expect(await last.waitForExit(timeout: 180) == 0, "\(scratch.logs)")
        print("crash recovery: \(kills) SIGKILLs over a run of \(total) results")

        let db = try Database(run.database)
        #expect(try db.int("SELECT COUNT(*) FROM jobs") == (try db.int("SELECT COUNT(*) FROM results")), "every job has a result")
        #expect(try db.int("SELECT COUNT(*) FROM (SELECT job_id FROM results GROUP BY job_id HAVING COUNT(*) > 1)") == 0,
                "no job has two")
        let got = try Self.outcome(run.database)
        #expect(got.count == expected.count)
        for (a, b) in zip(got, expected) {
            #expect(a == b, "differs from the uninterrupted run:\n\(a.prefix(600))\n----\n\(b.prefix(600))")
        }
    }
}
}
