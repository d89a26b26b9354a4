@testable import CoevoCoordinator
import CoevoCore
@testable import CoevoStore
import Foundation
import Testing

/// The driver between a protocol engine and the runtime, with a scripted model standing
/// in for the endpoint (pure logic: what is under test is the bookkeeping). Bad input
/// tried: an output that is not an LLMJobOutput, a failed job, a job failed for good.
@Suite struct ProtocolDriverTests {
    static func config() throws -> ExperimentConfig {
        try ConfigLoader.parse("""
            run: {seed: 11}
            endpoints:
              - {name: small, url: "http://127.0.0.1:1", model: s}
              - {name: big, url: "http://127.0.0.1:2", model: b}
            pools: {solver: [small, big], proposer: [big]}
            proposer_solver: {rounds: 3, proposers: 2, solvers: 3, tasks_per_proposer: 2, attempts: 3}
            """)
    }

    static func driver(_ directory: URL, stored: [CoevoStore.StoredJob] = [], logged: [String: Int] = [:]) throws -> ProtocolDriver {
        let config = try config()
        var pools: [String: [LLMJob.Endpoint]] = [:]
        for role in config.protocolRoles { pools[role] = config.endpoints(forRole: role) }
        return ProtocolDriver(engine: config.makeProtocolEngine()!, run: "r", endpointsByRole: pools, timeoutMilliseconds: 1000,
                              exportDirectory: directory, storedJobs: stored, loggedEvents: logged)
    }

    /// A deterministic stand-in for the model: the reply depends on the call only.
    static func outcome(_ job: Job) -> JobOutcome {
        let call = try! JSONDecoder().decode(LLMJob.self, from: job.payload)
        let n = call.seed! % 9
        let text = call.prompt.contains("Examples of") ? (n == 0 ? "no idea" : "TASK: \(n) + \(call.seed! % 5)") : "ANSWER: \(call.seed! % 7)"
        let output = LLMJobOutput(text: text, promptTokens: 10, completionTokens: 5, costUSD: 0)
        return JobOutcome(status: .succeeded, output: try! JSONEncoder().encode(output))
    }

    static func lease(_ job: Job) -> Lease { Lease(job: job, worker: "w", attempt: 1, deadline: .zero) }

    static func scratch() -> URL {
        FileManager.default.temporaryDirectory.appendingPathComponent("coevo-driver-\(UUID().uuidString)")
    }

    static func files(_ directory: URL) throws -> [String: String] {
        var out: [String: String] = [:]
        for name in try FileManager.default.contentsOfDirectory(atPath: directory.path) {
            out[name] = try String(contentsOf: directory.appendingPathComponent(name), encoding: .utf8)
        }
        return out
    }

    @Test func jobsGoToTheirRolesEndpointsAndCarryTheirCall() throws {
        var driver = try Self.driver(Self.scratch())
        var ids: JobID = 1
        let proposals = driver.start(ids: &ids).new
        #expect(proposals.count == 4)
        for job in proposals {
            let call = try JSONDecoder().decode(LLMJob.self, from: job.payload)
            #expect(job.kind == "llm.chat" && call.endpoint.name == "big" && call.call!.hasPrefix("r1.propose.") && call.seed != nil)
        }
        var solves: [Job] = []
        for job in proposals { solves += driver.completed(Self.lease(job), outcome: Self.outcome(job), ids: &ids) }
        let endpoints = try solves.map { try JSONDecoder().decode(LLMJob.self, from: $0.payload).endpoint.name }
        #expect(Set(endpoints) == ["small", "big"], "solver i uses pool endpoint i mod 2")
    }

