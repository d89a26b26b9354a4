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

    static func driver(_ directory: URL, stored: [CoevoStore.StoredJob] = [], logged: [EventKind: Int] = [:]) throws -> ProtocolDriver {
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

    static func result(_ job: Job, _ outcome: JobOutcome) -> AppliedResult { AppliedResult(job: job, outcome: outcome) }

    /// Carries out a step as the coordinator's shell does: writes the exports it asks
    /// for and reports back, which is when a finished run logs its summary.
    static func settle(_ step: DriverStep, _ driver: inout ProtocolDriver) -> (jobs: [Job], events: [EventRecord]) {
        var events = step.events
        if let exports = step.exports {
            events += driver.exportsWritten(failure: ExportFiles.write(exports.files, to: exports.directory), at: 0).events
        }
        return (step.jobs, events)
    }

    /// Answers `job` as the scripted model does.
    static func answer(_ job: Job, _ driver: inout ProtocolDriver, ids: inout JobID) -> (jobs: [Job], events: [EventRecord]) {
        settle(driver.completed(result(job, outcome(job)), ids: &ids, at: 0), &driver)
    }

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
        let proposals = driver.start(ids: &ids, at: 0).jobs
        #expect(proposals.count == 4)
        for job in proposals {
            let call = try JSONDecoder().decode(LLMJob.self, from: job.payload)
            #expect(job.kind == .llm && call.endpoint.name == "big" && call.call!.hasPrefix("r1.propose.") && call.seed != nil)
        }
        var solves: [Job] = []
        for job in proposals { solves += Self.answer(job, &driver, ids: &ids).jobs }
        let endpoints = try solves.map { try JSONDecoder().decode(LLMJob.self, from: $0.payload).endpoint.name }
        #expect(Set(endpoints) == ["small", "big"], "solver i uses pool endpoint i mod 2")
    }

    /// A run cut after k results and resumed from what the store would hold reaches the
    /// same events and exports as the run that was never cut.
    /// `unreadable`: the answered jobs' stored payloads are emptied, so the resume must
    /// match them to the engine's calls by the key each job carries, not by its payload.
    @Test(arguments: [(1, false), (5, false), (17, false), (30, false), (17, true)])
    func aResumedRunReplaysToTheSameEnd(cutAfter: Int, unreadable: Bool) throws {
        // The uncut run.
        let whole = Self.scratch()
        defer { try? FileManager.default.removeItem(at: whole) }
        var reference = try Self.driver(whole)
        var ids: JobID = 1
        var (queue, referenceEvents) = Self.settle(reference.start(ids: &ids, at: 0), &reference)
        while !queue.isEmpty {
            let job = queue.removeFirst()
            let step = Self.answer(job, &reference, ids: &ids)
            queue += step.jobs
            referenceEvents += step.events
        }
        #expect(reference.isFinished)

        // The cut run: answered in a different order (last issued first), stopped after
        // `cutAfter` results; what was issued is stored, answered or not.
        var first = try Self.driver(Self.scratch())
        var firstIDs: JobID = 1
        let firstStart = Self.settle(first.start(ids: &firstIDs, at: 0), &first)
        var issued = firstStart.jobs
        var stored: [JobID: CoevoStore.StoredJob] = [:]
        for job in issued { stored[job.id] = .init(job: job, attempts: 1, outcome: nil, failed: false) }
        var logged: [EventKind: Int] = [:]
        for event in firstStart.events { logged[event.kind, default: 0] += 1 }
        var answered = 0
        while answered < cutAfter, let job = issued.popLast() {
            let outcome = Self.outcome(job)
            stored[job.id]!.outcome = outcome
            if unreadable {
                #expect(job.key != nil)
                stored[job.id]!.job = Job(id: job.id, run: job.run, kind: job.kind, payload: Data(), timeoutMilliseconds: job.timeoutMilliseconds,
                                          key: job.key)
            }
            answered += 1
            let step = Self.answer(job, &first, ids: &firstIDs)
            for n in step.jobs { stored[n.id] = .init(job: n, attempts: 0, outcome: nil, failed: false) }
            issued = step.jobs + issued
            for event in step.events { logged[event.kind, default: 0] += 1 }
        }

        // The resumed run.
        let resumedDirectory = Self.scratch()
        defer { try? FileManager.default.removeItem(at: resumedDirectory) }
        var resumed = try Self.driver(resumedDirectory, stored: stored.values.sorted { $0.job.id < $1.job.id }, logged: logged)
        var resumedIDs = firstIDs
        let start = resumed.start(ids: &resumedIDs, at: 0)
        let again = start.requeued
        #expect(Set(again.map(\.job.id)) == Set(issued.map(\.id)), "unanswered jobs are queued again under their ids")
        var (resumedQueue, events) = Self.settle(start, &resumed)
        resumedQueue = again.map(\.job) + resumedQueue
        while !resumedQueue.isEmpty {
            let job = resumedQueue.removeFirst()
            let step = Self.answer(job, &resumed, ids: &resumedIDs)
            resumedQueue += step.jobs
            events += step.events
        }
        #expect(resumed.isFinished)
        #expect(resumedIDs == ids, "no call answered in the first life is asked again")
        // Together the two lives logged each event exactly as often as the uncut run.
        var total = logged
        for event in events { total[event.kind, default: 0] += 1 }
        var expected: [EventKind: Int] = [:]
        for event in referenceEvents { expected[event.kind, default: 0] += 1 }
        #expect(total == expected)
        #expect(events.filter { $0.kind == .proposerSolverRound }.map(\.detail)
                == Array(referenceEvents.filter { $0.kind == .proposerSolverRound }.map(\.detail).suffix(events.filter { $0.kind == .proposerSolverRound }.count)))
        #expect(try Self.files(resumedDirectory) == Self.files(whole))
        #expect(try Self.files(whole).keys.sorted() == ["codream.jsonl", "proposals.jsonl", "tasks.jsonl", "trajectories.jsonl"])
    }

    /// A run stopped early (a budget, Ctrl-C) still has the data of the rounds it finished.
    @Test func exportsAreWrittenAfterEveryRound() throws {
        let directory = Self.scratch()
        defer { try? FileManager.default.removeItem(at: directory) }
        var driver = try Self.driver(directory)
        var ids: JobID = 1
        var queue = driver.start(ids: &ids, at: 0).jobs
        var roundClosed = false
        while !queue.isEmpty, !roundClosed {
            let job = queue.removeFirst()
            let step = Self.answer(job, &driver, ids: &ids)
            queue += step.jobs
            roundClosed = step.events.contains { $0.kind == .proposerSolverRound }
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
        var (queue, events) = Self.settle(driver.start(ids: &ids, at: 0), &driver)
        var n = 0
        while !queue.isEmpty {
            let job = queue.removeFirst()
            n += 1
            let step = switch n % 3 {
            case 0: driver.failed(job.id, reason: "lease lost on all 3 attempts", ids: &ids, at: 0)
            case 1: driver.completed(Self.result(job, JobOutcome(status: .succeeded, output: Data("garbage".utf8))), ids: &ids, at: 0)
            default: driver.completed(Self.result(job, JobOutcome(status: .failed, error: "HTTP 500")), ids: &ids, at: 0)
            }
            let settled = Self.settle(step, &driver)
            queue += settled.jobs
            events += settled.events
        }
        #expect(driver.isFinished)
        #expect(events.filter { $0.kind == .callFailed }.count == n)
        #expect(events.filter { $0.kind == .proposerSolverRound }.count == 3)
        #expect(events.contains { $0.kind == .protocolSummary && RunSummary(json: $0.detail)?.lines.contains { $0.label == "proposals" && $0.value.contains("12 format failures") } == true })
        #expect(events.contains { $0.kind == .exportsWritten })
    }
}
