import CZeroMQ
import Foundation

/// The options coevo sets on its sockets. Everything that knows libzmq's option numbers
/// lives in CoevoWire; the coordinator, the worker and the CLI only say what they want.
public struct SocketOptions: Sendable {
    /// Messages queued per peer before sends would block (0: unlimited).
    public var sendHighWaterMark: Int32 = 100_000
    public var receiveHighWaterMark: Int32 = 100_000
    /// Larger incoming messages close the connection (-1: no limit).
    public var maxMessageBytes: Int64 = -1
    /// How long a close waits for unsent messages.
    public var lingerMilliseconds: Int32 = 1000
    /// CurveZMQ: encrypted, authenticated connections (nil: none, for loopback use).
    public var curve: CurveRole?

    public init(sendHighWaterMark: Int32 = 100_000, receiveHighWaterMark: Int32 = 100_000,
                maxMessageBytes: Int64 = -1, lingerMilliseconds: Int32 = 1000, curve: CurveRole? = nil) {
        self.sendHighWaterMark = sendHighWaterMark
        self.receiveHighWaterMark = receiveHighWaterMark
        self.maxMessageBytes = maxMessageBytes
        self.lingerMilliseconds = lingerMilliseconds
        self.curve = curve
    }

    /// No queue limits: the raw baseline's setting.
    public static let unbounded = SocketOptions(sendHighWaterMark: 0, receiveHighWaterMark: 0, lingerMilliseconds: 0)
}

/// Which side of a CurveZMQ connection a socket is.
public enum CurveRole: Sendable {
    /// The coordinator: its key pair; clients are checked by the process's `ZapHandler`.
    case server(CurveKeyPair)
    /// A worker or client: the server key it pins (any other server is refused) and its own pair.
    case client(server: CurvePublicKey, own: CurveKeyPair)
}

extension ZMQSocket {
    /// A ROUTER bound to `endpoint` (the coordinator's side). Sends to a departed peer
    /// fail instead of vanishing (ROUTER_MANDATORY), so the owner can report them; with
    /// `handover` a peer reconnecting under the same routing id takes it over.
    public static func router(binding endpoint: String, options: SocketOptions = SocketOptions(),
                              handover: Bool = true) throws -> ZMQSocket {
        let socket = try ZMQSocket(type: ZMQ_ROUTER)
        try socket.set(ZMQ_ROUTER_MANDATORY, Int32(1))
        if handover { try socket.set(ZMQ_ROUTER_HANDOVER, Int32(1)) }
        try socket.apply(options)
        try socket.bind(endpoint)
        return socket
    }

    /// A DEALER connected to `endpoint` (a worker's or a client's side), under
    /// `routingID` when given (workers use "id/session" so the coordinator can tell a
    /// restarted process from a reconnect).
    public static func dealer(connectingTo endpoint: String, routingID: String? = nil,
                              options: SocketOptions = SocketOptions()) throws -> ZMQSocket {
        let socket = try ZMQSocket(type: ZMQ_DEALER)
        if let routingID { try socket.set(ZMQ_ROUTING_ID, bytes: Array(routingID.utf8)) }
        try socket.apply(options)
        try socket.connect(endpoint)
        return socket
    }

    private func apply(_ options: SocketOptions) throws {
        switch options.curve {
        case .server(let pair):
            try set(ZMQ_CURVE_SERVER, Int32(1))
            try set(ZMQ_CURVE_SECRETKEY, bytes: Array(pair.secretKey.utf8))
            // A ZAP domain makes libzmq ask the handler for every client.
            try set(ZMQ_ZAP_DOMAIN, bytes: Array("coevo".utf8))
        case .client(let server, let own):
            try set(ZMQ_CURVE_SERVERKEY, bytes: Array(server.z85.utf8))
            try set(ZMQ_CURVE_PUBLICKEY, bytes: Array(own.publicKey.z85.utf8))
            try set(ZMQ_CURVE_SECRETKEY, bytes: Array(own.secretKey.utf8))
        case nil:
            break
        }
        try set(ZMQ_LINGER, options.lingerMilliseconds)
        try set(ZMQ_MAXMSGSIZE, options.maxMessageBytes)
        try set(ZMQ_SNDHWM, options.sendHighWaterMark)
        try set(ZMQ_RCVHWM, options.receiveHighWaterMark)
    }

    /// Receives one whole message, waiting up to `timeoutMilliseconds` for it; nil when
    /// none came. For sockets used without a `SocketLoop` (the status client, the raw
    /// baseline).
    public func receive(timeoutMilliseconds: Int) -> [Data]? {
        if let frames = receive() { return frames }
        var item = zmq_pollitem_t(socket: handle, fd: 0, events: Int16(ZMQ_POLLIN), revents: 0)
        guard zmq_poll(&item, 1, Int(timeoutMilliseconds)) > 0 else { return nil }
        return receive()
    }

    /// Sends every message back unchanged, without copying, until one reads "bye": the
    /// peer of the raw libzmq baseline the dispatch benchmark measures against.
    public func echoUntilBye() {
        let message = UnsafeMutablePointer<zmq_msg_t>.allocate(capacity: 1)
        defer { message.deallocate() }
        while true {
            zmq_msg_init(message)
            guard zmq_msg_recv(message, handle, 0) >= 0 else { zmq_msg_close(message); continue }
            let size = zmq_msg_size(message)
            if size == 3, memcmp(zmq_msg_data(message), "bye", 3) == 0 { zmq_msg_close(message); return }
            // zmq_msg_send takes the message over: no copy on the echo path.
            _ = zmq_msg_send(message, handle, 0)
        }
    }
}
