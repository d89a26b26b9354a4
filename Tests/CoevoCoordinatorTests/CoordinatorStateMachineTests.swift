@testable import CoevoCoordinator
import CoevoCore
import CoevoStore
import CoevoWire
import Foundation
import Testing

/// The coordinator's decisions driven in-process with a fake clock: inputs in, directives
/// out, no socket, no store, no process. Every expectation was worked out from the rules
/// in CoordinatorStateMachine.swift. Bad input tried: a READY under a live worker's id, a
/// READY with no id, messages from a peer that never registered, a message of two
/// frames, bytes that are no envelope, a result for a job never submitted, a late result.
@Suite struct CoordinatorStateMachineTests {
    /// A fake clock: `t(ms)` is `ms` on the monotonic clock, `ms / 1000` seconds on the wall.
    static func t(_ ms: Int64) -> CoordinatorTime { CoordinatorTime(monotonic: MonotonicTime(milliseconds: ms), wall: Double(ms) / 1000) }

    static func settings(_ tweak: (inout ExperimentConfig.CoordinatorSection) -> Void = { _ in }) -> CoordinatorSettings {
        var section = ExperimentConfig.CoordinatorSection()
        section.heartbeatIntervalMilliseconds = 1000
        section.liveness = 3
        section.maxAttempts = 2
        section.deferPauseMilliseconds = 5000
        tweak(&section)
        var settings = CoordinatorSettings(config: section)
        settings.drainTimeoutMilliseconds = 2000
        return settings
    }

    static func job(_ id: JobID, kind: JobKind = .noop, timeout: Int64 = 10_000, run: RunID = "r") -> Job {
        Job(id: id, run: run, kind: kind, payload: Data([UInt8(id & 0xff)]), timeoutMilliseconds: timeout)
    }

    /// A plain batch run with these jobs still to run (and these done or failed before).
    static func batch(_ unfinished: [(Job, UInt32)], done: [JobID] = [], failed: [JobID] = [],
                      config: ExperimentConfig? = ExperimentConfig(), run: RunID = "r") -> ServedRun {
        // The stored jobs are the whole batch: the run's driver makes no more.
        var config = config
        config?.workload.jobs = unfinished.count + done.count + failed.count
        return ServedRun(id: run, state: .running, config: config,
                  jobs: CoevoStore.RunJobs(unfinished: unfinished.map { (job: $0.0, attempts: $0.1) }, succeeded: done, failed: failed),
                  exportDirectory: FileManager.default.temporaryDirectory)
    }

    static func machine(_ runs: [ServedRun], settings: CoordinatorSettings = settings(), next: JobID = 100) -> CoordinatorStateMachine {
        var machine = CoordinatorStateMachine(settings: settings, session: "c1", runs: runs, jobIDs: next..<(next + 1_000_000))
        _ = machine.handle(.start, at: t(0))
        return machine
    }

    static func routing(_ text: String) -> Data { Data(text.utf8) }

    static func ready(_ id: String, session: String, slots: UInt32, kinds: [String] = []) -> WorkerMessage {
        .ready(WorkerHello(workerID: id, session: session, slots: slots, capabilities: kinds))
    }

    static func results(_ entries: [(JobID, UInt32, JobOutcome)]) -> WorkerMessage {
        .results(entries.map { JobReport(job: $0.0, attempt: $0.1, outcome: $0.2) })
    }

    static func from(_ routing: String, _ message: WorkerMessage) -> CoordinatorInput {
        .received([.message(from: Self.routing(routing), message)])
    }

    /// What the directives send to `routing`.
    static func sent(_ directives: [CoordinatorDirective], to routing: String) -> [CoordinatorMessage] {
        directives.compactMap {
            if case .send(let to, let message) = $0, to == Self.routing(routing) { return message }
            return nil
        }
    }

    /// The leases sent to `routing`, by job id and attempt.
    static func leases(_ directives: [CoordinatorDirective], to routing: String) -> [(JobID, UInt32)] {
        sent(directives, to: routing).flatMap { message -> [(JobID, UInt32)] in
            if case .jobs(let leases) = message { return leases.map { ($0.job.id, $0.attempt) } }
            return []
        }
    }

    static func errors(_ directives: [CoordinatorDirective], to routing: String) -> [PeerRefusal] {
        sent(directives, to: routing).compactMap { if case .refusal(let refusal, _, _) = $0 { return refusal } else { return nil } }
    }

    static func events(_ directives: [CoordinatorDirective]) -> [EventRecord] {
        directives.flatMap { directive -> [EventRecord] in
            guard case .store(let writes) = directive else { return [] }
            return writes.compactMap { if case .event(let e) = $0 { return e } else { return nil } }
        }
    }

    static func wakes(_ directives: [CoordinatorDirective]) -> [MonotonicTime] {
        directives.compactMap { if case .wake(let time) = $0 { time } else { nil } }
    }

    static func exits(_ directives: [CoordinatorDirective]) -> Bool {
        directives.contains { if case .exit = $0 { return true } else { return false } }
    }

    static func notices(_ directives: [CoordinatorDirective]) -> [CoordinatorNotice] {
        directives.compactMap { if case .notice(let notice) = $0 { return notice } else { return nil } }
    }

    /// The conduct summaries among the notices.
    static func conduct(_ directives: [CoordinatorDirective]) -> [ConductSummary] {
        notices(directives).compactMap { if case .conduct(let summary) = $0 { summary } else { nil } }
    }

    static func ok(_ payload: Data = Data()) -> JobOutcome { JobOutcome(status: .succeeded, output: payload) }

    // MARK: Registration and bad peers

    @Test func aWorkerIsWelcomedAndLeasedJobsUpToItsSlots() {
        var m = Self.machine([Self.batch((1...5).map { (Self.job($0), 0) })])
        let out = m.handle(Self.from("w1/a", Self.ready("w1", session: "a", slots: 3)), at: Self.t(10))
        let bodies = Self.sent(out, to: "w1/a")
        #expect(bodies.first == .welcome(session: "c1", heartbeatIntervalMilliseconds: 1000, liveness: 3), "\(bodies)")
        #expect(Self.leases(out, to: "w1/a").map(\.0) == [1, 2, 3])
        #expect(Self.events(out).map(\.kind) == [.workerJoined])
        // The leases are written down.
        let leased = out.flatMap { d -> [JobID] in
            guard case .store(let writes) = d else { return [] }
            return writes.compactMap { if case .leased(let id, _, _, _) = $0 { return id } else { return nil } }
        }
        #expect(leased == [1, 2, 3])
    }

