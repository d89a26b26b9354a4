@testable import CoevoCoordinator
import CoevoCore
import CoevoStore
import CoevoWire
import Foundation
import Testing

/// The coordinator machine's parts on their own, with a fake clock: the peer registry's
/// routes, keys and claims, the run book's ids and finishing, the meters' waits and
/// snapshots. Bad input tried: a READY under a live worker's id from another key, an id
/// claimed by a key now away, a message from a key withdrawn after its handshake, a
/// worker's old route used after it restarted.
@Suite struct CoordinatorPartsTests {
    static let keyA = CurvePublicKey(bytes: Data(repeating: 1, count: 32))
    static let keyB = CurvePublicKey(bytes: Data(repeating: 2, count: 32))
    static func ms(_ value: Int64) -> MonotonicTime { MonotonicTime(milliseconds: value) }

    @Test func anIdBelongsToTheKeyThatFirstRegisteredItWhileItsWorkerIsAway() {
        var peers = PeerRegistry()
        let w1: WorkerID = "w1"
        #expect(peers.claim(w1, by: Self.keyA, live: false) == .free)
        let claimed = peers.bind(w1, to: Data("w1/s1".utf8), key: Self.keyA)
        #expect(claimed, "a first claim is to be stored")
        let again = peers.bind(w1, to: Data("w1/s2".utf8), key: Self.keyA)
        #expect(!again, "the same key's claim is stored once")
        #expect(peers.claim(w1, by: Self.keyB, live: true) == .heldByLiveWorker)
        #expect(peers.claim(w1, by: Self.keyA, live: true) == .free)
        peers.forget(w1)
        #expect(peers.worker(at: Data("w1/s2".utf8)) == nil)
        #expect(peers.route(of: w1) == nil)
        // Gone, but its id is still keyA's.
        #expect(peers.claim(w1, by: Self.keyB, live: false) == .claimedByAnotherKey)
        #expect(peers.claim(w1, by: Self.keyA, live: false) == .free)
        // keyA withdrawn: the claim is given back.
        let r1 = peers.authorize([Self.keyB])
        #expect(r1.withdrawn.isEmpty && r1.released == [w1])
        #expect(peers.claim(w1, by: Self.keyB, live: false) == .free)
        #expect(!peers.admits(Self.keyA))
        #expect(peers.admits(Self.keyB))
        #expect(peers.admits(nil))
    }

    @Test func aRestartedWorkersOldRouteNoLongerAnswersForIt() {
        var peers = PeerRegistry()
        let w1: WorkerID = "w1"
        let old = Data("w1/s1".utf8), new = Data("w1/s2".utf8)
        _ = peers.bind(w1, to: old, key: nil)
        let claimed = peers.bind(w1, to: new, key: nil)
        #expect(!claimed, "without CURVE there is no key to claim with")
        #expect(peers.worker(at: old) == nil)
        #expect(peers.worker(at: new) == w1)
        #expect(peers.route(of: w1) == new)
        #expect(peers.isOwn(w1, key: nil))
        #expect(!peers.isOwn(w1, key: Self.keyA))
    }

    @Test func withdrawingAKeyNamesTheWorkersThatJoinedWithItInOrder() {
        var peers = PeerRegistry()
        _ = peers.bind("w2", to: Data("w2/s".utf8), key: Self.keyA)
        _ = peers.bind("w1", to: Data("w1/s".utf8), key: Self.keyA)
        _ = peers.bind("w3", to: Data("w3/s".utf8), key: Self.keyB)
        let r2 = peers.authorize([Self.keyB])
        #expect(r2.withdrawn.map(\.worker) == ["w1", "w2"] && r2.released == ["w1", "w2"])
    }

    /// Claims an earlier life stored hold from the start: the id is refused to another key
    /// while its owner is away.
    @Test func aStoredClaimHoldsAfterARestart() {
        let peers = PeerRegistry(claims: ["w1": Self.keyA])
        #expect(peers.claim("w1", by: Self.keyB, live: false) == .claimedByAnotherKey)
        #expect(peers.claim("w1", by: Self.keyA, live: false) == .free)
        #expect(peers.claim("w2", by: Self.keyB, live: false) == .free)
    }

    @Test func aHeartbeatIsOwedOnlyAfterAnIntervalWithoutSending() {
        var peers = PeerRegistry()
        _ = peers.bind("w1", to: Data("w1/s".utf8), key: nil)
        peers.sent(to: "w1", at: Self.ms(5_000))
        #expect(!peers.heartbeatDue("w1", now: Self.ms(5_999), interval: 1000))
        #expect(peers.heartbeatDue("w1", now: Self.ms(6_000), interval: 1000))
    }

    /// A driver that makes `perCall` jobs on every call and finishes when told.
    struct CountingDriver: RunDriver {
        var run: RunID
        var perCall: Int
        var finished = false
        mutating func make(_ ids: inout JobID) -> DriverStep {
            var step = DriverStep()
            for _ in 0..<perCall {
                step.jobs.append(Job(id: ids, run: run, kind: .noop, payload: Data(), timeoutMilliseconds: 1000))
                ids += 1
            }
            return step
        }
        mutating func start(ids: inout JobID, at: Double) -> DriverStep { make(&ids) }
        mutating func completed(_ result: AppliedResult, ids: inout JobID, at: Double) -> DriverStep { make(&ids) }
        mutating func failed(_ job: JobID, reason: String, ids: inout JobID, at: Double) -> DriverStep { make(&ids) }
        var isFinished: Bool { finished }
    }

