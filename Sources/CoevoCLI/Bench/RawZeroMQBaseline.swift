import CZeroMQ
import CoevoWire
import Foundation

/// The ceiling the dispatch benchmark compares against: plain libzmq ROUTER/DEALER echo
/// with the same worker processes count and the same number of messages in flight, no
/// protobuf, no scheduler, no store.
struct RawZeroMQBaseline {
    let workers: Int
    let window: Int
    let payload: Data

    struct Figures {
        var messagesPerSecond: Double
        var roundTrip: LatencySummary
    }

    func measure(messages: Int, latencySamples: Int) throws -> Figures {
        let router = try ZMQSocket(type: ZMQ_ROUTER)
        defer { router.close(lingerMilliseconds: 0) }
        try router.set(ZMQ_ROUTER_MANDATORY, Int32(1))
        try router.set(ZMQ_SNDHWM, Int32(0))
        try router.set(ZMQ_RCVHWM, Int32(0))
        try router.bind("tcp://127.0.0.1:*")
        let peers = LocalWorkers()
        try peers.start(count: workers) { ["bench", "echo-peer", "--connect", router.lastEndpoint(), "--id", "echo-\($0)"] }
        defer { peers.stop(grace: 2) }

        // Each peer says hello first, so the router can address it.
        var ids: [Data] = []
        while ids.count < workers {
            guard let frames = receive(router, timeoutMilliseconds: 10_000) else {
                throw UserFacingError("echo peers did not connect")
            }
            ids.append(frames[0])
        }

        // Pipelined throughput: keep `window` messages in flight across the peers.
        var sent = 0
        var received = 0
        let clock = ContinuousClock()
        let start = clock.now
        while received < messages {
            while sent < messages && sent - received < window {
                _ = router.send([ids[sent % ids.count], payload])
                sent += 1
            }
            if receive(router, timeoutMilliseconds: 5000) == nil { throw UserFacingError("echo peers stopped answering") }
            received += 1
            while received < sent, router.receive() != nil { received += 1 }
        }
        let seconds = Self.seconds(clock.now - start)

        // One message at a time: the round trip.
        var samples: [Duration] = []
        samples.reserveCapacity(latencySamples)
        for index in 0..<latencySamples {
            let t0 = clock.now
            _ = router.send([ids[index % ids.count], payload])
            guard receive(router, timeoutMilliseconds: 5000) != nil else { throw UserFacingError("echo peer stopped answering") }
            samples.append(clock.now - t0)
        }
        for id in ids { _ = router.send([id, Data("bye".utf8)]) }
        return Figures(messagesPerSecond: Double(messages) / seconds, roundTrip: LatencySummary(samples))
    }

    private func receive(_ socket: ZMQSocket, timeoutMilliseconds: Int) -> [Data]? {
        if let frames = socket.receive() { return frames }
        var item = zmq_pollitem_t(socket: socket.handle, fd: 0, events: Int16(ZMQ_POLLIN), revents: 0)
        guard zmq_poll(&item, 1, timeoutMilliseconds) > 0 else { return nil }
        return socket.receive()
    }

    static func seconds(_ duration: Duration) -> Double {
        Double(duration.components.seconds) + Double(duration.components.attoseconds) / 1e18
    }

    /// The peer side: a DEALER that echoes every message until it hears "bye".
    static func echo(endpoint: String, id: String) throws {
        let socket = try ZMQSocket(type: ZMQ_DEALER)
        defer { socket.close(lingerMilliseconds: 0) }
        try socket.set(ZMQ_ROUTING_ID, bytes: Array(id.utf8))
        try socket.set(ZMQ_SNDHWM, Int32(0))
        try socket.set(ZMQ_RCVHWM, Int32(0))
        try socket.connect(endpoint)
        _ = socket.send([Data("hello".utf8)])
        let message = UnsafeMutablePointer<zmq_msg_t>.allocate(capacity: 1)
        defer { message.deallocate() }
        while true {
            zmq_msg_init(message)
            guard zmq_msg_recv(message, socket.handle, 0) >= 0 else { zmq_msg_close(message); continue }
            let size = zmq_msg_size(message)
            if size == 3, memcmp(zmq_msg_data(message), "bye", 3) == 0 { zmq_msg_close(message); return }
            // zmq_msg_send takes the message over: no copy on the echo path.
            _ = zmq_msg_send(message, socket.handle, 0)
        }
    }
}

/// p50 and p99 of a set of round trips.
struct LatencySummary {
    var p50: Duration
    var p99: Duration

    init(_ samples: [Duration]) {
        let sorted = samples.sorted()
        func at(_ q: Double) -> Duration {
            sorted.isEmpty ? .zero : sorted[min(sorted.count - 1, Int(Double(sorted.count) * q))]
        }
        p50 = at(0.50)
        p99 = at(0.99)
    }
}

extension Duration {
    var microseconds: Double {
        Double(components.seconds) * 1e6 + Double(components.attoseconds) / 1e12
    }
}
