import CoevoCore
import CoevoWire
import Foundation

/// Who is on which route: each registered worker's routing id (it changes when the
/// worker restarts) and the CURVE key it joined with, the ids each key has claimed for
/// the coordinator's life, the allow-list once it has changed, and when each worker was
/// last sent something. Pure: it answers and records, the state machine acts.
struct PeerRegistry {
    private var workers: [Data: WorkerID] = [:]
    private var routes: [WorkerID: Data] = [:]
    private var lastSent: [WorkerID: MonotonicTime] = [:]
    /// The key each registered worker joined with: its id and route are its own.
    private var owners: [WorkerID: CurvePublicKey] = [:]
    /// The key each worker id first registered with, kept after it leaves: while its owner
    /// restarts, another authorized key cannot take the id (and the leases it would get).
    private var claims: [WorkerID: CurvePublicKey] = [:]
    /// The keys the allow-list holds, once it has changed while running (nil before: the
    /// ZAP handler let in only authorized keys).
    private var authorized: Set<CurvePublicKey>?

    /// `claims`: the ids earlier lives of the coordinator saw registered, with their keys.
    init(claims: [WorkerID: CurvePublicKey] = [:]) { self.claims = claims }

    /// Whether READY from `key` may take `worker`'s id.
    enum Claim: Equatable {
        case free
        /// A live worker registered the id with another key.
        case heldByLiveWorker
        /// The id's first key is another one (its owner may be restarting).
        case claimedByAnotherKey
    }

    func worker(at routing: Data) -> WorkerID? { workers[routing] }
    func route(of worker: WorkerID) -> Data? { routes[worker] }

    /// False for a key withdrawn from the allow-list after its connection was made (ZAP
    /// asks only at the handshake).
    func admits(_ key: CurvePublicKey?) -> Bool {
        guard let key, let authorized else { return true }
        return authorized.contains(key)
    }

    /// Whether a message from `key` on `worker`'s route is the worker's own.
    func isOwn(_ worker: WorkerID, key: CurvePublicKey?) -> Bool { owners[worker] == key }

    /// `live`: the scheduler holds a live registration for `worker`.
    func claim(_ worker: WorkerID, by key: CurvePublicKey?, live: Bool) -> Claim {
        if live, owners[worker] != key { return .heldByLiveWorker }
        if let claimed = claims[worker], claimed != key { return .claimedByAnotherKey }
        return .free
    }

    /// A registered worker is reached at `routing` from now on, and its id is `key`'s.
    /// Returns true when that claim is new (to be stored).
    mutating func bind(_ worker: WorkerID, to routing: Data, key: CurvePublicKey?) -> Bool {
        if let old = routes[worker], old != routing { workers[old] = nil }
        workers[routing] = worker
        routes[worker] = routing
        owners[worker] = key
        guard let key, claims[worker] != key else { return false }
        claims[worker] = key
        return true
    }

    /// A restarted worker's old route stops answering for it (its new one is bound next).
    mutating func retireRoute(of worker: WorkerID) {
        if let old = routes[worker] { workers[old] = nil }
    }

    /// The worker's route, key and send time are forgotten; the key's claim stays.
    mutating func forget(_ worker: WorkerID) {
        if let routing = routes.removeValue(forKey: worker) { workers[routing] = nil }
        lastSent[worker] = nil
        owners[worker] = nil
    }

    /// The allow-list changed: claims of withdrawn keys are given back (a node that made a
    /// new key keeps its name). Returns the ids given back, and the registered workers
    /// whose key was withdrawn, by id, for the machine to drop.
    mutating func authorize(_ keys: Set<CurvePublicKey>) -> (released: [WorkerID], withdrawn: [(worker: WorkerID, key: CurvePublicKey)]) {
        authorized = keys
        let released = claims.filter { !keys.contains($0.value) }.keys.sorted()
        for worker in released { claims[worker] = nil }
        return (released, owners.filter { !keys.contains($0.value) }.sorted { $0.key < $1.key }.map { ($0.key, $0.value) })
    }

    mutating func sent(to worker: WorkerID, at time: MonotonicTime) { lastSent[worker] = time }

    /// Nothing was sent to `worker` for `interval` ms: it is owed a heartbeat.
    func heartbeatDue(_ worker: WorkerID, now: MonotonicTime, interval: Int64) -> Bool {
        now - (lastSent[worker] ?? .zero) >= interval
    }
}
