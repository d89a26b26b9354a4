import CZeroMQ
import CoevoCore
import Foundation
import Glibc
import Synchronization

/// The one thread that owns a process's ZeroMQ socket (zguide: sockets are not
/// thread-safe). It polls the socket and a wakeup pipe with a timeout set by the next
/// deadline the owner asked for; tasks hand it outgoing messages through a locked queue
/// and receive what arrives, and the deadline ticks, through `events`.
///
/// Nothing here decides anything: the coordinator and worker state machines do, and this
/// shell only moves bytes. It never blocks the cooperative thread pool.
///
/// Contract: `start()` once, before anything else; `send`, `wake(at:)` and `reopen()`
/// from any thread; `events` read by one consumer; `stop()` once, last.
public final class SocketLoop: Sendable {
    public enum Event: Sendable {
        /// Whole multipart messages, in arrival order (a ROUTER's start with the routing id).
        case messages([InboundMessage])
        /// The deadline set with `wake(at:)` passed.
        case tick(MonotonicTime)
        /// A ROUTER message whose peer is gone (ROUTER_MANDATORY); carries the routing id.
        case unroutable(Data)
        /// A transport event worth a log line (a peer's connection closed or failed its handshake).
        case transport(String)
        /// The socket could not be (re)opened or a send had to be dropped.
        case socketError(String)
    }

    /// Builds the socket on the loop's thread: type, options, bind or connect.
    public typealias SocketFactory = @Sendable () throws -> ZMQSocket

    private struct Shared {
        var outbox: [[Data]] = []
        var reopenRequested = false
        var stopRequested = false
        var deadline: MonotonicTime?
    }

    public let events: AsyncStream<Event>
    private let continuation: AsyncStream<Event>.Continuation
    private let shared = Mutex(Shared())
    private let factory: SocketFactory
    private let name: String
    private let monitorTransport: Bool
    private let lingerMilliseconds: Int32
    /// Wakeup pipe: writing a byte interrupts zmq_poll.
    private let wakeRead: Int32
    private let wakeWrite: Int32
    private let finished = DispatchSemaphore(value: 0)
    /// Messages handed to `events` and not yet reported `consumed`; past
    /// `maxUnconsumed` the loop stops reading, so a flood waits in libzmq's per-peer queues
    /// (bounded by the receive high-water mark, then TCP) instead of in this process's
    /// memory, and libzmq's fair queueing keeps every other peer's turn.
    private let unconsumed = Atomic<Int>(0)
    private let maxUnconsumed: Int?

