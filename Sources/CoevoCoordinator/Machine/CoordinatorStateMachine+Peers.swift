import CoevoCore
import CoevoWire
import Foundation
import Logging

/// How the coordinator handles what peers send: who may register under which id, which
/// messages it accepts from whom, and what a peer that misbehaves gets.
extension CoordinatorStateMachine {
    mutating func refuse(_ routing: Data, _ problem: MalformedMessage) {
        switch problem {
        case .frameCount(let count):
            if strike(routing, .warning, "peer \(Self.printable(routing)) sent \(count) frames; expected exactly 1 envelope frame") {
                reply(routing, .malformed, "expected exactly one frame holding an Envelope, got \(count)")
            }
        case .undecodable(let error):
            if strike(routing, .warning, "peer \(Self.printable(routing)): \(error)") {
                reply(routing, error.code, error.description)
            }
        }
    }

    /// Counts a bad message against `routing`; true when it is to be answered (then it
    /// has been logged), false when a flood from this peer is only counted.
    mutating func strike(_ routing: Data, _ level: Logger.Level, _ line: @autoclosure () -> String) -> Bool {
        switch conduct.strike(routing, now: now.monotonic) {
        case .report:
            out.log(level, line())
            return true
        case .quiet:
            return false
        case .nowIgnored:
            let why = "more than \(PeerConduct.strikesBeforeIgnoring) bad messages within \(PeerConduct.windowMilliseconds / 1000) s"
            out.log(.warning, "ignoring peer \(Self.printable(routing)) for \(PeerConduct.ignoreMilliseconds / 1000) s: \(why) (last: \(line()))")
            record(.peerIgnored, worker: peers.worker(at: routing)?.rawValue, detail: "\(Self.printable(routing)): \(why)")
            return false
        }
    }

    mutating func handle(_ body: Envelope.OneOf_Body, from routing: Data, key: CurvePublicKey?, applied: inout [JobID]) {
        if !peers.admits(key), let key {
            // Its connection predates the withdrawal (ZAP asks only at the handshake).
            _ = strike(routing, .warning, "message from withdrawn key \(key) (\(Self.printable(routing))) ignored")
            return
        }
        if case .ready(let ready) = body {
            register(ready, routing: routing, key: key)
            return
        }
        if case .statusRequest = body {
            out.append(.send(to: routing, .statusReply(status())))
            return
        }
        guard let worker = peers.worker(at: routing), scheduler.heard(from: worker, now: now.monotonic) else {
            if strike(routing, .info, "message from unregistered peer \(Self.printable(routing)); asking it to send READY") {
                reply(routing, .unknownWorker, "this coordinator does not know you: send READY first")
            }
            return
        }
        guard peers.isOwn(worker, key: key) else {
            // Someone who knows this worker's routing id connected under it with another
            // key and took the route over (ROUTER_HANDOVER, which reconnects need). The
            // worker is dropped, its leases requeued: the real one rejoins when it
            // reconnects, and nothing from the other key is ever applied.
            out.log(.warning, "a message on worker \(worker)'s route came from key \(key.map { "\($0)" } ?? "none"), not the key it joined with: its route is dropped and its leases requeued")
            record(.routeClaimed, worker: worker.rawValue, detail: "key \(key.map { "\($0)" } ?? "none")")
            drop(worker)
            _ = conduct.strike(routing, now: now.monotonic)
            return
        }
        switch body {
        case .heartbeat:
            meters.heartbeatsReceived += 1
        case .results(let batch):
            for result in batch.results { apply(result, from: worker, routing: routing, applied: &applied) }
        case .disconnect(let goodbye):
            out.log(.info, "worker \(worker) disconnected: \(goodbye.reason)")
            drop(worker)
            record(.workerLeft, worker: worker.rawValue, detail: goodbye.reason)
        default:
            out.log(.warning, "worker \(worker) sent a message a coordinator never accepts")
            reply(routing, .unexpectedMessage, "a coordinator accepts READY, HEARTBEAT, RESULTS, DISCONNECT and STATUS_REQUEST only")
        }
    }

