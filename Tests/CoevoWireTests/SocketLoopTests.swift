import CZeroMQ
import CoevoCore
import CoevoWire
import Foundation
import Testing

/// Two real socket loops over tcp loopback: ROUTER and DEALER, messages both ways, a tick.
@Suite struct SocketLoopTests {
    @Test func routerAndDealerExchangeMessagesAndTicksFire() async throws {
        let endpointBox = EndpointBox()
        let router = SocketLoop(name: "test-router") {
            let socket = try ZMQSocket(type: ZMQ_ROUTER)
            try socket.set(ZMQ_ROUTER_MANDATORY, Int32(1))
            try socket.bind("tcp://127.0.0.1:*")
            endpointBox.set(socket.lastEndpoint())
            return socket
        }
        try router.start()
        let endpoint = endpointBox.get()
        #expect(endpoint.hasPrefix("tcp://127.0.0.1:"))
        let dealer = SocketLoop(name: "test-dealer") {
            let socket = try ZMQSocket(type: ZMQ_DEALER)
            try socket.set(ZMQ_ROUTING_ID, bytes: Array("peer-1".utf8))
            try socket.connect(endpoint)
            return socket
        }
        try dealer.start()
        defer { dealer.stop(); router.stop() }

        for i in 0..<100 { dealer.send([Data("ping \(i)".utf8)]) }
        var received: [String] = []
        for await event in router.events {
            guard case .messages(let batch) = event else { continue }
            for frames in batch.map(\.frames) {
                #expect(frames.count == 2)
                #expect(frames[0] == Data("peer-1".utf8))
                received.append(String(decoding: frames[1], as: UTF8.self))
            }
            if received.count == 100 { break }
        }
        #expect(received == (0..<100).map { "ping \($0)" })

        router.send([Data("peer-1".utf8), Data("pong".utf8)])
        router.send([Data("nobody".utf8), Data("lost".utf8)])
        dealer.wake(at: .now() + 50)
        var sawPong = false
        var sawTick = false
        for await event in dealer.events {
            switch event {
            case .messages(let batch): sawPong = sawPong || batch.contains { $0.frames == [Data("pong".utf8)] }
            case .tick: sawTick = true
            default: break
            }
            if sawPong && sawTick { break }
        }
        var sawUnroutable = false
        for await event in router.events {
            if case .unroutable(let id) = event { sawUnroutable = id == Data("nobody".utf8); break }
        }
        #expect(sawUnroutable)
    }

    @Test func aBadEndpointFailsAtStart() {
        let loop = SocketLoop(name: "test-bad") {
            let socket = try ZMQSocket(type: ZMQ_ROUTER)
            try socket.bind("tcp://not-an-address")
            return socket
        }
        #expect(throws: ZMQError.self) { try loop.start() }
    }
}

final class EndpointBox: @unchecked Sendable {
    private let lock = NSLock()
    private var value = ""
    func set(_ v: String) { lock.withLock { value = v } }
    func get() -> String { lock.withLock { value } }
}
