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
        let router = try ZMQSocket.router(binding: "tcp://127.0.0.1:*", options: .unbounded, handover: false)
        defer { router.close(lingerMilliseconds: 0) }
        let peers = LocalWorkers()
        try peers.start(count: workers) { ["bench", "echo-peer", "--connect", router.lastEndpoint(), "--id", "echo-\($0)"] }
        defer { peers.stop(grace: 2) }

        // Each peer says hello first, so the router can address it.
        var ids: [Data] = []
        while ids.count < workers {
            guard let frames = router.receive(timeoutMilliseconds: 10_000) else {
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
            if router.receive(timeoutMilliseconds: 5000) == nil { throw UserFacingError("echo peers stopped answering") }
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
            guard router.receive(timeoutMilliseconds: 5000) != nil else { throw UserFacingError("echo peer stopped answering") }
            samples.append(clock.now - t0)
        }
        for id in ids { _ = router.send([id, Data("bye".utf8)]) }
        return Figures(messagesPerSecond: Double(messages) / seconds, roundTrip: LatencySummary(samples))
    }

    static func seconds(_ duration: Duration) -> Double {
        Double(duration.components.seconds) + Double(duration.components.attoseconds) / 1e18
    }

    /// The peer side: a DEALER that echoes every message until it hears "bye".
    static func echo(endpoint: String, id: String) throws {
        let socket = try ZMQSocket.dealer(connectingTo: endpoint, routingID: id, options: .unbounded)
        defer { socket.close(lingerMilliseconds: 0) }
        _ = socket.send([Data("hello".utf8)])
        socket.echoUntilBye()
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
