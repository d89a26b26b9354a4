import CoevoCore
import CoevoWire
@testable import CoevoWorker
import Foundation
import Testing

/// The worker's decisions driven in-process with a fake clock. Bad input tried: a lease
/// of a kind the worker has no executor for, a cancelled job's late finish, an error from
/// the coordinator that says it forgot us, a refusal of our id, a lease for a job that is
/// already running (a restarted coordinator leasing it again).
@Suite struct WorkerStateMachineTests {
    static func t(_ ms: Int64) -> MonotonicTime { MonotonicTime(milliseconds: ms) }

    static func machine(slots: Int = 4, drainMs: Int64 = 2000) -> WorkerStateMachine {
        var settings = WorkerSettings(coordinator: "tcp://127.0.0.1:1", id: "w1", slots: slots)
        settings.heartbeatIntervalMilliseconds = 1000
        settings.liveness = 3
        settings.drainTimeoutMilliseconds = drainMs
        let identity = WorkerStateMachine.Identity(session: "s1", kinds: ["noop", "sleep"], hostname: "h", pid: 7)
        return WorkerStateMachine(settings: settings, identity: identity, now: t(0))
    }

    static func sent(_ directives: [WorkerStateMachine.Directive]) -> [Envelope.OneOf_Body] {
        directives.compactMap { if case .send(let body) = $0 { return body } else { return nil } }
    }

    static func ran(_ directives: [WorkerStateMachine.Directive]) -> [JobID] {
        directives.flatMap { d -> [JobID] in if case .run(let leases) = d { return leases.map(\.jobID) } else { return [] } }
    }

    static func cancelled(_ directives: [WorkerStateMachine.Directive]) -> [JobID] {
        directives.flatMap { d -> [JobID] in if case .cancel(let jobs) = d { return jobs } else { return [] } }
    }

    static func asksFlush(_ directives: [WorkerStateMachine.Directive]) -> Bool {
        directives.contains { if case .flushSoon = $0 { return true } else { return false } }
    }

    static func exits(_ directives: [WorkerStateMachine.Directive]) -> Bool {
        directives.contains { if case .exit = $0 { return true } else { return false } }
    }

    static func lease(_ id: JobID, attempt: UInt32 = 1, kind: String = "sleep") -> LeaseMessage {
        var lease = LeaseMessage()
        lease.jobID = id
        lease.attempt = attempt
        lease.kind = kind
        lease.timeoutMs = 1000
        return lease
    }

    static func jobs(_ leases: [LeaseMessage]) -> WorkerStateMachine.Input {
        var batch = JobBatchMessage()
        batch.leases = leases
        return .received(.jobs(batch))
    }

    static func welcomed(_ m: inout WorkerStateMachine) {
        _ = m.handle(.start, now: t(0))
        var welcome = WelcomeMessage()
        welcome.coordinatorSession = "c1"
        _ = m.handle(.received(.welcome(welcome)), now: t(5))
    }

    static func results(_ directives: [WorkerStateMachine.Directive]) -> [(JobID, UInt32, Coevo_Wire_V1_ResultStatus)] {
        sent(directives).flatMap { body -> [(JobID, UInt32, Coevo_Wire_V1_ResultStatus)] in
            if case .results(let batch) = body { return batch.results.map { ($0.jobID, $0.attempt, $0.status) } }
            return []
        }
    }

    @Test func startSendsReadyWithWhatThisWorkerOffers() {
        var m = Self.machine(slots: 4)
        let out = m.handle(.start, now: Self.t(0))
        guard case .ready(let ready) = Self.sent(out).first else { Issue.record("no READY"); return }
        #expect(ready.workerID == "w1" && ready.session == "s1" && ready.slots == 4 && ready.capabilities == ["noop", "sleep"])
        #expect(ready.hostname == "h" && ready.pid == 7)
        #expect(!out.contains { if case .reopenSocket = $0 { return true } else { return false } }, "the first socket is already connected")
    }

    @Test func leasesRunAndTheirResultsGoBackInOneMessage() {
        var m = Self.machine()
        Self.welcomed(&m)
        var out = m.handle(Self.jobs([Self.lease(1), Self.lease(2), Self.lease(3, kind: "gpu.train")]), now: Self.t(10))
        #expect(Self.ran(out) == [1, 2], "job 3's kind has no executor here")
        #expect(Self.asksFlush(out), "job 3's unsupported result waits for the flush")
        out = m.handle(.finished([(1, 1, JobOutcome(status: .succeeded)), (2, 1, JobOutcome(status: .failed, error: "x"))]), now: Self.t(20))
        #expect(Self.results(out).isEmpty && !Self.asksFlush(out), "one flush is already asked for")
        out = m.handle(.flushResults, now: Self.t(21))
        #expect(Self.results(out).map { "\($0.0):\($0.2)" } == ["3:unsupported", "1:succeeded", "2:failed"])
        #expect(Self.sent(out).count == 1)
        #expect(m.runningCount == 0)
    }