    @Test func idsPastTheReservedBlockAskForTheNextBlockOnce() {
        var book = RunBook(jobIDs: 10..<13)
        let step = book.serve("r", driver: CountingDriver(run: "r", perCall: 3), storedWhenLeased: false, at: 0)
        #expect(step.jobs.map(\.id) == [10, 11, 12])
        let r3 = book.reservationNeeded()
        #expect(r3 == nil)  // 13 is the ceiling: nothing at or above it yet
        let next = book.failed(12, of: "r", reason: "x", at: 0)
        #expect(next?.jobs.map(\.id) == [13, 14, 15])
        let r4 = book.reservationNeeded()
        #expect(r4 == 16 + JobID(RunBook.jobIDBlock))
        let r5 = book.reservationNeeded()
        #expect(r5 == nil)
        let r6 = book.failed(1, of: "other", reason: "x", at: 0)
        #expect(r6 == nil)  // no such run
    }

    @Test func aBatchsJobsAreStoredWithTheirFirstLeaseAndAProtocolsWhenMade() {
        var book = RunBook(jobIDs: 0..<100)
        let batch = book.serve("b", driver: CountingDriver(run: "b", perCall: 2), storedWhenLeased: true, at: 0)
        let experiment = book.serve("p", driver: CountingDriver(run: "p", perCall: 2), storedWhenLeased: false, at: 0)
        let r7 = book.jobsToStore(batch.jobs, of: "b")
        #expect(r7.isEmpty)
        let r8 = book.jobsToStore(experiment.jobs, of: "p")
        #expect(r8.map(\.id) == [2, 3])
        let r9 = book.isStoredWithLease(0)
        #expect(r9)
        let r10 = book.isStoredWithLease(0)
        #expect(!r10)  // its second lease: already stored
        let r11 = book.isStoredWithLease(2)
        #expect(!r11)
    }

    @Test func aRunClosesWhenItsJobsAreDoneAndItsDriverHasNothingLeftToSay() {
        var scheduler = Scheduler()
        var book = RunBook(jobIDs: 0..<100)
        var driver = CountingDriver(run: "r", perCall: 0)
        _ = book.serve("r", driver: driver, storedWhenLeased: false, at: 0)
        scheduler.plan(0, for: "r")
        let r12 = book.closeFinished(by: scheduler)
        #expect(r12.isEmpty)  // the driver is not finished
        driver.finished = true
        var finishedBook = RunBook(jobIDs: 0..<100)
        _ = finishedBook.serve("r", driver: driver, storedWhenLeased: false, at: 0)
        let r13 = finishedBook.closeFinished(by: scheduler)
        #expect(r13 == ["r"])
        #expect(finishedBook.active.isEmpty)
        let r14 = finishedBook.closeFinished(by: scheduler)
        #expect(r14.isEmpty)  // closed once
    }

    @Test func aQueuedJobsWaitIsMeasuredFromWhenItWasLastQueued() {
        var meters = CoordinatorMeters()
        meters.queued(7, at: Self.ms(1_000))
        meters.queued(7, at: Self.ms(3_000))  // requeued
        let r15 = meters.leased(7, at: Self.ms(3_500))
        #expect(r15 == 0.5)
        let r16 = meters.leased(7, at: Self.ms(9_000))
        #expect(r16 == 0)  // no longer queued
    }

    @Test func onlyARunsFirstFailedResultIsToBeLoggedAndTheLastProblemIsKept() {
        var meters = CoordinatorMeters()
        let r17 = meters.failedResult("job 1 failed", in: "r")
        #expect(r17)
        let r18 = meters.failedResult("job 2 failed", in: "r")
        #expect(!r18)
        let r19 = meters.failedResult("job 9 failed", in: "s")
        #expect(r19)
        meters.problem("job 3 deferred", in: "r")
        #expect(meters.lastProblem == ["r": "job 3 deferred", "s": "job 9 failed"])
    }

    @Test func aSnapshotIsDueOnceASecond() {
        var meters = CoordinatorMeters()
        meters.start(at: Self.ms(500))
        let r20 = meters.snapshotDue(at: Self.ms(1_499))
        #expect(!r20)
        let r21 = meters.snapshotDue(at: Self.ms(1_500))
        #expect(r21)
        let r22 = meters.snapshotDue(at: Self.ms(2_000))
        #expect(!r22)
        let r23 = meters.snapshotDue(at: Self.ms(2_600))
        #expect(r23)
        #expect(meters.uptime(at: Self.ms(2_600)) == 2_100)
        let r24 = meters.collectActivity()
        #expect(r24 == nil)
        meters.activity.note(Job(id: 1, run: "r", kind: .noop, payload: Data(), timeoutMilliseconds: 1), .submitted)
        let r25 = meters.collectActivity()
        #expect(r25?.marks.count == 1)
        let r26 = meters.collectActivity()
        #expect(r26 == nil)
    }

    @Test func eachRegisteredKindTakesItsOwnConfigsAndABatchIsNoKind() throws {
        let run = ServedRun(id: "r", state: .running, config: nil, exportDirectory: FileManager.default.temporaryDirectory)
        var chamber = ExperimentConfig()
        chamber.chamber = ChamberSettings()
        #expect(RunKind.driver(for: chamber, run: run)?.driver is ChamberDriver)
        #expect(RunKind.driver(for: ExperimentConfig(), run: run) == nil)
        let configs = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("Configs")
        let quickstart = try ConfigLoader.load(path: configs.appendingPathComponent("quickstart.yaml").path).0
        #expect(RunKind.driver(for: quickstart, run: run)?.driver is ProtocolDriver)
        let discovery = try ConfigLoader.load(path: configs.appendingPathComponent("discovery-evolve.yaml").path).0
        #expect(RunKind.driver(for: discovery, run: run)?.driver is DiscoveryDriver)
    }
}
