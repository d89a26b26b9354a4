import CZeroMQ
import Foundation
import Glibc
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
        /// What the allow-list looked like when last read (`fingerprint`).
        var modified: String?
        var stop = false
        /// Refusals logged in the current minute, and those only counted.
        var refusalWindow = Date.distantPast
        var refusalsLogged = 0
        var refusalsUnlogged = 0
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
        state = Mutex(State(keys: keys, modified: path.flatMap(Self.fingerprint)))
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
            if !decision.accepted { logRefusal(decision.line) }
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
    /// a second, or four times a second when `force`d (each refused handshake forces one,
    /// and a flood of them must not become a flood of directory reads).
    private func reloadIfChanged(force: Bool = false) {
        let now = Date()
        let (due, known) = state.withLock { s -> (Bool, String?) in
            let due = now.timeIntervalSince(s.checkedAt) >= (force ? 0.25 : 1)
            if due { s.checkedAt = now }
            return (due, s.modified)
        }
        if due, let path, let modified = Self.fingerprint(path), modified != known {
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

    /// The most refusals logged a minute: a flood of handshakes from strangers costs the log
    /// a few lines and a count, not a line each.
    static let refusalsLoggedPerMinute = 20

    private func logRefusal(_ line: String) {
        let now = Date()
        let (say, unlogged) = state.withLock { s -> (Bool, Int) in
            var unlogged = 0
            if now.timeIntervalSince(s.refusalWindow) >= 60 {
                unlogged = s.refusalsUnlogged
                s.refusalWindow = now
                s.refusalsLogged = 0
                s.refusalsUnlogged = 0
            }
            let say = s.refusalsLogged < Self.refusalsLoggedPerMinute
            if say { s.refusalsLogged += 1 } else { s.refusalsUnlogged += 1 }
            return (say, unlogged)
        }
        if unlogged > 0 { log("\(unlogged) more CURVE handshakes refused in the minute before (not logged one by one)") }
        if say { log(line) }
    }

    /// The keys from the allow-list and those `allow`ed.
    private func merged() -> AuthorizedKeys { state.withLock { merged($0) } }

    private func merged(_ s: State) -> AuthorizedKeys {
        var keys = s.keys
        for (key, holder) in s.extra { keys.add(key, holder: holder) }
        return keys
    }

    /// The allow-list's inode, size and modification time, and each of its files' when it
    /// is a directory: a `.pub` rewritten in place (as `scp` does) changes its file's, not
    /// the directory's.
    static func fingerprint(_ path: String) -> String? {
        func stamp(_ path: String) -> String? {
            var info = stat()
            guard stat(path, &info) == 0 else { return nil }
            return "\(info.st_ino):\(info.st_size):\(info.st_mtim.tv_sec).\(info.st_mtim.tv_nsec)"
        }
        guard let own = stamp(path) else { return nil }
        let names = (try? FileManager.default.contentsOfDirectory(atPath: path))?.sorted() ?? []
        return ([own] + names.map { "\($0)=\(stamp((path as NSString).appendingPathComponent($0)) ?? "-")" }).joined(separator: " ")
    }
}