    /// `maxUnconsumedMessages`: nil reads without bound; otherwise the owner must call
    /// `consumed(_:)` for every message it has handled.
    public init(name: String, monitorTransport: Bool = false, lingerMilliseconds: Int32 = 1000,
                maxUnconsumedMessages: Int? = nil, factory: @escaping SocketFactory) {
        self.name = name
        self.maxUnconsumed = maxUnconsumedMessages
        self.factory = factory
        self.monitorTransport = monitorTransport
        self.lingerMilliseconds = lingerMilliseconds
        (events, continuation) = AsyncStream.makeStream(of: Event.self, bufferingPolicy: .unbounded)
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
    /// (an address in use, a malformed endpoint), so a bad bind fails at start.
    public func start() throws {
        let ready = DispatchSemaphore(value: 0)
        let failure = Mutex<(any Error)?>(nil)
        let thread = Thread { [self] in
            let socket: ZMQSocket
            do {
                socket = try factory()
            } catch {
                failure.withLock { $0 = error }
                ready.signal()
                continuation.finish()
                finished.signal()
                return
            }
            ready.signal()
            run(socket: socket)
            finished.signal()
        }
        thread.name = name
        thread.start()
        ready.wait()
        if let error = failure.withLock({ $0 }) { throw error }
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

    /// Reports `count` delivered messages handled, so reading can go on.
    public func consumed(_ count: Int) {
        guard let limit = maxUnconsumed, count > 0 else { return }
        let before = unconsumed.subtract(count, ordering: .relaxed).oldValue
        if before >= limit { wake() }
    }

    /// Emits `.tick` once `time` passes. Replaces the previous deadline.
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

    /// Sends what is queued, closes the socket with its linger, ends `events`, and waits
    /// for the thread to finish.
    public func stop() {
        let alreadyStopping = shared.withLock { s in
            defer { s.stopRequested = true }
            return s.stopRequested
        }
        guard !alreadyStopping else { return }
        wake()
        finished.wait()
    }

    private func wake() {
        var byte: UInt8 = 1
        _ = Glibc.write(wakeWrite, &byte, 1)
    }

    // MARK: The loop thread

    private func run(socket initial: ZMQSocket) {
        var socket: ZMQSocket? = initial
        var monitor = monitorTransport ? openMonitor(on: initial) : nil
        var drain = [UInt8](repeating: 0, count: 256)
        var items = [zmq_pollitem_t](repeating: zmq_pollitem_t(), count: 3)

        while true {
            let (outbox, reopen, stopping, deadline) = shared.withLock { s in
                defer { s.outbox.removeAll(keepingCapacity: true); s.reopenRequested = false }
                return (s.outbox, s.reopenRequested, s.stopRequested, s.deadline)
            }
            if let socket { sendAll(outbox, on: socket) }
            if stopping {
                monitor?.close(lingerMilliseconds: 0)
                socket?.close(lingerMilliseconds: lingerMilliseconds)
                continuation.finish()
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
                    if monitorTransport { monitor = openMonitor(on: fresh) }
                } catch {
                    continuation.yield(.socketError("reopening socket: \(error)"))
                }
            }

            var count = 0
            items[count] = zmq_pollitem_t(socket: nil, fd: wakeRead, events: Int16(ZMQ_POLLIN), revents: 0)
            count += 1
            // Room for more: unbounded, or below the limit the owner has not yet consumed.
            let room = maxUnconsumed.map { $0 - unconsumed.load(ordering: .relaxed) } ?? Int.max
            if let socket {
                items[count] = zmq_pollitem_t(socket: socket.handle, fd: 0, events: room > 0 ? Int16(ZMQ_POLLIN) : 0, revents: 0)
                count += 1
            }
            if let monitor {
                items[count] = zmq_pollitem_t(socket: monitor.handle, fd: 0, events: Int16(ZMQ_POLLIN), revents: 0)
                count += 1
            }
            let timeout: Int = deadline.map { Int(max(0, $0 - MonotonicTime.now())) } ?? -1
            let rc = zmq_poll(&items, Int32(count), timeout)
            if rc < 0 && zmq_errno() != EINTR {
                continuation.yield(.socketError("\(ZMQError("zmq_poll"))"))
            }
            if items[0].revents != 0 {
                while Glibc.read(wakeRead, &drain, drain.count) > 0 {}
            }
            if let socket, count > 1, items[1].revents != 0 {
                var batch: [InboundMessage] = []
                let most = min(4096, room)
                while batch.count < most, let message = socket.receiveMessage() { batch.append(message) }
                if !batch.isEmpty {
                    if maxUnconsumed != nil { unconsumed.add(batch.count, ordering: .relaxed) }
                    continuation.yield(.messages(batch))
                }
            }
            if let monitor, items[count - 1].revents != 0 {
                while let frames = monitor.receive() {
                    if let line = Self.describeMonitorEvent(frames) { continuation.yield(.transport(line)) }
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
                    if unchanged { continuation.yield(.tick(now)) }
                }
            }
        }
    }

    private func sendAll(_ outbox: [[Data]], on socket: ZMQSocket) {
        var dropped = 0
        for frames in outbox {
            switch socket.send(frames) {
            case .sent: break
            case .unroutable: continuation.yield(.unroutable(frames.first ?? Data()))
            case .wouldBlock: dropped += 1
            }
        }
        if dropped > 0 {
            continuation.yield(.socketError("dropped \(dropped) message(s): peer's send queue is full (high-water mark)"))
        }
    }

    private static let monitorEvents = ZMQ_EVENT_DISCONNECTED | ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL
        | ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL | ZMQ_EVENT_HANDSHAKE_FAILED_AUTH

    private static let monitorCounter = Atomic<Int>(0)

    private func openMonitor(on socket: ZMQSocket) -> ZMQSocket? {
        let endpoint = "inproc://coevo-monitor-\(Self.monitorCounter.add(1, ordering: .relaxed).newValue)"
        guard zmq_socket_monitor(socket.handle, endpoint, Self.monitorEvents) == 0,
              let pair = try? ZMQSocket(type: ZMQ_PAIR)
        else { return nil }
        do { try pair.connect(endpoint) } catch { return nil }
        return pair
    }

    /// A monitor message is two frames: event id (uint16) + value (uint32), then the
    /// peer's endpoint.
    private static func describeMonitorEvent(_ frames: [Data]) -> String? {
        guard frames.count == 2, frames[0].count >= 6 else { return nil }
        let event = Int32(UInt16(frames[0][0]) | UInt16(frames[0][1]) << 8)
        let endpoint = String(decoding: frames[1], as: UTF8.self)
        switch event {
        case ZMQ_EVENT_DISCONNECTED:
            return "connection on \(endpoint) closed (peer left, or it sent an oversize or malformed ZMTP message)"
        case ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL, ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL:
            return "handshake failed on \(endpoint) (the peer does not speak ZMTP or sent garbage)"
        case ZMQ_EVENT_HANDSHAKE_FAILED_AUTH:
            return "authentication failed on \(endpoint)"
        default:
            return nil
        }
    }
}