    private mutating func register(_ ready: ReadyMessage, routing: Data, key: CurvePublicKey?) {
        guard !ready.workerID.isEmpty, ready.workerID.utf8.count <= 255, !ready.session.isEmpty else {
            if strike(routing, .warning, "peer \(Self.printable(routing)) sent an unusable READY (worker_id and session must be non-empty, id at most 255 bytes)") {
                reply(routing, .invalidReady, "READY needs a non-empty worker_id (at most 255 bytes) and a non-empty session")
            }
            return
        }
        let worker = WorkerID(ready.workerID)
        switch peers.claim(worker, by: key, live: scheduler.session(of: worker) != nil) {
        case .heldByLiveWorker:
            // A registered worker's id belongs to the key it joined with, whatever session
            // the newcomer names: READY cannot take over its route or its leases.
            if strike(routing, .warning, "refused READY from \(Self.printable(routing)): worker id '\(worker)' is held by another key") {
                reply(routing, .duplicateWorker, "worker id '\(worker)' is held by a live worker with another key; give this worker another --id")
                record(.workerRefused, worker: worker.rawValue, detail: "id held by another key")
            }
            return
        case .claimedByAnotherKey:
            // Away (restarting, say), its id is still its key's.
            if strike(routing, .warning, "refused READY from \(Self.printable(routing)): worker id '\(worker)' belongs to another key") {
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
            out.log(.info, "worker \(worker) gets no discovery.grade jobs: its key is not among coordinator.grader_keys")
        }
        switch scheduler.register(worker, session: ready.session, slots: Int(ready.slots), now: now.monotonic, kinds: kinds, withheld: withheld) {
        case .duplicate:
            out.log(.warning, "refused READY from \(Self.printable(routing)): worker id '\(worker)' is in use by a live worker")
            // The live worker's session stays out of the reply: with it, READY could take
            // over that worker's route and leases.
            reply(routing, .duplicateWorker, "worker id '\(worker)' is already used by a live worker; give this worker another --id")
            record(.workerRefused, worker: worker.rawValue, detail: "duplicate id")
            return
        case .accepted:
            out.log(.info, "worker \(worker) joined: \(ready.slots) slots, host \(ready.hostname), pid \(ready.pid), kinds \(ready.capabilities.joined(separator: ","))")
            // With the key, every result is traceable to the key that sent it: an id belongs to
            // one key for the coordinator's life (`PeerRegistry`'s claims).
            record(.workerJoined, worker: worker.rawValue, detail: "slots=\(ready.slots) host=\(ready.hostname) pid=\(ready.pid)"
                   + (key.map { " key=\($0)" } ?? ""))
            if scheduler.workersAwaited > 0 {
                out.log(.info, "waiting for \(scheduler.workersAwaited) more worker(s) before leasing jobs (coordinator.min_workers)")
            }
        case .resumed:
            out.log(.debug, "worker \(worker) registered again (slots \(ready.slots))")
        case .replaced(let events):
            out.log(.info, "worker \(worker) restarted (new session); its previous process's jobs are requeued")
            peers.retireRoute(of: worker)
            carryOut(events)
            record(.workerJoined, worker: worker.rawValue, detail: "replaced an expired process; slots=\(ready.slots)" + (key.map { " key=\($0)" } ?? ""))
        }
        if peers.bind(worker, to: routing, key: key), let key {
            out.store(.workerClaimed(worker, key: key.z85))
        }
        var welcome = WelcomeMessage()
        welcome.coordinatorSession = session
        welcome.heartbeatIntervalMs = UInt32(settings.heartbeatIntervalMilliseconds)
        welcome.liveness = UInt32(settings.liveness)
        send(to: worker, .welcome(welcome))
    }

    /// Ends a worker's registration now: its route and key are forgotten and its leases
    /// requeued (or failed, past their attempts).
    mutating func drop(_ worker: WorkerID) {
        peers.forget(worker)
        carryOut(scheduler.disconnect(worker))
    }

    mutating func send(to worker: WorkerID, _ body: Envelope.OneOf_Body) {
        guard let routing = peers.route(of: worker) else { return }
        out.append(.send(to: routing, body))
        peers.sent(to: worker, at: now.monotonic)
    }

    mutating func reply(_ routing: Data, _ code: WireErrorCode, _ message: String, job: UInt64 = 0) {
        var error = ErrorMessage()
        error.code = code
        error.message = message
        error.jobID = job
        out.append(.send(to: routing, .error(error)))
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
