import CZeroMQ
import Foundation
import Synchronization

/// Answers libzmq's authentication requests (ZAP, RFC 27) for the CURVE server sockets of
/// this process, on a thread of its own, with `ZapPolicy`. libzmq lets every client in
/// when nothing is bound at `inproc://zeromq.zap.01`, so `start()` must return before the
/// server socket binds.
///
/// The authorized keys are read again from `path` when it changes (checked at most once a
/// second), and `allow` adds keys held in memory only (the local workers of `coevo run`).
/// Contract: `start()` once, `stop()` once, last; `allow` from any thread.
public final class ZapHandler: Sendable {
    private struct State {
        var keys: AuthorizedKeys
        var extra: [CurvePublicKey: String] = [:]
        var checkedAt = Date.distantPast
        var modified: Date?
        var stop = false
        /// Bumped whenever the set of keys changes (a reload, an `allow`).
        var generation = 0
    }

    public let path: String?
    private let state: Mutex<State>
    private let log: @Sendable (String) -> Void
    private let finished = DispatchSemaphore(value: 0)

    /// `path`: a directory of `.pub` files or a file of keys (nil: only `allow`ed keys).
    /// Reads it now, so a broken file fails at start.
    public init(path: String?, log: @escaping @Sendable (String) -> Void) throws {
        self.path = path
        self.log = log
        let keys = try path.map(AuthorizedKeys.init(path:)) ?? AuthorizedKeys()
        state = Mutex(State(keys: keys, modified: path.flatMap(Self.modified)))
    }

    public var authorizedCount: Int { state.withLock { $0.keys.count + $0.extra.count } }

    /// Lets `key` in as well, for as long as this process runs.
    public func allow(_ key: CurvePublicKey, holder: String) {
        state.withLock { s in
            s.extra[key] = holder
            s.generation += 1
        }
    }

    public func start() throws {
        let ready = DispatchSemaphore(value: 0)
        let failure = Mutex<String?>(nil)
        let thread = Thread { [self] in
            guard let socket = try? ZMQSocket(type: ZMQ_REP) else {
                failure.withLock { $0 = "cannot make the ZAP socket" }
                ready.signal()
                finished.signal()
                return
            }
            do {
                try socket.bind("inproc://zeromq.zap.01")
            } catch {
                failure.withLock { $0 = "cannot bind the ZAP handler: \(error)" }
                socket.close(lingerMilliseconds: 0)
                ready.signal()
                finished.signal()
                return
            }
            ready.signal()
            serve(socket)
            socket.close(lingerMilliseconds: 0)
            finished.signal()
        }
        thread.name = "coevo-zap"
        thread.start()
        ready.wait()
        if let why = failure.withLock({ $0 }) { throw CurveKeyError(why) }
    }

    public func stop() {
        state.withLock { $0.stop = true }
        finished.wait()
    }

    private func serve(_ socket: ZMQSocket) {
        while !state.withLock({ $0.stop }) {
            guard let frames = socket.receive(timeoutMilliseconds: 200) else { continue }
            reloadIfChanged()
            var decision = ZapPolicy.decide(frames, keys: merged())
            // A key added a moment ago: look at the file now, not at the next scheduled check.
            if !decision.accepted {
                reloadIfChanged(force: true)
                decision = ZapPolicy.decide(frames, keys: merged())
            }
            _ = socket.send(decision.reply)
            if !decision.accepted { log(decision.line) }
        }
    }

    /// The authorized keys when they changed since `generation` (0 at start), with the
    /// generation they are; nil when they did not. The coordinator's shell asks on its
    /// ticks, so a key withdrawn while its worker is connected is noticed without a new
    /// handshake; the keys are copied only when they changed.
    public func changes(since generation: Int) -> (generation: Int, keys: AuthorizedKeys)? {
        reloadIfChanged()
        guard state.withLock({ $0.generation }) != generation else { return nil }
        return state.withLock { s in (s.generation, merged(s)) }
    }

    /// Reads the allow-list again if the file or directory changed: checked at most once
    /// a second unless `force`d.
    private func reloadIfChanged(force: Bool = false) {
        let now = Date()
        let (due, known) = state.withLock { s -> (Bool, Date?) in
            let due = force || now.timeIntervalSince(s.checkedAt) >= 1
            if due { s.checkedAt = now }
            return (due, s.modified)
        }
        if due, let path, let modified = Self.modified(path), modified != known {
            do {
                let fresh = try AuthorizedKeys(path: path)
                state.withLock { $0.keys = fresh; $0.modified = modified; $0.generation += 1 }
                log("authorized keys reloaded from \(path): \(fresh.count) key(s)")
            } catch {
                log("authorized keys not reloaded, the previous ones stay: \(error)")
                state.withLock { $0.modified = modified }
            }
        }
    }

    /// The keys from the allow-list and those `allow`ed.
    private func merged() -> AuthorizedKeys { state.withLock { merged($0) } }

    private func merged(_ s: State) -> AuthorizedKeys {
        var keys = s.keys
        for (key, holder) in s.extra { keys.add(key, holder: holder) }
        return keys
    }

    private static func modified(_ path: String) -> Date? {
        (try? FileManager.default.attributesOfItem(atPath: path))?[.modificationDate] as? Date
    }
}
