import CZeroMQ
import CoevoCore
import Foundation
import Glibc
import Synchronization

/// The one thread that owns a process's ZeroMQ socket (zguide: sockets are not
/// thread-safe) and runs its owner's shell. It polls the socket and a wakeup pipe with a
/// timeout set by the next deadline the owner asked for, and hands every event to the
/// handler given to `serve(_:)` on this same thread: what arrives, the deadline ticks and
/// what other threads `post`. What the handler sends goes out before the next poll.
///
/// Why the shell runs here rather than on a task: a message that crosses from this thread
/// to the cooperative pool and back pays two thread wake-ups each way, which was most of
/// a dispatch round trip (docs/ARCHITECTURE.md, "Sockets"). Reading stops while
/// the handler works, so a flood waits in libzmq's fair per-peer queues (bounded by the
/// receive high-water mark, then TCP), not in this process.
///
/// Nothing here decides anything: the coordinator and worker state machines do, and this
/// shell only moves bytes. It never blocks the cooperative thread pool.
///
/// Contract: `start()` once, before anything else; `serve(_:)` once; `send`, `post`,
/// `wake(at:)` and `reopen()` from any thread, the handler's included; `stop()` last.
public final class SocketLoop<Posted: Sendable>: Sendable {
    public enum Event {
        /// Whole multipart messages, in arrival order (a ROUTER's start with the routing id).
        case messages([InboundMessage])
        /// The deadline set with `wake(at:)` passed.
        case tick(MonotonicTime)
        /// A ROUTER message whose peer is gone (ROUTER_MANDATORY); carries the routing id.
        case unroutable(Data)
        /// A transport event worth a log line (a peer's connection closed or failed its handshake).
        case transport(TransportEvent)
        /// The socket could not be (re)opened or a send had to be dropped.
        case socketError(String)
        /// What `post(_:)` handed in, in the order posted; handled before the next poll.
        case posted(Posted)
    }

    /// Runs on the loop's thread for every event; returns false to end the loop.
    public typealias Handler = (Event) -> Bool

    /// Carries the handler to the loop's thread: `serve(_:)` takes it `sending`, so nothing
    /// else holds it, but the compiler cannot see that through the lock.
    private struct HandlerTransfer: @unchecked Sendable {
        let handler: Handler
    }

    /// Builds the socket on the loop's thread: type, options, bind or connect.
    public typealias SocketFactory = @Sendable () throws -> ZMQSocket

    private struct Shared {
        var outbox: [[Data]] = []
        var posted: [Posted] = []
        var reopenRequested = false
        var stopRequested = false
        var deadline: MonotonicTime?
        /// Handed from `serve(_:)` to the loop's thread.
        var handler: HandlerTransfer?
        /// Resumed when the loop has ended; `ended` says it already has.
        var waiter: CheckedContinuation<Void, Never>?
        var ended = false
    }

    private let shared = Mutex(Shared())
    private let factory: SocketFactory
    private let name: String
    private let monitorTransport: Bool
    private let lingerMilliseconds: Int32
    /// Wakeup pipe: writing a byte interrupts zmq_poll.
    private let wakeRead: Int32
    private let wakeWrite: Int32
    /// Signalled by `serve(_:)` (or `stop()`): the loop reads nothing before it has a handler.
    private let served = DispatchSemaphore(value: 0)
    private let finished = DispatchGroup()
    /// The loop thread's id: a send or post from the handler needs no wakeup, since the
    /// loop looks at what is queued before it polls again.
    private let loopThread = Atomic<UInt>(0)

