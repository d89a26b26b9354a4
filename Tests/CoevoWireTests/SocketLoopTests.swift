import CZeroMQ
import CoevoCore
import CoevoWire
import Foundation
import Synchronization
import Testing

/// Two real socket loops over tcp loopback, each serving a handler on its own thread:
/// messages both ways, replies sent from the handler, a message to a peer that is gone,
/// items posted from another task, a tick, and a handler that ends its loop.
@Suite struct SocketLoopTests {
    @Test(.timeLimit(.minutes(1))) func routerAndDealerExchangeMessagesAndTicksFire() async throws {
        let endpointBox = EndpointBox()
        let router = SocketLoop<Never>(name: "test-router") {
            let socket = try ZMQSocket(type: ZMQ_ROUTER)
            try socket.set(ZMQ_ROUTER_MANDATORY, Int32(1))
            try socket.bind("tcp://127.0.0.1:*")
            endpointBox.set(socket.lastEndpoint())
            return socket
        }
        try router.start()
        let endpoint = endpointBox.get()
        #expect(endpoint.hasPrefix("tcp://127.0.0.1:"))
        let dealer = SocketLoop<String>(name: "test-dealer") {
            let socket = try ZMQSocket(type: ZMQ_DEALER)
            try socket.set(ZMQ_ROUTING_ID, bytes: Array("peer-1".utf8))
            try socket.connect(endpoint)
            return socket
        }
        try dealer.start()
        defer { dealer.stop(); router.stop() }

        // Sent before either serves: they wait, nothing is read or lost.
        for i in 0..<100 { dealer.send([Data("ping \(i)".utf8)]) }
        // The router answers every ping from its handler, then writes to a peer that never
        // was; told so by its socket, it answers the first peer at once: nothing else
        // would wake the loop to send that (no deadline, no more traffic).
        let routerSaw = Seen<(pings: [String], unroutable: Data?)>(([], nil))
        async let routerServed: Void = router.serve { event in
            switch event {
            case .messages(let batch):
                for frames in batch.map(\.frames) {
                    #expect(frames.count == 2 && frames[0] == Data("peer-1".utf8))
                    let ping = String(decoding: frames[1], as: UTF8.self)
                    let count = routerSaw.update { $0.pings.append(ping); return $0.pings.count }
                    router.send([frames[0], Data("pong\(ping.dropFirst(4))".utf8)])
                    if count == 100 { router.send([Data("nobody".utf8), Data("lost".utf8)]) }
                }
                return true
            case .unroutable(let id):
                routerSaw.update { $0.unroutable = id }
                router.send([Data("peer-1".utf8), Data("sorry".utf8)])
                return true
            default:
                return true
            }
        }
        // The dealer takes the pongs, the apology and what another task posts, asks for a
        // tick once it has all of them, and ends its loop on the tick.
        let posting = Task { for i in 0..<10 { dealer.post("posted \(i)") } }
        let dealerSaw = Seen<(pongs: [String], posted: [String], ticked: Bool)>(([], [], false))
        await dealer.serve { event in
            switch event {
            case .messages(let batch):
                dealerSaw.update { $0.pongs += batch.map { String(decoding: $0.frames[0], as: UTF8.self) } }
            case .posted(let item):
                dealerSaw.update { $0.posted.append(item) }
            case .tick:
                dealerSaw.update { $0.ticked = true }
                return false
            default:
                break
            }
            if dealerSaw.update({ $0.pongs.count == 101 && $0.posted.count == 10 }) { dealer.wake(at: .now() + 50) }
            return true
        }
        await posting.value
        router.stop()
        await routerServed
        let routed = routerSaw.update { $0 }
        let dealt = dealerSaw.update { $0 }
        #expect(routed.pings == (0..<100).map { "ping \($0)" })
        #expect(routed.unroutable == Data("nobody".utf8))
        #expect(dealt.pongs == (0..<100).map { "pong \($0)" } + ["sorry"])
        #expect(dealt.posted == (0..<10).map { "posted \($0)" })
        #expect(dealt.ticked)
    }

    /// A loop stopped before anyone served it (a coordinator that bound, then failed to
    /// load its runs) closes its socket, and a late `serve` returns without a call.
    @Test(.timeLimit(.minutes(1))) func serveAfterStopReturnsAtOnce() async throws {
        let loop = SocketLoop<Int>(name: "test-stopped") {
            let socket = try ZMQSocket(type: ZMQ_ROUTER)
            try socket.bind("tcp://127.0.0.1:*")
            return socket
        }
        try loop.start()
        loop.post(1)
        loop.stop()
        let calls = Seen(0)
        await loop.serve { _ in
            calls.update { $0 += 1 }
            return true
        }
        #expect(calls.update { $0 } == 0)
    }

    @Test func aBadEndpointFailsAtStart() {
        let loop = SocketLoop<Never>(name: "test-bad") {
            let socket = try ZMQSocket(type: ZMQ_ROUTER)
            try socket.bind("tcp://not-an-address")
            return socket
        }
        #expect(throws: ZMQError.self) { try loop.start() }
    }
}

/// What a handler saw, read by the test once the loop has ended.
final class Seen<Value: Sendable>: Sendable {
    private let state: Mutex<Value>
    init(_ initial: Value) { state = Mutex(initial) }
    func update<R: Sendable>(_ body: (inout Value) -> R) -> R { state.withLock { body(&$0) } }
}

final class EndpointBox: @unchecked Sendable {
    private let lock = NSLock()
    private var value = ""
    func set(_ v: String) { lock.withLock { value = v } }
    func get() -> String { lock.withLock { value } }
}
