import CZeroMQ

/// The process's one ZeroMQ context (zguide: one context per process). Created on first
/// use; `terminate()` at exit lets lingering messages (a last DISCONNECT) leave.
public final class ZMQContext: @unchecked Sendable {
    public static let shared = ZMQContext()

    let handle: UnsafeMutableRawPointer

    private init() {
        guard let ctx = zmq_ctx_new() else { fatalError("zmq_ctx_new failed: \(ZMQError("zmq_ctx_new"))") }
        handle = ctx
    }

    /// Blocks until every socket is closed and its linger has passed.
    public func terminate() {
        while zmq_ctx_term(handle) != 0 && zmq_errno() == EINTR {}
    }
}