    public init(name: String, monitorTransport: Bool = false, lingerMilliseconds: Int32 = 1000,
                factory: @escaping SocketFactory) {
        self.name = name
        self.factory = factory
        self.monitorTransport = monitorTransport
        self.lingerMilliseconds = lingerMilliseconds
        var fds: [Int32] = [0, 0]
        guard pipe(&fds) == 0 else { fatalError("pipe failed: errno \(errno)") }
        for fd in fds {
            _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK)
            _ = fcntl(fd, F_SETFD, FD_CLOEXEC)
        }
        wakeRead = fds[0]
        wakeWrite = fds[1]
    }

    deinit {
        Glibc.close(wakeRead)
        Glibc.close(wakeWrite)
    }

    /// Starts the thread and waits until the socket exists; throws what the factory threw
    /// (an address in use, a malformed endpoint), so a bad bind fails at start. Peers can
    /// connect from here on; what they send waits in libzmq until `serve(_:)`.
    public func start() throws {
        let ready = DispatchSemaphore(value: 0)
        let failure = Mutex<(any Error)?>(nil)
        finished.enter()
        let thread = Thread { [self] in
            defer { finished.leave() }
            loopThread.store(UInt(pthread_self()), ordering: .relaxed)
            let socket: ZMQSocket
            do {
                socket = try factory()
            } catch {
                failure.withLock { $0 = error }
                ready.signal()
                end()
                return
            }
            ready.signal()
            served.wait()
            if let transfer = shared.withLock({ $0.handler.take() }) {
                run(socket: socket, handler: transfer.handler)
            } else {
                socket.close(lingerMilliseconds: 0)
            }
            end()
        }
        thread.name = name
        thread.start()
        ready.wait()
        if let error = failure.withLock({ $0 }) { throw error }
    }

    /// Runs `handler` on the loop's thread for every event until it returns false or
    /// `stop()` is called; returns once what was queued is sent and the socket closed.
    public func serve(_ handler: sending @escaping Handler) async {
        let transfer = HandlerTransfer(handler: handler)
        shared.withLock { $0.handler = transfer }
        await withCheckedContinuation { (waiter: CheckedContinuation<Void, Never>) in
            let ended = shared.withLock { s in
                if !s.ended { s.waiter = waiter }
                return s.ended
            }
            if ended { waiter.resume() } else { served.signal() }
        }
    }

    /// Queues one multipart message for sending.
    public func send(_ frames: [Data]) {
        shared.withLock { $0.outbox.append(frames) }
        wake()
    }

    /// Queues several messages with one lock and one wakeup.
    public func send(batch: [[Data]]) {
        guard !batch.isEmpty else { return }
        shared.withLock { $0.outbox.append(contentsOf: batch) }
        wake()
    }

    /// Hands `item` to the handler, on the loop's thread, before it polls again.
    public func post(_ item: Posted) {
        shared.withLock { $0.posted.append(item) }
        wake()
    }

    /// Delivers `.tick` once `time` passes. Replaces the previous deadline.
    public func wake(at time: MonotonicTime) {
        shared.withLock { $0.deadline = time }
        wake()
    }

    /// Closes the socket and builds a fresh one with the factory (a worker's reconnect).
    /// Messages queued before the call are sent on the old socket first.
    public func reopen() {
        shared.withLock { $0.reopenRequested = true }
        wake()
    }

    /// Sends what is queued, closes the socket with its linger and waits for the thread to
    /// finish; `serve(_:)` returns. Safe to call again, or after the handler ended the loop.
    public func stop() {
        shared.withLock { $0.stopRequested = true }
        served.signal()
        wake()
        finished.wait()
    }

    private func wake() {
        if pthread_self() == pthread_t(loopThread.load(ordering: .relaxed)) { return }
        var byte: UInt8 = 1
        _ = Glibc.write(wakeWrite, &byte, 1)
    }

    /// The thread is done: `serve(_:)` returns, later calls of it return at once.
    private func end() {
        shared.withLock { s in
            s.ended = true
            return s.waiter.take()
        }?.resume()
    }

    // MARK: The loop thread

    private func run(socket initial: ZMQSocket, handler: Handler) {
        var socket: ZMQSocket? = initial
        var monitor = monitorTransport ? TransportMonitor.open(on: initial) : nil
        var drain = [UInt8](repeating: 0, count: 256)
        var items = [zmq_pollitem_t](repeating: zmq_pollitem_t(), count: 3)
        /// False once the handler has asked to end: nothing more is delivered.
        var serving = true
        func deliver(_ event: Event) {
            if serving { serving = handler(event) }
        }

        while true {
            let (outbox, posted, reopen, stopping, deadline) = shared.withLock { s in
                defer {
                    s.outbox.removeAll(keepingCapacity: true)
                    s.posted.removeAll(keepingCapacity: true)
                    s.reopenRequested = false
                }
                return (s.outbox, s.posted, s.reopenRequested, s.stopRequested, s.deadline)
            }
            if let socket { sendAll(outbox, on: socket, deliver) }
            if !posted.isEmpty && serving && !stopping {
                for item in posted { deliver(.posted(item)) }
                continue  // send what they produced, look again
            }
            if stopping || !serving {
                // What the handler sent while the socket reported on the last sends.
                let last = shared.withLock { s in defer { s.outbox.removeAll() }; return s.outbox }
                if let socket { sendAll(last, on: socket) { _ in } }
                monitor?.close(lingerMilliseconds: 0)
                socket?.close(lingerMilliseconds: lingerMilliseconds)
                return
            }
            if reopen {
                monitor?.close(lingerMilliseconds: 0)
                monitor = nil
                socket?.close(lingerMilliseconds: 0)
                socket = nil
                do {
                    let fresh = try factory()
                    socket = fresh
                    if monitorTransport { monitor = TransportMonitor.open(on: fresh) }
                } catch {
                    deliver(.socketError("reopening socket: \(error)"))
                }
            }

            var count = 0
            items[count] = zmq_pollitem_t(socket: nil, fd: wakeRead, events: Int16(ZMQ_POLLIN), revents: 0)
            count += 1
            if let socket {
                items[count] = zmq_pollitem_t(socket: socket.handle, fd: 0, events: Int16(ZMQ_POLLIN), revents: 0)
                count += 1
            }
            if let monitor {
                items[count] = zmq_pollitem_t(socket: monitor.handle, fd: 0, events: Int16(ZMQ_POLLIN), revents: 0)
                count += 1
            }
            // The handler may have queued work since the top (answering a failed send or
            // reopen); no wakeup came for it, so look without waiting.
            let queued = !serving || shared.withLock { !$0.outbox.isEmpty || !$0.posted.isEmpty || $0.reopenRequested || $0.stopRequested }
            let timeout: Int = queued ? 0 : deadline.map { Int(max(0, $0 - MonotonicTime.now())) } ?? -1
            let rc = zmq_poll(&items, Int32(count), timeout)
            if rc < 0 && zmq_errno() != EINTR {
                deliver(.socketError("\(ZMQError("zmq_poll"))"))
            }
            if items[0].revents != 0 {
                while Glibc.read(wakeRead, &drain, drain.count) > 0 {}
            }
            if let socket, count > 1, items[1].revents != 0 {
                var batch: [InboundMessage] = []
                while batch.count < 4096, let message = socket.receiveMessage() { batch.append(message) }
                if !batch.isEmpty { deliver(.messages(batch)) }
            }
            if let monitor, items[count - 1].revents != 0 {
                while let frames = monitor.receive() {
                    if let event = TransportMonitor.describe(frames) { deliver(.transport(event)) }
                }
            }
            if let deadline {
                let now = MonotonicTime.now()
                if now >= deadline {
                    let unchanged = shared.withLock { s in
                        guard s.deadline == deadline else { return false }
                        s.deadline = nil
                        return true
                    }
                    if unchanged { deliver(.tick(now)) }
                }
            }
        }
    }

    private func sendAll(_ outbox: [[Data]], on socket: ZMQSocket, _ deliver: (Event) -> Void) {
        var dropped = 0
        for frames in outbox {
            switch socket.send(frames) {
            case .sent: break
            case .unroutable: deliver(.unroutable(frames.first ?? Data()))
            case .wouldBlock: dropped += 1
            }
        }
        if dropped > 0 {
            deliver(.socketError("dropped \(dropped) message(s): peer's send queue is full (high-water mark)"))
        }
    }
}