    /// A run cut after k results and resumed from what the store would hold reaches the
    /// same events and exports as the run that was never cut.
    @Test(arguments: [1, 5, 17, 30])
    func aResumedRunReplaysToTheSameEnd(cutAfter: Int) throws {
        // The uncut run.
        let whole = Self.scratch()
        defer { try? FileManager.default.removeItem(at: whole) }
        var reference = try Self.driver(whole)
        var ids: JobID = 1
        var queue = reference.start(ids: &ids).new
        var referenceEvents: [EventRecord] = []
        while !queue.isEmpty {
            let job = queue.removeFirst()
            queue += reference.completed(Self.lease(job), outcome: Self.outcome(job), ids: &ids)
            referenceEvents += reference.takeEvents()
        }
        #expect(reference.isFinished)

        // The cut run: answered in a different order (last issued first), stopped after
        // `cutAfter` results; what was issued is stored, answered or not.
        var first = try Self.driver(Self.scratch())
        var firstIDs: JobID = 1
        var issued = first.start(ids: &firstIDs).new
        var stored: [JobID: CoevoStore.StoredJob] = [:]
        for job in issued { stored[job.id] = .init(job: job, attempts: 1, outcome: nil, failed: false) }
        var logged: [String: Int] = [:]
        var answered = 0
        while answered < cutAfter, let job = issued.popLast() {
            let outcome = Self.outcome(job)
            stored[job.id]!.outcome = outcome
            answered += 1
            let next = first.completed(Self.lease(job), outcome: outcome, ids: &firstIDs)
            for n in next { stored[n.id] = .init(job: n, attempts: 0, outcome: nil, failed: false) }
            issued = next + issued
            for event in first.takeEvents() { logged[event.kind, default: 0] += 1 }
        }

        // The resumed run.
        let resumedDirectory = Self.scratch()
        defer { try? FileManager.default.removeItem(at: resumedDirectory) }
        var resumed = try Self.driver(resumedDirectory, stored: stored.values.sorted { $0.job.id < $1.job.id }, logged: logged)
        var resumedIDs = firstIDs
        let (new, again) = resumed.start(ids: &resumedIDs)
        #expect(Set(again.map(\.job.id)) == Set(issued.map(\.id)), "unanswered jobs are queued again under their ids")
        var resumedQueue = again.map(\.job) + new
        var events = resumed.takeEvents()
        while !resumedQueue.isEmpty {
            let job = resumedQueue.removeFirst()
            resumedQueue += resumed.completed(Self.lease(job), outcome: Self.outcome(job), ids: &resumedIDs)
            events += resumed.takeEvents()
        }
        #expect(resumed.isFinished)
        // Together the two lives logged each event exactly as often as the uncut run.
        var total = logged
        for event in events { total[event.kind, default: 0] += 1 }
        var expected: [String: Int] = [:]
        for event in referenceEvents { expected[event.kind, default: 0] += 1 }
        #expect(total == expected)
        #expect(events.filter { $0.kind == "ps_round" }.map(\.detail)
                == Array(referenceEvents.filter { $0.kind == "ps_round" }.map(\.detail).suffix(events.filter { $0.kind == "ps_round" }.count)))
        #expect(try Self.files(resumedDirectory) == Self.files(whole))
        #expect(try Self.files(whole).keys.sorted() == ["proposals.jsonl", "tasks.jsonl", "trajectories.jsonl"])
    }

    /// A run stopped early (a budget, Ctrl-C) still has the data of the rounds it finished.
    @Test func exportsAreWrittenAfterEveryRound() throws {
        let directory = Self.scratch()
        defer { try? FileManager.default.removeItem(at: directory) }
        var driver = try Self.driver(directory)
        var ids: JobID = 1
        var queue = driver.start(ids: &ids).new
        while !queue.isEmpty, !driver.takeEvents().contains(where: { $0.kind == "ps_round" }) {
            let job = queue.removeFirst()
            queue += driver.completed(Self.lease(job), outcome: Self.outcome(job), ids: &ids)
        }
        #expect(!driver.isFinished)
        let proposals = try String(contentsOf: directory.appendingPathComponent("proposals.jsonl"), encoding: .utf8)
        #expect(proposals.split(separator: "\n").count == 4, "round 1's 2 proposers x 2 tasks")
        #expect(proposals.contains("\"round\":1,") && !proposals.contains("\"round\":2,"))
    }

    @Test func unreadableAndFailedCallsAreLoggedAndTheRunStillFinishes() throws {
        let directory = Self.scratch()
        defer { try? FileManager.default.removeItem(at: directory) }
        var driver = try Self.driver(directory)
        var ids: JobID = 1
        var queue = driver.start(ids: &ids).new
        var n = 0
        while !queue.isEmpty {
            let job = queue.removeFirst()
            n += 1
            switch n % 3 {
            case 0: queue += driver.failed(job.id, reason: "lease lost on all 3 attempts", ids: &ids)
            case 1: queue += driver.completed(Self.lease(job), outcome: JobOutcome(status: .succeeded, output: Data("garbage".utf8)), ids: &ids)
            default: queue += driver.completed(Self.lease(job), outcome: JobOutcome(status: .failed, error: "HTTP 500"), ids: &ids)
            }
        }
        #expect(driver.isFinished)
        let events = driver.takeEvents()
        #expect(events.filter { $0.kind == "call_failed" }.count == n)
        #expect(events.filter { $0.kind == "ps_round" }.count == 3)
        #expect(events.contains { $0.kind == "protocol_summary" && $0.detail.contains("12 format failures") })
        #expect(events.contains { $0.kind == "exports_written" })
    }
}
