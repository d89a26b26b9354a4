import CoevoCore
import CoevoWire
import Foundation

/// How the coordinator handles what peers send: who may register under which id, which
/// messages it accepts from whom, and what a peer that misbehaves gets.
extension CoordinatorStateMachine {
    mutating func refuse(_ routing: Data, _ problem: MalformedMessage) {
        switch problem {
        case .frameCount(let count):
            if strike(routing, .badFrameCount(peer: Self.printable(routing), frames: count)) {
                reply(routing, .malformed, "expected exactly one frame holding an Envelope, got \(count)")
            }
        case .undecodable(let error):
            if strike(routing, .undecodable(peer: Self.printable(routing), error)) {
                reply(routing, error.refusal, error.description)
            }
        }
    }

    /// Counts a bad message against `routing`; true when it is to be answered (then it
    /// has been noticed), false when a flood from this peer is only counted.
    mutating func strike(_ routing: Data, _ notice: @autoclosure () -> CoordinatorNotice) -> Bool {
        switch conduct.strike(routing, now: now.monotonic) {
        case .report:
            out.notice(notice())
            return true
        case .quiet:
            return false
        case .nowIgnored:
            out.notice(.peerIgnored(peer: Self.printable(routing), last: notice()))
            record(.peerIgnored, worker: peers.worker(at: routing)?.rawValue,
                   detail: "\(Self.printable(routing)): more than \(PeerConduct.strikesBeforeIgnoring) bad messages within \(PeerConduct.windowMilliseconds / 1000) s")
            return false
        }
    }

    mutating func handle(_ message: WorkerMessage, from routing: Data, key: CurvePublicKey?, applied: inout [JobID]) {
        if !peers.admits(key), let key {
            // Its connection predates the withdrawal (ZAP asks only at the handshake).
            _ = strike(routing, .withdrawnKeySpoke(peer: Self.printable(routing), key: key))
            return
        }
        if case .ready(let hello) = message {
            register(hello, routing: routing, key: key)
            return
        }
        if case .statusRequest = message {
            out.append(.send(to: routing, .status(meters.summary(progress, at: now.monotonic), session: session)))
            return
        }
        guard let worker = peers.worker(at: routing), scheduler.heard(from: worker, now: now.monotonic) else {
            if strike(routing, .unregisteredPeer(peer: Self.printable(routing))) {
                reply(routing, .unknownWorker, "this coordinator does not know you: send READY first")
            }
            return
        }
        guard peers.isOwn(worker, key: key) else {
            // Someone who knows this worker's routing id connected under it with another
            // key and took the route over (ROUTER_HANDOVER, which reconnects need). The
            // worker is dropped, its leases requeued: the real one rejoins when it
            // reconnects, and nothing from the other key is ever applied.
            out.notice(.routeClaimed(worker, by: key))
            record(.routeClaimed, worker: worker.rawValue, detail: "key \(key.map { "\($0)" } ?? "none")")
            drop(worker)
            _ = conduct.strike(routing, now: now.monotonic)
            return
        }
        switch message {
        case .heartbeat:
            meters.heartbeatsReceived += 1
        case .results(let reports):
            for report in reports { apply(report, from: worker, routing: routing, applied: &applied) }
        case .disconnect(let reason):
            out.notice(.workerDisconnected(worker, reason: reason))
            drop(worker)
            record(.workerLeft, worker: worker.rawValue, detail: reason)
        case .ready, .statusRequest, .coordinatorOnly:
            out.notice(.unexpectedMessage(worker))
            reply(routing, .unexpectedMessage, "a coordinator accepts READY, HEARTBEAT, RESULTS, DISCONNECT and STATUS_REQUEST only")
        }
    }