/// libzmq's socket monitor, for the transport events worth a log line.
private enum TransportMonitor {
    static let events = ZMQ_EVENT_DISCONNECTED | ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL
        | ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL | ZMQ_EVENT_HANDSHAKE_FAILED_AUTH

    private static let counter = Atomic<Int>(0)

    static func open(on socket: ZMQSocket) -> ZMQSocket? {
        let endpoint = "inproc://coevo-monitor-\(counter.add(1, ordering: .relaxed).newValue)"
        guard zmq_socket_monitor(socket.handle, endpoint, events) == 0,
              let pair = try? ZMQSocket(type: ZMQ_PAIR)
        else { return nil }
        do { try pair.connect(endpoint) } catch { return nil }
        return pair
    }

    /// A monitor message is two frames: event id (uint16) + value (uint32), then the
    /// peer's endpoint.
    static func describe(_ frames: [Data]) -> TransportEvent? {
        guard frames.count == 2, frames[0].count >= 6 else { return nil }
        let event = Int32(UInt16(frames[0][0]) | UInt16(frames[0][1]) << 8)
        let endpoint = String(decoding: frames[1], as: UTF8.self)
        switch event {
        case ZMQ_EVENT_DISCONNECTED: return TransportEvent(kind: .closed, endpoint: endpoint)
        case ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL, ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL:
            return TransportEvent(kind: .handshakeFailed, endpoint: endpoint)
        case ZMQ_EVENT_HANDSHAKE_FAILED_AUTH: return TransportEvent(kind: .authenticationFailed, endpoint: endpoint)
        default: return nil
        }
    }
}

/// What the socket's monitor saw happen to a connection.
public struct TransportEvent: Sendable, Hashable, CustomStringConvertible {
    public enum Kind: Sendable, Hashable {
        /// A peer left (every `coevo status` does), or sent an oversize or malformed message.
        case closed
        case handshakeFailed
        case authenticationFailed
    }

    public var kind: Kind
    public var endpoint: String

    public init(kind: Kind, endpoint: String) {
        self.kind = kind
        self.endpoint = endpoint
    }

    public var description: String {
        switch kind {
        case .closed: "connection on \(endpoint) closed (peer left, or it sent an oversize or malformed ZMTP message)"
        case .handshakeFailed: "handshake failed on \(endpoint) (the peer does not speak ZMTP, sent garbage, or its CURVE key was refused)"
        case .authenticationFailed: "authentication failed on \(endpoint)"
        }
    }
}