    @Test func aSecondReadyUnderALiveWorkersIdIsRefused() {
        var m = Self.machine([Self.batch([])])
        _ = m.handle(Self.from("w1/a", Self.ready("w1", session: "a", slots: 1)), at: Self.t(10))
        let out = m.handle(Self.from("w1/b", Self.ready("w1", session: "b", slots: 1)), at: Self.t(500))
        #expect(Self.errors(out, to: "w1/b") == [.duplicateWorker])
        let texts = Self.sent(out, to: "w1/b").compactMap { if case .refusal(_, let text, _) = $0 { return text } else { return nil } }
        #expect(texts.allSatisfy { !$0.contains("session") && !$0.contains(" a)") }, "the live worker's session is not revealed: \(texts)")
        #expect(Self.events(out).map(\.kind) == [.workerRefused])
        #expect(m.scheduler.workerCount == 1)
        // Once the first has been silent past the limit (3 s), the id may be taken over.
        let later = m.handle(Self.from("w1/b", Self.ready("w1", session: "b", slots: 1)), at: Self.t(3100))
        #expect(Self.errors(later, to: "w1/b").isEmpty)
        #expect(Self.events(later).map(\.kind).contains(.workerJoined))
    }

    @Test func peersThatNeverRegisteredOrSpeakNonsenseGetErrorsAndChangeNothing() {
        var m = Self.machine([Self.batch([(Self.job(1), 0)])])
        var out = m.handle(Self.from("x", .heartbeat), at: Self.t(10))
        #expect(Self.errors(out, to: "x") == [.unknownWorker])
        out = m.handle(Self.from("x", Self.results([(1, 1, Self.ok())])), at: Self.t(11))
        #expect(Self.errors(out, to: "x") == [.unknownWorker])
        out = m.handle(.received([.malformed(from: Self.routing("x"), .frameCount(2))]), at: Self.t(12))
        #expect(Self.errors(out, to: "x") == [.malformed])
        out = m.handle(.received([.malformed(from: Self.routing("x"), .undecodable(.versionMismatch(got: 99)))]), at: Self.t(13))
        #expect(Self.errors(out, to: "x") == [.versionMismatch])
        out = m.handle(Self.from("x", Self.ready("", session: "s", slots: 4)), at: Self.t(14))
        #expect(Self.errors(out, to: "x") == [.invalidReady])
        #expect(m.scheduler.workerCount == 0 && m.scheduler.queuedCount == 1 && m.meters.resultsApplied == 0)
    }

    /// Bad input: another authenticated key naming a live worker's id (even with its
    /// session), and a message on the worker's route from another key (what a peer that
    /// claimed the routing id through ROUTER_HANDOVER would send).
    @Test func aWorkersIdAndRouteBelongToTheKeyItJoinedWith() {
        let owner = CurvePublicKey(bytes: Data(repeating: 1, count: 32))
        let other = CurvePublicKey(bytes: Data(repeating: 2, count: 32))
        func from(_ routing: String, _ key: CurvePublicKey, _ body: WorkerMessage) -> CoordinatorInput {
            .received([.message(from: Self.routing(routing), key: key, body)])
        }
        var m = Self.machine([Self.batch([(Self.job(1), 0)])])
        var out = m.handle(from("w1/a", owner, Self.ready("w1", session: "a", slots: 1)), at: Self.t(0))
        #expect(Self.leases(out, to: "w1/a").map(\.0) == [1])
        out = m.handle(from("w1/x", other, Self.ready("w1", session: "a", slots: 1)), at: Self.t(10))
        #expect(Self.errors(out, to: "w1/x") == [.duplicateWorker])
        #expect(Self.events(out).map(\.kind) == [.workerRefused])
        #expect(Self.sent(out, to: "w1/a").isEmpty && m.scheduler.leasedCount == 1)
        // The route is claimed: the forged result is not applied, the worker is dropped.
        out = m.handle(from("w1/a", other, Self.results([(1, 1, Self.ok())])), at: Self.t(20))
        #expect(m.meters.resultsApplied == 0 && m.scheduler.workerCount == 0 && m.scheduler.queuedCount == 1)
        #expect(Self.events(out).map(\.kind).contains(.routeClaimed))
        // The real worker comes back with its own key and gets the job again.
        out = m.handle(from("w1/a", owner, Self.ready("w1", session: "a", slots: 1)), at: Self.t(30))
        #expect(Self.leases(out, to: "w1/a").map { [$0.0, JobID($0.1)] } == [[1, 2]])
        out = m.handle(from("w1/a", owner, Self.results([(1, 2, Self.ok())])), at: Self.t(40))
        #expect(m.meters.resultsApplied == 1)
    }

    /// Bad input: another authorized key taking a worker's id in the gap while its owner
    /// restarts (the id went silent and expired), and a log line that would show a
    /// worker's session (READY with it could take the worker's place).
    @Test func anIdStaysWithItsKeyWhileItsOwnerIsAwayUntilTheKeyIsWithdrawn() {
        let owner = CurvePublicKey(bytes: Data(repeating: 1, count: 32))
        let other = CurvePublicKey(bytes: Data(repeating: 2, count: 32))
        func from(_ routing: String, _ key: CurvePublicKey, _ body: WorkerMessage) -> CoordinatorInput {
            .received([.message(from: Self.routing(routing), key: key, body)])
        }
        var m = Self.machine([Self.batch([(Self.job(1), 0), (Self.job(2), 0)])])
        let joined = m.handle(from("w1/a", owner, Self.ready("w1", session: "a", slots: 1)), at: Self.t(0))
        // The join names the key, so every result of w1 traces to it.
        #expect(Self.events(joined).first { $0.kind == .workerJoined }?.detail.hasSuffix("key=\(owner)") == true)
        _ = m.handle(from("w1/a", owner, .disconnect(reason: "")), at: Self.t(10))
        #expect(m.scheduler.workerCount == 0 && m.scheduler.queuedCount == 2)
        var out = m.handle(from("w1/b", other, Self.ready("w1", session: "b", slots: 1)), at: Self.t(20))
        #expect(Self.errors(out, to: "w1/b") == [.duplicateWorker] && Self.leases(out, to: "w1/b").isEmpty)
        #expect(Self.events(out).map(\.detail) == ["id belongs to another key"])
        #expect(Self.notices(out) == [.idBelongsToAnotherKey(peer: "w1/(session withheld)", "w1")])
        #expect(!Self.notices(out).map(\.description).joined().contains("w1/b"), "the session is not shown: \(Self.notices(out))")
        // Its owner gets it back.
        out = m.handle(from("w1/c", owner, Self.ready("w1", session: "c", slots: 1)), at: Self.t(30))
        #expect(Self.leases(out, to: "w1/c").count == 1)
        // Once the owner's key is withdrawn, the id is free for the node's new key.
        _ = m.handle(.authorizedKeys([other]), at: Self.t(40))
        out = m.handle(from("w1/d", other, Self.ready("w1", session: "d", slots: 1)), at: Self.t(50))
        #expect(Self.leases(out, to: "w1/d").count == 1, "\(Self.errors(out, to: "w1/d"))")
        #expect(CoordinatorStateMachine.printable(Data("w-1/0123456789abcdef".utf8)) == "w-1/(session withheld)")
        #expect(CoordinatorStateMachine.printable(Data("raw-1".utf8)) == "raw-1")
    }

