import CZeroMQ
import Foundation

/// One ZeroMQ socket. Not thread-safe (libzmq sockets are not): only the thread of the
/// `SocketLoop` that created it touches it.
public final class ZMQSocket {
    public let handle: UnsafeMutableRawPointer
    /// Heap-allocated so large and small messages alike stay put while libzmq fills them.
    private let message = UnsafeMutablePointer<zmq_msg_t>.allocate(capacity: 1)
    private var closed = false

    public init(type: Int32, context: ZMQContext = .shared) throws {
        guard let socket = zmq_socket(context.handle, type) else { throw ZMQError("zmq_socket") }
        handle = socket
    }

    deinit {
        close(lingerMilliseconds: 0)
        message.deallocate()
    }

    public func set(_ option: Int32, _ value: Int32) throws {
        var v = value
        guard zmq_setsockopt(handle, option, &v, MemoryLayout<Int32>.size) == 0 else {
            throw ZMQError("zmq_setsockopt(\(option))")
        }
    }

    public func set(_ option: Int32, _ value: Int64) throws {
        var v = value
        guard zmq_setsockopt(handle, option, &v, MemoryLayout<Int64>.size) == 0 else {
            throw ZMQError("zmq_setsockopt(\(option))")
        }
    }

    public func set(_ option: Int32, bytes: [UInt8]) throws {
        let rc = bytes.withUnsafeBytes { zmq_setsockopt(handle, option, $0.baseAddress, $0.count) }
        guard rc == 0 else { throw ZMQError("zmq_setsockopt(\(option))") }
    }

    public func bind(_ endpoint: String) throws {
        guard zmq_bind(handle, endpoint) == 0 else { throw ZMQError("bind \(endpoint)") }
    }

    public func connect(_ endpoint: String) throws {
        guard zmq_connect(handle, endpoint) == 0 else { throw ZMQError("connect \(endpoint)") }
    }

    /// The endpoint actually bound (resolves a `tcp://127.0.0.1:*` wildcard port).
    public func lastEndpoint() -> String {
        var buffer = [CChar](repeating: 0, count: 512)
        var size = buffer.count
        guard zmq_getsockopt(handle, ZMQ_LAST_ENDPOINT, &buffer, &size) == 0 else { return "" }
        return String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    public enum SendResult { case sent, wouldBlock, unroutable }

    /// Sends one multipart message without blocking.
    public func send(_ frames: [Data]) -> SendResult {
        for (index, frame) in frames.enumerated() {
            let flags = ZMQ_DONTWAIT | (index < frames.count - 1 ? ZMQ_SNDMORE : 0)
            let rc = frame.withUnsafeBytes { zmq_send(handle, $0.baseAddress, $0.count, flags) }
            if rc < 0 {
                let code = zmq_errno()
                if code == EHOSTUNREACH { return .unroutable }
                // A multipart message is atomic in libzmq: a refused first frame sends nothing.
                if code == EAGAIN { return .wouldBlock }
                return .unroutable
            }
        }
        return .sent
    }

    /// Receives one whole multipart message if one is waiting; nil when none is.
    public func receive() -> [Data]? { receiveMessage()?.frames }

    /// Receives one whole multipart message with the key its sender authenticated with
    /// (the user id our ZAP handler gave the connection: a CURVE key in Z85); nil when
    /// none is waiting.
    public func receiveMessage() -> InboundMessage? {
        var frames: [Data] = []
        var peer: String?
        while true {
            zmq_msg_init(message)
            defer { zmq_msg_close(message) }
            if zmq_msg_recv(message, handle, frames.isEmpty ? ZMQ_DONTWAIT : 0) < 0 { return nil }
            if peer == nil, let user = zmq_msg_gets(message, "User-Id") {
                let text = String(cString: user)
                peer = text.isEmpty ? nil : text
            }
            frames.append(Data(bytes: zmq_msg_data(message), count: zmq_msg_size(message)))
            if zmq_msg_more(message) == 0 { return InboundMessage(frames: frames, peerKey: peer) }
        }
    }

    /// Closes after setting the linger, so a close never blocks longer than asked.
    public func close(lingerMilliseconds: Int32) {
        guard !closed else { return }
        closed = true
        try? set(ZMQ_LINGER, lingerMilliseconds)
        zmq_close(handle)
    }
}

/// One multipart message as it arrived, and who sent it when the connection is
/// authenticated.
public struct InboundMessage: Sendable, Equatable {
    public var frames: [Data]
    /// The sender's CURVE public key (Z85) as the ZAP handler accepted it; nil without CURVE.
    public var peerKey: String?

    public init(frames: [Data], peerKey: String? = nil) {
        self.frames = frames
        self.peerKey = peerKey
    }
}