    private mutating func register(_ ready: WorkerHello, routing: Data, key: CurvePublicKey?) {
        guard !ready.workerID.isEmpty, ready.workerID.utf8.count <= 255, !ready.session.isEmpty else {
            if strike(routing, .unusableReady(peer: Self.printable(routing))) {
                reply(routing, .invalidReady, "READY needs a non-empty worker_id (at most 255 bytes) and a non-empty session")
            }
            return
        }
        let worker = WorkerID(ready.workerID)
        switch peers.claim(worker, by: key, live: scheduler.session(of: worker) != nil) {
        case .heldByLiveWorker:
            // A registered worker's id belongs to the key it joined with, whatever session
            // the newcomer names: READY cannot take over its route or its leases.
            if strike(routing, .idHeldByAnotherKey(peer: Self.printable(routing), worker)) {
                reply(routing, .duplicateWorker, "worker id '\(worker)' is held by a live worker with another key; give this worker another --id")
                record(.workerRefused, worker: worker.rawValue, detail: "id held by another key")
            }
            return
        case .claimedByAnotherKey:
            // Away (restarting, say), its id is still its key's.
            if strike(routing, .idBelongsToAnotherKey(peer: Self.printable(routing), worker)) {
                reply(routing, .duplicateWorker, "worker id '\(worker)' belongs to the key that first registered it; give this worker another --id")
                record(.workerRefused, worker: worker.rawValue, detail: "id belongs to another key")
            }
            return
        case .free:
            break
        }
        let kinds = Set(ready.capabilities.map { JobKind($0) })
        // A grade carries the grader's files: only a worker whose key the run trusts with them gets one.
        var withheld: Set<JobKind> = []
        if let graders = settings.graderKeys, !(key.map(graders.contains) ?? false) {
            withheld.insert(.discoveryGrade)
            out.notice(.gradesWithheld(worker))
        }
        switch scheduler.register(worker, session: ready.session, slots: Int(ready.slots), now: now.monotonic, kinds: kinds, withheld: withheld) {
        case .duplicate:
            out.notice(.duplicateWorker(peer: Self.printable(routing), worker))
            // The live worker's session stays out of the reply: with it, READY could take
            // over that worker's route and leases.
            reply(routing, .duplicateWorker, "worker id '\(worker)' is already used by a live worker; give this worker another --id")
            record(.workerRefused, worker: worker.rawValue, detail: "duplicate id")
            return
        case .accepted:
            out.notice(.workerJoined(worker, ready))
            // With the key, every result is traceable to the key that sent it: an id belongs to
            // one key for the coordinator's life (`PeerRegistry`'s claims).
            record(.workerJoined, worker: worker.rawValue, detail: "slots=\(ready.slots) host=\(ready.hostname) pid=\(ready.pid)"
                   + (key.map { " key=\($0)" } ?? ""))
            if scheduler.workersAwaited > 0 {
                out.notice(.awaitingWorkers(scheduler.workersAwaited))
            }
        case .resumed:
            out.notice(.workerRegisteredAgain(worker, slots: ready.slots))
        case .replaced(let events):
            out.notice(.workerRestarted(worker))
            peers.retireRoute(of: worker)
            carryOut(events)
            record(.workerJoined, worker: worker.rawValue, detail: "replaced an expired process; slots=\(ready.slots)" + (key.map { " key=\($0)" } ?? ""))
        }
        if peers.bind(worker, to: routing, key: key), let key {
            out.store(.workerClaimed(worker, key: key.z85))
        }
        send(to: worker, .welcome(session: session, heartbeatIntervalMilliseconds: UInt32(settings.heartbeatIntervalMilliseconds),
                                  liveness: UInt32(settings.liveness)))
    }

    /// Ends a worker's registration now: its route and key are forgotten and its leases
    /// requeued (or failed, past their attempts).
    mutating func drop(_ worker: WorkerID) {
        peers.forget(worker)
        carryOut(scheduler.disconnect(worker))
    }

    mutating func send(to worker: WorkerID, _ message: CoordinatorMessage) {
        guard let routing = peers.route(of: worker) else { return }
        out.append(.send(to: routing, message))
        peers.sent(to: worker, at: now.monotonic)
    }

    mutating func reply(_ routing: Data, _ refusal: PeerRefusal, _ message: String, job: JobID = 0) {
        out.append(.send(to: routing, .refusal(refusal, message, job: job)))
    }

    /// A routing id for a log line. A worker's is `<id>/<session>`, and its session is
    /// what READY would need to take its place: only the id is ever shown.
    static func printable(_ routing: Data) -> String {
        if let text = String(data: routing, encoding: .utf8), text.allSatisfy({ !$0.isASCII || ($0.isLetter || $0.isNumber || "-_./:".contains($0)) }) {
            return text.split(separator: "/", maxSplits: 1, omittingEmptySubsequences: false).count == 2
                ? String(text.prefix { $0 != "/" }) + "/(session withheld)" : text
        }
        return "0x" + routing.prefix(8).map { String(format: "%02x", $0) }.joined() + (routing.count > 8 ? "..." : "")
    }
}