    /// What claims the machine asks the store to keep, and what a restarted machine does
    /// with them. Bad input: another authorized key naming a claimed id after the
    /// coordinator restarted (when the id's owner restarts with it).
    @Test func claimsAreStoredAndARestartedCoordinatorHoldsThem() {
        let owner = CurvePublicKey(bytes: Data(repeating: 1, count: 32))
        let other = CurvePublicKey(bytes: Data(repeating: 2, count: 32))
        func from(_ routing: String, _ key: CurvePublicKey, _ body: WorkerMessage) -> CoordinatorInput {
            .received([.message(from: Self.routing(routing), key: key, body)])
        }
        func claims(_ out: [CoordinatorDirective]) -> [String] {
            out.flatMap { directive -> [String] in
                guard case .store(let writes) = directive else { return [] }
                return writes.compactMap {
                    switch $0 {
                    case .workerClaimed(let worker, let key): "\(worker)=\(key)"
                    case .workerClaimsReleased(let workers): "released " + workers.map(\.rawValue).joined(separator: ",")
                    default: nil
                    }
                }
            }
        }
        var m = Self.machine([Self.batch([(Self.job(1), 0)])])
        var out = m.handle(from("w1/a", owner, Self.ready("w1", session: "a", slots: 1)), at: Self.t(0))
        #expect(claims(out) == ["w1=\(owner.z85)"])
        out = m.handle(from("w1/b", owner, Self.ready("w1", session: "b", slots: 1)), at: Self.t(10))
        #expect(claims(out).isEmpty, "a claim is stored once")
        out = m.handle(.authorizedKeys([other]), at: Self.t(20))
        #expect(claims(out) == ["released w1"])

        // A new life, with the store's claims: the id is still the owner's.
        var restarted = CoordinatorStateMachine(settings: Self.settings(), session: "c2", runs: [Self.batch([(Self.job(1), 0)])],
                                                jobIDs: 100..<1_000_100, claims: ["w1": owner])
        _ = restarted.handle(.start, at: Self.t(0))
        out = restarted.handle(from("w1/x", other, Self.ready("w1", session: "x", slots: 1)), at: Self.t(10))
        #expect(Self.errors(out, to: "w1/x") == [.duplicateWorker] && Self.leases(out, to: "w1/x").isEmpty)
        out = restarted.handle(from("w1/y", owner, Self.ready("w1", session: "y", slots: 1)), at: Self.t(20))
        #expect(Self.leases(out, to: "w1/y").count == 1 && claims(out).isEmpty)
    }

    /// Bad input: a registered worker sending 1,000 results for a job whose lease is not its own.
    @Test func aStormOfLateResultsCostsAFewEventRowsAndOneSummary() {
        var m = Self.machine([Self.batch([(Self.job(1), 0), (Self.job(2), 0)])])
        _ = m.handle(Self.from("w1/a", Self.ready("w1", session: "a", slots: 1)), at: Self.t(0))
        let out = m.handle(Self.from("w1/a", Self.results((0..<1000).map { _ in (1, 7, Self.ok()) })), at: Self.t(10))
        #expect(m.meters.resultsApplied == 0)
        #expect(Self.events(out).filter { $0.kind == .resultDiscarded }.count == PeerConduct.reportedStrikes)
        _ = m.handle(Self.from("w1/a", .heartbeat), at: Self.t(2000))
        let later = m.handle(.tick, at: Self.t(PeerConduct.windowMilliseconds + 10))
        #expect(Self.conduct(later) == [ConductSummary(unrecordedDiscards: 1000 - PeerConduct.reportedStrikes)], "\(Self.notices(later))")
    }

    /// Bad input: a worker whose key was withdrawn while it stayed connected.
    @Test func aWithdrawnKeyDropsItsWorkerAndItsMessagesAreIgnored() {
        let key = CurvePublicKey(bytes: Data(repeating: 7, count: 32))
        var m = Self.machine([Self.batch([(Self.job(1), 0)])])
        _ = m.handle(.received([.message(from: Self.routing("w1/a"), key: key, Self.ready("w1", session: "a", slots: 1))]), at: Self.t(0))
        #expect(m.scheduler.leasedCount == 1)
        var out = m.handle(.authorizedKeys([]), at: Self.t(10))
        #expect(m.scheduler.workerCount == 0 && m.scheduler.queuedCount == 1)
        #expect(Self.events(out).map(\.detail).contains("key withdrawn"))
        out = m.handle(.received([.message(from: Self.routing("w1/a"), key: key, Self.results([(1, 1, Self.ok())]))]), at: Self.t(20))
        out += m.handle(.received([.message(from: Self.routing("w1/a"), key: key, Self.ready("w1", session: "a", slots: 1))]), at: Self.t(30))
        #expect(m.meters.resultsApplied == 0 && m.scheduler.workerCount == 0 && Self.sent(out, to: "w1/a").isEmpty)
    }