    @Test func aCancelledJobsLateFinishIsDropped() {
        var m = Self.machine()
        Self.welcomed(&m)
        _ = m.handle(Self.jobs([Self.lease(1)]), now: Self.t(10))
        var cancel = CancelMessage()
        cancel.jobIds = [1, 99]
        var out = m.handle(.received(.cancel(cancel)), now: Self.t(20))
        #expect(Self.cancelled(out) == [1], "only a running job is cancelled")
        out = m.handle(.finished([(1, 1, JobOutcome(status: .succeeded))]), now: Self.t(30))
        #expect(!Self.asksFlush(out) && Self.results(m.handle(.flushResults, now: Self.t(31))).isEmpty)
    }

    @Test func aReLeaseOfARunningJobIsAnsweredByTheRunningAttempt() {
        var m = Self.machine()
        Self.welcomed(&m)
        _ = m.handle(Self.jobs([Self.lease(1, attempt: 1)]), now: Self.t(10))
        var out = m.handle(Self.jobs([Self.lease(1, attempt: 2)]), now: Self.t(20))
        #expect(Self.ran(out).isEmpty, "not started twice")
        _ = m.handle(.finished([(1, 1, JobOutcome(status: .succeeded))]), now: Self.t(30))
        out = m.handle(.flushResults, now: Self.t(31))
        #expect(Self.results(out).map { [$0.0, JobID($0.1)] } == [[1, 2]])
    }

    @Test func aForgettingCoordinatorIsAnsweredWithReadyAndARefusalBacksOff() {
        var m = Self.machine()
        Self.welcomed(&m)
        var error = ErrorMessage()
        error.code = .unknownWorker
        var out = m.handle(.received(.error(error)), now: Self.t(2000))
        #expect(Self.sent(out).contains { if case .ready = $0 { return true } else { return false } })
        error.code = .duplicateWorker
        out = m.handle(.received(.error(error)), now: Self.t(2100))
        #expect(Self.sent(out).isEmpty)
        guard case .waiting(let until) = m.link.state else { Issue.record("not waiting: \(m.link.state)"); return }
        // After the backoff the worker connects again on a fresh socket.
        out = m.handle(.tick, now: until)
        #expect(out.contains { if case .reopenSocket = $0 { return true } else { return false } })
        #expect(Self.sent(out).contains { if case .ready = $0 { return true } else { return false } })
    }

    @Test func aDrainSaysZeroSlotsWaitsForRunningJobsThenSaysGoodbye() {
        var m = Self.machine(drainMs: 2000)
        Self.welcomed(&m)
        _ = m.handle(Self.jobs([Self.lease(1)]), now: Self.t(10))
        var out = m.handle(.shutdown(reason: nil), now: Self.t(100))
        guard case .ready(let ready) = Self.sent(out).first else { Issue.record("no zero-slot READY"); return }
        #expect(ready.slots == 0 && !Self.exits(out))
        // The last running job's result goes out at once, then the goodbye.
        out = m.handle(.finished([(1, 1, JobOutcome(status: .succeeded))]), now: Self.t(200))
        #expect(Self.exits(out))
        let bodies = Self.sent(out)
        #expect(bodies.count == 2)
        if case .results = bodies.first {} else { Issue.record("results before goodbye: \(bodies)") }
        if case .disconnect = bodies.last {} else { Issue.record("goodbye last: \(bodies)") }
        #expect(m.handle(.tick, now: Self.t(300)).isEmpty, "nothing after exit")
    }

    @Test func aDrainThatTimesOutGivesBackWhatStillRuns() {
        var m = Self.machine(drainMs: 2000)
        Self.welcomed(&m)
        _ = m.handle(Self.jobs([Self.lease(1), Self.lease(2)]), now: Self.t(10))
        _ = m.handle(.shutdown(reason: "parent process 1 is gone; stopping"), now: Self.t(100))
        var out = m.handle(.tick, now: Self.t(2099))
        #expect(!Self.exits(out))
        out = m.handle(.tick, now: Self.t(2100))
        #expect(Self.cancelled(out) == [1, 2] && Self.exits(out))
    }

    @Test func aSilentCoordinatorIsLeftAndReconnectedTo() {
        var m = Self.machine()
        Self.welcomed(&m)
        var out = m.handle(.tick, now: Self.t(1005))
        #expect(Self.sent(out).contains { if case .heartbeat = $0 { return true } else { return false } })
        out = m.handle(.tick, now: Self.t(3005))
        #expect(out.contains { if case .log(.warning, let line) = $0 { return line.contains("silent for 3000 ms") } else { return false } })
    }
}