    /// Bad input: 10,000 malformed frames from one peer, in the same batches as a real
    /// worker's results, then a valid READY from the flooding peer.
    @Test func aFloodIsAnsweredAFewTimesThenIgnoredWhileARealWorkerGoesOn() {
        var m = Self.machine([Self.batch((1...3).map { (Self.job($0), 0) })])
        _ = m.handle(Self.from("w1/a", Self.ready("w1", session: "a", slots: 1)), at: Self.t(0))
        var out: [CoordinatorDirective] = []
        for round in 1...10 {
            var batch = [ReceivedMessage](repeating: .malformed(from: Self.routing("evil"), .frameCount(3)), count: 1000)
            if round <= 3 { batch.insert(.message(from: Self.routing("w1/a"), Self.results([(JobID(round), 1, Self.ok())])), at: 500) }
            out += m.handle(.received(batch), at: Self.t(Int64(round)))
        }
        #expect(m.meters.resultsApplied == 3, "the real worker's results are applied during the flood")
        #expect(Self.errors(out, to: "evil").count == PeerConduct.reportedStrikes)
        let badFrames = Self.notices(out).filter { $0 == .badFrameCount(peer: "evil", frames: 3) }
        #expect(badFrames.count == PeerConduct.reportedStrikes, "\(Self.notices(out))")
        #expect(Self.notices(out).filter { if case .peerIgnored(peer: "evil", last: .badFrameCount) = $0 { true } else { false } }.count == 1)
        // Besides those, only the run's end (its three jobs are done) is told.
        #expect(Self.notices(out).count == PeerConduct.reportedStrikes + 2, "\(Self.notices(out).count) notices")
        #expect(Self.notices(out).contains { if case .runFinished("r", let p) = $0 { p.completed == 3 } else { false } })
        #expect(Self.events(out).map(\.kind).filter { $0 == .peerIgnored }.count == 1)
        out = m.handle(Self.from("evil", Self.ready("e", session: "s", slots: 8)), at: Self.t(20))
        #expect(Self.sent(out, to: "evil").isEmpty && m.scheduler.workerCount == 1, "an ignored peer is not heard")
        out = m.handle(.tick, at: Self.t(PeerConduct.windowMilliseconds + 20))
        // Of the 10,000 frames the first 8 were answered, the next 56 only counted and the
        // 65th ignored the peer; the other 9,935 and its READY were dropped unread.
        #expect(Self.conduct(out) == [ConductSummary(unreported: PeerConduct.strikesBeforeIgnoring - PeerConduct.reportedStrikes,
                                                     dropped: 10_000 - (PeerConduct.strikesBeforeIgnoring + 1) + 1,
                                                     offenders: 1, ignored: 1)], "\(Self.notices(out))")
    }

    /// Bad input: an authorized worker whose key is not trusted to grade, announcing every
    /// kind, then one announcing none (which would mean "any").
    @Test func gradeJobsGoOnlyToWorkersTrustedToGrade() {
        let trusted = CurvePublicKey(bytes: Data(repeating: 1, count: 32)), other = CurvePublicKey(bytes: Data(repeating: 2, count: 32))
        var settings = Self.settings()
        settings.graderKeys = [trusted]
        var m = Self.machine([Self.batch([(Self.job(1, kind: .discoveryGrade), 0), (Self.job(2, kind: .discoveryGrade), 0),
                                          (Self.job(3, kind: .noop), 0)])], settings: settings)
        func ready(_ id: String, _ session: String, kinds: [String]) -> WorkerMessage {
            Self.ready(id, session: session, slots: 4, kinds: kinds)
        }
        var out = m.handle(.received([.message(from: Self.routing("u/a"), key: other, ready("u", "a", kinds: ["discovery.grade", "noop"]))]), at: Self.t(0))
        #expect(Self.leases(out, to: "u/a").map(\.0) == [3], "the untrusted worker gets only the noop job")
        #expect(Self.notices(out).contains(.gradesWithheld("u")), "\(Self.notices(out))")
        out = m.handle(.received([.message(from: Self.routing("v/a"), key: other, ready("v", "a", kinds: []))]), at: Self.t(10))
        #expect(Self.leases(out, to: "v/a").isEmpty, "announcing no kinds is no way around it")
        out = m.handle(.received([.message(from: Self.routing("t/a"), key: trusted, ready("t", "a", kinds: ["discovery.grade"]))]), at: Self.t(20))
        #expect(Self.leases(out, to: "t/a").map(\.0).sorted() == [1, 2])
    }

    /// Bad input: 100,000 failed handshakes (strangers' CURVE keys) while a worker registers.
    @Test func aHandshakeFloodCostsAFewLogLinesAndOneSummary() {
        var m = Self.machine([Self.batch([(Self.job(1), 0)])])
        var out: [CoordinatorDirective] = []
        for i in 0..<100_000 {
            out += m.handle(.transport(TransportEvent(kind: .handshakeFailed, endpoint: "tcp://10.0.0.\(i % 250):5555")), at: Self.t(Int64(i / 100)))
        }
        #expect(Self.notices(out).count == PeerConduct.reportedStrikes, "\(Self.notices(out).count) notices")
        #expect(Self.notices(out).allSatisfy { if case .transport(let event) = $0 { event.kind == .handshakeFailed } else { false } })
        out = m.handle(Self.from("w1/a", Self.ready("w1", session: "a", slots: 1)), at: Self.t(1001))
        #expect(Self.leases(out, to: "w1/a").count == 1, "a worker registers and is leased during the flood")
        out = m.handle(.tick, at: Self.t(PeerConduct.windowMilliseconds + 10))
        #expect(Self.conduct(out) == [ConductSummary(unloggedTransportFailures: 100_000 - PeerConduct.reportedStrikes)], "\(Self.notices(out))")
        // The next window logs its first few again.
        let another = TransportEvent(kind: .handshakeFailed, endpoint: "tcp://10.0.0.1:5555")
        out = m.handle(.transport(another), at: Self.t(PeerConduct.windowMilliseconds + 20))
        #expect(Self.notices(out) == [.transport(another)])
    }

    @Test func aResultForAJobNeverSubmittedIsAnsweredAndALateOneIsDiscarded() {
        var m = Self.machine([Self.batch([(Self.job(1), 0), (Self.job(2), 0)])])
        _ = m.handle(Self.from("w1/a", Self.ready("w1", session: "a", slots: 2)), at: Self.t(0))
        var out = m.handle(Self.from("w1/a", Self.results([(99, 1, Self.ok())])), at: Self.t(5))
        #expect(Self.errors(out, to: "w1/a") == [.unknownJob])
        out = m.handle(Self.from("w1/a", Self.results([(1, 1, Self.ok()), (1, 1, Self.ok())])), at: Self.t(6))
        #expect(m.meters.resultsApplied == 1, "the second copy of the same result is not applied")
        #expect(Self.events(out).map(\.kind) == [.resultDiscarded])
        #expect(out.contains { if case .observe(.resultsApplied([1])) = $0 { return true } else { return false } })
    }

    // MARK: Budget, deferral, drain

    static func budgeted(maxCalls: Int) throws -> ExperimentConfig {
        try ConfigLoader.parse("""
            endpoints: [{name: m, url: "http://127.0.0.1:1", model: m}]
            workload: {kind: llm.chat, endpoint: m, jobs: 4}
            budget: {max_calls: \(maxCalls)}
            """)
    }

    static func reply(tokens: Int) -> JobOutcome {
        ok(try! JSONEncoder().encode(LLMJobOutput(text: "4", promptTokens: tokens, completionTokens: 1, costUSD: 0)))
    }

    @Test func aTimedOutAttemptIsTriedAgainAndFailsOnlyWhenAttemptsAreSpent() {
        var m = Self.machine([Self.batch([(Self.job(1), 0)])])
        var out = m.handle(Self.from("w1/a", Self.ready("w1", session: "a", slots: 1)), at: Self.t(0))
        let timedOut = JobOutcome(status: .timedOut, error: "job exceeded its timeout of 10000 ms")
        out = m.handle(Self.from("w1/a", Self.results([(1, 1, timedOut)])), at: Self.t(10))
        #expect(m.meters.resultsApplied == 0 && Self.leases(out, to: "w1/a").map { [$0.0, JobID($0.1)] } == [[1, 2]])
        // maxAttempts is 2: the second time out is final, with its reason.
        out = m.handle(Self.from("w1/a", Self.results([(1, 2, timedOut)])), at: Self.t(20))
        let failed = out.flatMap { d -> [String] in
            guard case .store(let writes) = d else { return [] }
            return writes.compactMap { if case .failed(_, _, let reason) = $0 { return reason } else { return nil } }
        }
        #expect(failed.count == 1 && failed[0].contains("timed out"), "\(failed)")
        #expect(m.scheduler.isFinished("r"))
    }

    @Test func aDiscardedModelCallIsChargedAllTheSame() throws {
        let config = try Self.budgeted(maxCalls: 10)
        var m = Self.machine([Self.batch([(Self.job(1, kind: .llm, timeout: 100), 0)], config: config)])
        _ = m.handle(Self.from("w1/a", Self.ready("w1", session: "a", slots: 1)), at: Self.t(0))
        // The lease (100 ms + 2 s grace) expires; attempt 2 goes out and succeeds.
        _ = m.handle(Self.from("w1/a", .heartbeat), at: Self.t(2000))
        _ = m.handle(.tick, at: Self.t(2200))
        _ = m.handle(Self.from("w1/a", Self.results([(1, 2, Self.reply(tokens: 5))])), at: Self.t(2300))
        #expect(m.budget.calls == 1 && m.meters.resultsApplied == 1)
        // Attempt 1 comes back late: discarded, and its paid call charged.
        let out = m.handle(Self.from("w1/a", Self.results([(1, 1, Self.reply(tokens: 7))])), at: Self.t(2400))
        #expect(m.meters.resultsApplied == 1 && m.budget.calls == 2 && m.budget.tokens == 14)
        #expect(Self.events(out).map(\.detail).contains { $0.contains("is charged") })
    }

    @Test func aSpentBudgetStopsDispatchAndTheRunStopsOnceItsJobsAreBack() throws {
        let config = try Self.budgeted(maxCalls: 2)
        let jobs = (1...4).map { (Self.job(JobID($0), kind: .llm), UInt32(0)) }
        var m = Self.machine([Self.batch(jobs, config: config)])
        var out = m.handle(Self.from("w1/a", Self.ready("w1", session: "a", slots: 3)), at: Self.t(0))
        #expect(Self.leases(out, to: "w1/a").map(\.0) == [1, 2, 3])
        out = m.handle(Self.from("w1/a", Self.results([(1, 1, Self.reply(tokens: 5)), (2, 1, Self.reply(tokens: 5))])), at: Self.t(10))
        #expect(m.budgetStop == "call budget reached (2 of 2)")
        #expect(Self.events(out).map(\.kind) == [.budgetExhausted])
        #expect(Self.leases(out, to: "w1/a").isEmpty, "job 4 is not leased although a slot is free")
        #expect(!Self.exits(out), "job 3 is still out")
        out = m.handle(.tick, at: Self.t(200))
        #expect(Self.leases(out, to: "w1/a").isEmpty && !Self.exits(out))
        // Job 3 comes back (and is kept, charged): nothing is out, so the run stops.
        out = m.handle(Self.from("w1/a", Self.results([(3, 1, Self.reply(tokens: 5))])), at: Self.t(300))
        #expect(m.meters.resultsApplied == 3 && m.budget.calls == 3)
        #expect(Self.exits(out))
        #expect(Self.sent(out, to: "w1/a").contains { if case .disconnect = $0 { return true } else { return false } })
        let interrupted = out.flatMap { d -> [String] in
            guard case .store(let writes) = d else { return [] }
            return writes.compactMap { if case .runState(let run, .interrupted, _) = $0 { return run } else { return nil } }
        }
        #expect(interrupted == ["r"])
        #expect(m.handle(.tick, at: Self.t(400)).isEmpty, "nothing after exit")
    }

    @Test func whatEarlierLivesSpentCountsAgainstTheBudget() throws {
        let config = try Self.budgeted(maxCalls: 2)
        var run = Self.batch([(Self.job(3, kind: .llm), 0)], done: [1, 2], config: config)
        run.storedJobs = [1, 2].map { CoevoStore.StoredJob(job: Self.job($0, kind: .llm), attempts: 1, outcome: Self.reply(tokens: 5), failed: false) }
        var m = Self.machine([run])
        #expect(m.budgetStop != nil)
        let out = m.handle(Self.from("w1/a", Self.ready("w1", session: "a", slots: 3)), at: Self.t(0))
        #expect(Self.leases(out, to: "w1/a").isEmpty)
    }

    @Test func aDeferredJobHoldsBackItsOwnRunForTheWaitItNamesAndNoOtherRun() {
        let other = Self.batch([(Self.job(11, run: "other"), 0), (Self.job(12, run: "other"), 0)], run: "other")
        var m = Self.machine([Self.batch([(Self.job(1), 0), (Self.job(2), 0)]), other])
        var out = m.handle(Self.from("w1/a", Self.ready("w1", session: "a", slots: 1)), at: Self.t(0))
        #expect(Self.leases(out, to: "w1/a").map(\.0) == [1], "runs are served in the order they were loaded")
        var deferred = JobOutcome(status: .deferred, error: "endpoint m is down")
        deferred.retryAfterMilliseconds = 700
        out = m.handle(Self.from("w1/a", Self.results([(1, 1, deferred)])), at: Self.t(100))
        #expect(m.scheduler.pausedRuns == ["r": MonotonicTime(milliseconds: 800)])
        #expect(Self.events(out).map(\.kind) == [.jobDeferred])
        // The regular tick goes on: heartbeats, progress and lease expiry do not wait for
        // the pause to end (a later wake would replace the tick's deadline).
        #expect(Self.wakes(out).allSatisfy { $0 <= MonotonicTime(milliseconds: 100) + m.settings.tickMilliseconds }, "\(Self.wakes(out))")
        // The other run is not held up: its job takes the free slot at once.
        #expect(Self.leases(out, to: "w1/a").map(\.0) == [11])
        out = m.handle(Self.from("w1/a", Self.results([(11, 1, Self.ok())])), at: Self.t(200))
        #expect(Self.leases(out, to: "w1/a").map(\.0) == [12])
        out = m.handle(Self.from("w1/a", Self.results([(12, 1, Self.ok())])), at: Self.t(300))
        #expect(Self.leases(out, to: "w1/a").isEmpty, "run r is still paused at 300 ms")
        out = m.handle(.tick, at: Self.t(799))
        #expect(Self.leases(out, to: "w1/a").isEmpty)
        out = m.handle(.tick, at: Self.t(800))
        #expect(Self.leases(out, to: "w1/a").map { [$0.0, JobID($0.1)] } == [[1, 1]], "the same job first, its attempt not counted")
        #expect(m.scheduler.pausedRuns.isEmpty)
    }

    @Test func aDeferralWithoutAWaitUsesTheConfiguredOneAndAHugeWaitIsCut() {
        var m = Self.machine([Self.batch([(Self.job(1), 0)])])
        _ = m.handle(Self.from("w1/a", Self.ready("w1", session: "a", slots: 1)), at: Self.t(0))
        _ = m.handle(Self.from("w1/a", Self.results([(1, 1, JobOutcome(status: .deferred))])), at: Self.t(10))
        #expect(m.scheduler.pausedRuns["r"] == MonotonicTime(milliseconds: 5010))
        // Bad input: a worker asking for a wait of years.
        var forever = JobOutcome(status: .deferred)
        forever.retryAfterMilliseconds = UInt64.max
        _ = m.handle(Self.from("w1/a", .heartbeat), at: Self.t(5000))
        _ = m.handle(.tick, at: Self.t(5010))
        let out = m.handle(Self.from("w1/a", Self.results([(1, 1, forever)])), at: Self.t(5020))
        #expect(m.scheduler.pausedRuns["r"] == MonotonicTime(milliseconds: 5020 + CoordinatorSettings.longestDeferralMilliseconds))
        #expect(Self.notices(out).contains(.deferralCapped("w1", askedMilliseconds: UInt64.max,
                                                            longestMilliseconds: CoordinatorSettings.longestDeferralMilliseconds)))
    }

    @Test func aJobDeferredPastTheLimitLosesAnAttempt() {
        var m = Self.machine([Self.batch([(Self.job(1), 0)])])
        _ = m.handle(Self.from("w1/a", Self.ready("w1", session: "a", slots: 1)), at: Self.t(0))
        var short = JobOutcome(status: .deferred)
        short.retryAfterMilliseconds = 1
        var t: Int64 = 10
        var out: [CoordinatorDirective] = []
        // maxDeferrals (20) deferrals cost nothing; the 21st counts as attempt 1 lost.
        for _ in 0...m.scheduler.settings.maxDeferrals {
            out = m.handle(Self.from("w1/a", Self.results([(1, 1, short)])), at: Self.t(t))
            t += 10
            out += m.handle(.tick, at: Self.t(t))
            t += 10
        }
        #expect(Self.leases(out, to: "w1/a").map { [$0.0, JobID($0.1)] } == [[1, 2]])
    }

    @Test func aStoreFarBehindPausesLeasingUntilItCatchesUp() {
        var m = Self.machine([Self.batch([(Self.job(1), 0), (Self.job(2), 0)])])
        var out = m.handle(.storeCommitted(durableResults: 0, backlog: m.settings.storeBacklogLimit), at: Self.t(5))
        #expect(m.storeBehind && Self.notices(out) == [.storeBehind(backlog: m.settings.storeBacklogLimit)])
        out = m.handle(Self.from("w1/a", Self.ready("w1", session: "a", slots: 2)), at: Self.t(10))
        #expect(Self.leases(out, to: "w1/a").isEmpty, "nothing is leased while the store is behind")
        out = m.handle(.storeCommitted(durableResults: 0, backlog: 10), at: Self.t(20))
        #expect(!m.storeBehind && Self.leases(out, to: "w1/a").map(\.0) == [1, 2])
    }

    @Test func aDrainWaitsForLeasedJobsUntilItsTimeout() {
        var m = Self.machine([Self.batch([(Self.job(1), 0), (Self.job(2), 0)])])
        _ = m.handle(Self.from("w1/a", Self.ready("w1", session: "a", slots: 1)), at: Self.t(0))
        var out = m.handle(.shutdown, at: Self.t(100))
        #expect(m.drainDeadline == MonotonicTime(milliseconds: 2100) && !Self.exits(out))
        // Results still count while draining, but nothing new is leased.
        out = m.handle(Self.from("w1/a", .heartbeat), at: Self.t(1000))
        #expect(Self.leases(out, to: "w1/a").isEmpty && !Self.exits(out))
        out = m.handle(.tick, at: Self.t(2099))
        #expect(!Self.exits(out))
        out = m.handle(.tick, at: Self.t(2100))
        #expect(Self.exits(out))
        #expect(Self.notices(out) == [.drainTimedOut(leased: 1)])
    }

    @Test func aDrainEndsAsSoonAsTheLastLeaseComesBack() {
        var m = Self.machine([Self.batch([(Self.job(1), 0), (Self.job(2), 0)])])
        _ = m.handle(Self.from("w1/a", Self.ready("w1", session: "a", slots: 1)), at: Self.t(0))
        _ = m.handle(.shutdown, at: Self.t(100))
        let out = m.handle(Self.from("w1/a", Self.results([(1, 1, Self.ok())])), at: Self.t(150))
        #expect(Self.exits(out) && m.meters.resultsApplied == 1)
        #expect(Self.leases(out, to: "w1/a").isEmpty)
    }

    // MARK: Resume, expiry, finishing

    @Test func aResumedRunServesOnlyWhatIsLeftWithTheAttemptsItHad() {
        let run = Self.batch([(Self.job(4), 1), (Self.job(5), 0)], done: [1, 2], failed: [3])
        var m = Self.machine([run])
        let out = m.handle(Self.from("w1/a", Self.ready("w1", session: "a", slots: 8)), at: Self.t(0))
        #expect(Self.leases(out, to: "w1/a").map { [$0.0, JobID($0.1)] } == [[4, 2], [5, 1]])
        let status = m.handle(Self.from("cli", .statusRequest), at: Self.t(1500))
        guard case .status(let reply, session: "c1") = Self.sent(status, to: "cli").first else { Issue.record("no status reply"); return }
        #expect(reply.runs.map { [$0.expected, $0.completed, $0.failed] } == [[5, 2, 1]])
        #expect(reply.leased == 2 && reply.uptimeSeconds == 1.5 && reply.workers.map(\.id) == ["w1"])
        // A result for a job finished in an earlier life is late, not applied again.
        let late = m.handle(Self.from("w1/a", Self.results([(1, 1, Self.ok())])), at: Self.t(1600))
        #expect(Self.events(late).map(\.kind) == [.resultDiscarded] && m.meters.resultsApplied == 0)
    }

    @Test func anOverdueLeaseIsCancelledAndASilentWorkersLeasesAreTakenBack() {
        // Lease grace is 2 s (twice the heartbeat, at least 2 s); at most 2 attempts.
        var m = Self.machine([Self.batch([(Self.job(1, timeout: 60_000), 0), (Self.job(2, timeout: 500), 0)])])
        _ = m.handle(Self.from("w1/a", Self.ready("w1", session: "a", slots: 2)), at: Self.t(0))
        _ = m.handle(Self.from("w1/a", .heartbeat), at: Self.t(2000))
        // Job 2's lease ends at 500 + 2000 ms: w1 still talks, so it is told to stop, and
        // the job goes out again as attempt 2.
        var out = m.handle(.tick, at: Self.t(2600))
        let cancels = Self.sent(out, to: "w1/a").compactMap { if case .cancel(let jobs, _) = $0 { return jobs } else { return nil } }
        #expect(cancels == [[2]])
        #expect(Self.events(out).map(\.kind) == [.leaseLost])
        #expect(Self.leases(out, to: "w1/a").map { [$0.0, JobID($0.1)] } == [[2, 2]])
        // w1 says nothing after t=2000: expired at 3 s of silence. Job 2 has used its two
        // attempts and fails; job 1 goes back to the queue.
        out = m.handle(.tick, at: Self.t(4999))
        #expect(Self.events(out).isEmpty)
        out = m.handle(.tick, at: Self.t(5000))
        #expect(Self.events(out).map(\.kind) == [.workerExpired, .leaseLost, .leaseLost, .jobFailed])
        #expect(m.scheduler.workerCount == 0 && m.scheduler.queuedCount == 1)
        #expect(m.scheduler.progress["r"]?.failed == 1)
    }

    @Test func aFinishedRunIsDurableBeforeItIsReportedAndTheCoordinatorExits() {
        var settings = Self.settings()
        settings.exitWhenDone = true
        var m = Self.machine([Self.batch([(Self.job(1), 0)])], settings: settings)
        _ = m.handle(Self.from("w1/a", Self.ready("w1", session: "a", slots: 1)), at: Self.t(0))
        let out = m.handle(Self.from("w1/a", Self.results([(1, 1, Self.ok())])), at: Self.t(10))
        let order = out.compactMap { d -> String? in
            switch d {
            case .store(let writes) where writes.contains { if case .runState(_, .finished, _) = $0 { return true } else { return false } }:
                return "finished"
            case .flushStore: return "flush"
            case .observe(.runFinished): return "observed"
            case .exit: return "exit"
            default: return nil
            }
        }
        #expect(order == ["finished", "flush", "observed", "flush", "exit"])
    }

    @Test func nothingToServeExitsAtStartWhenAskedTo() {
        var settings = Self.settings()
        settings.exitWhenDone = true
        var m = CoordinatorStateMachine(settings: settings, session: "c1", runs: [], jobIDs: 1..<2)
        #expect(Self.exits(m.handle(.start, at: Self.t(0))))
    }

    // MARK: A protocol run, end to end through the state machine

    @Test func aProtocolRunWritesItsExportsAndLogsItsSummaryBeforeItFinishes() throws {
        let config = try ProtocolDriverTests.config()
        var settings = Self.settings()
        settings.exitWhenDone = true
        let directory = ProtocolDriverTests.scratch()
        let run = ServedRun(id: "r", state: .running, config: config, exportDirectory: directory)
        var m = CoordinatorStateMachine(settings: settings, session: "c1", runs: [run], jobIDs: 1..<1_000_000)
        var out = m.handle(.start, at: Self.t(0))
        out += m.handle(Self.from("w1/a", Self.ready("w1", session: "a", slots: 64)), at: Self.t(1))
        var clock: Int64 = 2
        var exportsAsked = 0
        var summary: RunSummary?
        var exited = false
        while !exited {
            var answers: [(JobID, UInt32, JobOutcome)] = []
            var index = 0
            while index < out.count {
                let directive = out[index]
                index += 1
                switch directive {
                case .send(_, .jobs(let leases)):
                    for lease in leases {
                        let job = Job(id: lease.job.id, run: "r", kind: .llm, payload: lease.job.payload, timeoutMilliseconds: 1000)
                        answers.append((lease.job.id, lease.attempt, ProtocolDriverTests.outcome(job)))
                    }
                case .writeExports(let run, let dir, let files):
                    exportsAsked += 1
                    #expect(run == "r" && dir == directory && files.keys.sorted() == ["codream.jsonl", "proposals.jsonl", "tasks.jsonl", "trajectories.jsonl"])
                    out += m.handle(.exportsWritten(run, failure: nil), at: Self.t(clock))
                case .store(let writes):
                    for case .event(let e) in writes where e.kind == .protocolSummary { summary = RunSummary(json: e.detail) }
                case .exit:
                    exited = true
                default:
                    break
                }
            }
            if exited { break }
            clock += 1
            out = answers.isEmpty ? [] : m.handle(Self.from("w1/a", Self.results(answers)), at: Self.t(clock))
            #expect(clock < 1000, "the run does not finish")
            if clock >= 1000 { break }
        }
        #expect(exportsAsked == 3, "once per round")
        #expect(summary?.lines.first?.label == "rounds" && summary?.lines.first?.value.hasPrefix("3 of 3") == true)
    }

    /// A run whose stored config does not load here (say its intents file is elsewhere)
    /// is reported and left unfinished, not served as a plain batch and marked finished.
    @Test func aRunWhoseConfigDoesNotLoadIsReportedAndLeftUnfinished() {
        var run = Self.batch([(Self.job(1), 0)], config: nil)
        run.configProblem = "red_blue.intents_file: cannot read 'intents.jsonl'"
        var settings = Self.settings()
        settings.exitWhenDone = true
        var m = CoordinatorStateMachine(settings: settings, session: "c1", runs: [run], jobIDs: 10..<20)
        let out = m.handle(.start, at: Self.t(0))
        #expect(m.runs.unserved == ["r"])
        #expect(Self.notices(out).contains(.runNotServed("r", problem: "red_blue.intents_file: cannot read 'intents.jsonl'")), "\(Self.notices(out))")
        let states = out.flatMap { d -> [StoredRun.State] in
            guard case .store(let writes) = d else { return [] }
            return writes.compactMap { if case .runState(_, let state, _) = $0 { return state } else { return nil } }
        }
        #expect(states.isEmpty, "its state is left as it was")
        #expect(Self.exits(out))
        // A coordinator that keeps serving leases nothing of it.
        var serving = CoordinatorStateMachine(settings: Self.settings(), session: "c1", runs: [run], jobIDs: 10..<20)
        _ = serving.handle(.start, at: Self.t(0))
        #expect(Self.leases(serving.handle(Self.from("w1/a", Self.ready("w1", session: "a", slots: 4)), at: Self.t(1)), to: "w1/a").isEmpty)
    }

    @Test func aStoreThatCannotBeWrittenStopsTheCoordinatorAtOnce() {
        var m = Self.machine([Self.batch([(Self.job(1), 0), (Self.job(2), 0)])])
        _ = m.handle(Self.from("w1/a", Self.ready("w1", session: "a", slots: 1)), at: Self.t(0))
        let out = m.handle(.storeFailed("store batch of 3 writes failed: disk I/O error"), at: Self.t(10))
        #expect(Self.notices(out).contains(.storeFailed("store batch of 3 writes failed: disk I/O error")))
        #expect(Self.sent(out, to: "w1/a").contains { if case .disconnect = $0 { return true } else { return false } })
        #expect(Self.exits(out))
        #expect(m.handle(Self.from("w1/a", Self.results([(1, 1, Self.ok())])), at: Self.t(20)).isEmpty, "nothing more is applied")
    }

    /// A worker whose own policy refuses a job answers UNSUPPORTED: the job is offered to
    /// a worker that can run it instead of being stored as a result.
    @Test func anUnsupportedJobIsOfferedToAnotherWorker() {
        var m = Self.machine([Self.batch([(Self.job(1, kind: .llm), 0)])])
        var out = m.handle(Self.from("picky/a", Self.ready("picky", session: "a", slots: 1)), at: Self.t(0))
        #expect(Self.leases(out, to: "picky/a").map(\.0) == [1])
        let refused = JobOutcome(status: .unsupported, error: "endpoint e is not allowed on this worker")
        out = m.handle(Self.from("picky/a", Self.results([(1, 1, refused)])), at: Self.t(10))
        #expect(m.meters.resultsApplied == 0 && Self.events(out).map(\.kind) == [.jobUnsupported])
        out = m.handle(Self.from("able/b", Self.ready("able", session: "b", slots: 1)), at: Self.t(20))
        #expect(Self.leases(out, to: "able/b").map { [$0.0, JobID($0.1)] } == [[1, 2]])
        #expect(Self.leases(out, to: "picky/a").isEmpty)
    }

    // MARK: Job ids

    /// A crashed coordinator may have leased jobs the store never got: their ids must
    /// never be given again. Ids past the store's reservation go out only after it grows.
    @Test func jobIdsPastTheReservationAreReservedBeforeTheyAreLeased() throws {
        let run = ServedRun(id: "r", state: .running, config: try ProtocolDriverTests.config(),
                            exportDirectory: ProtocolDriverTests.scratch())
        // Ids 1...4 are reserved: round 1's four proposals.
        var m = CoordinatorStateMachine(settings: Self.settings(), session: "c1", runs: [run], jobIDs: 1..<5)
        let start = m.handle(.start, at: Self.t(0))
        #expect(!start.contains { if case .reserveJobIDs = $0 { return true } else { return false } })
        let leased = Self.leases(m.handle(Self.from("w1/a", Self.ready("w1", session: "a", slots: 64)), at: Self.t(1)), to: "w1/a")
        #expect(leased.map(\.0) == [1, 2, 3, 4])
        // The proposals answered, the driver makes solve jobs from id 5 on.
        let answers = leased.map { id, attempt -> (JobID, UInt32, JobOutcome) in
            let output = LLMJobOutput(text: "TASK: \(id) + 2", promptTokens: 1, completionTokens: 1, costUSD: 0)
            return (id, attempt, Self.ok(try! JSONEncoder().encode(output)))
        }
        let out = m.handle(Self.from("w1/a", Self.results(answers)), at: Self.t(2))
        let reserve = out.firstIndex { if case .reserveJobIDs = $0 { return true } else { return false } }
        let firstLease = out.firstIndex { if case .send(_, .jobs) = $0 { return true } else { return false } }
        guard let reserve, let firstLease else { Issue.record("no reservation or no lease: \(out)"); return }
        #expect(reserve < firstLease, "reserved before any new id is leased")
        if case .reserveJobIDs(let below) = out[reserve] {
            let newIDs = Self.leases(out, to: "w1/a").map(\.0)
            #expect(!newIDs.isEmpty && newIDs.allSatisfy { $0 >= 5 && $0 < below })
            // Reserved once, as the first proposal's three attempts (ids 5-7) passed the
            // ceiling: the other tasks' attempts go out within that block.
            #expect(below == 8 + JobID(RunBook.jobIDBlock))
        }
    }
}
