@testable import CoevoWire
import Foundation
import Testing

/// CURVE keys, the authorized-keys list and the ZAP decision, then real sockets in this
/// process. Bad input tried: a key file without its secret, a public line that does not
/// match, text that is no key, an authorized-keys line that is no key, a ZAP request that
/// is malformed or not CURVE, a client whose key is not authorized, a client that pins
/// the wrong server key.
@Suite struct CurveTests {
    let directory = FileManager.default.temporaryDirectory.appendingPathComponent("coevo-curve-\(UUID().uuidString)").path

    @Test func keyPairsRoundTripThroughTheirFiles() throws {
        let pair = try CurveKeyPair.generate()
        let (keyFile, publicFile) = try pair.write(name: "w1", directory: directory)
        #expect((try FileManager.default.attributesOfItem(atPath: keyFile)[.posixPermissions] as? Int) == 0o600)
        #expect(try CurveKeyPair(file: keyFile).publicKey == pair.publicKey)
        #expect(try curvePublicKey(publicFile) == pair.publicKey)
        #expect(try curvePublicKey(keyFile) == pair.publicKey)
        #expect(try curvePublicKey(pair.publicKey.z85) == pair.publicKey)
        #expect(throws: CurveKeyError.self) { try pair.write(name: "w1", directory: directory) }

        let other = try CurveKeyPair.generate()
        let mixed = directory + "/mixed.key"
        try "public-key = \(other.publicKey)\nsecret-key = \(pair.secretKey)\n".write(toFile: mixed, atomically: true, encoding: .utf8)
        #expect { try CurveKeyPair(file: mixed) } throws: { "\($0)".contains("does not belong") }
        let noSecret = directory + "/public-only.key"
        try "public-key = \(other.publicKey)\n".write(toFile: noSecret, atomically: true, encoding: .utf8)
        #expect { try CurveKeyPair(file: noSecret) } throws: { "\($0)".contains("no `secret-key") }
        #expect(CurvePublicKey("not a key") == nil)
        #expect { try curvePublicKey("nope-not-a-file") } throws: { "\($0)".contains("neither") }
    }

    @Test func authorizedKeysComeFromADirectoryOrAFile() throws {
        let a = try CurveKeyPair.generate(), b = try CurveKeyPair.generate()
        _ = try a.write(name: "alpha", directory: directory + "/keys")
        _ = try b.write(name: "beta", directory: directory + "/keys")
        let fromDirectory = try AuthorizedKeys(path: directory + "/keys")
        #expect(fromDirectory.holder(of: a.publicKey) == "alpha" && fromDirectory.holder(of: b.publicKey) == "beta")
        let list = directory + "/list"
        try "# workers\n\(a.publicKey) node-1\n\n\(b.publicKey)\n".write(toFile: list, atomically: true, encoding: .utf8)
        let fromFile = try AuthorizedKeys(path: list)
        #expect(fromFile.holder(of: a.publicKey) == "node-1" && fromFile.holder(of: b.publicKey) == "line 4")
        try "\(a.publicKey)\nssh-rsa AAAA\n".write(toFile: list, atomically: true, encoding: .utf8)
        #expect { try AuthorizedKeys(path: list) } throws: { "\($0)".contains("line 2") }
        #expect { try AuthorizedKeys(path: directory + "/missing") } throws: { "\($0)".contains("does not exist") }
    }

    @Test func theZapDecisionLetsInAuthorizedCurveClientsOnly() throws {
        let known = try CurveKeyPair.generate(), unknown = try CurveKeyPair.generate()
        let keys = AuthorizedKeys([known.publicKey: "w1"])
        func request(_ mechanism: String, _ key: Data?) -> [Data] {
            [Data("1.0".utf8), Data("7".utf8), Data("coevo".utf8), Data("10.0.0.9".utf8), Data(), Data(mechanism.utf8)] + (key.map { [$0] } ?? [])
        }
        let yes = ZapPolicy.decide(request("CURVE", known.publicKey.bytes), keys: keys)
        #expect(yes.accepted && yes.reply.map { String(decoding: $0, as: UTF8.self) } == ["1.0", "7", "200", "OK", known.publicKey.z85, ""])
        let no = ZapPolicy.decide(request("CURVE", unknown.publicKey.bytes), keys: keys)
        #expect(!no.accepted && String(decoding: no.reply[2], as: UTF8.self) == "400" && no.line.contains("10.0.0.9"))
        #expect(String(decoding: ZapPolicy.decide(request("NULL", nil), keys: keys).reply[2], as: UTF8.self) == "400")
        #expect(String(decoding: ZapPolicy.decide([Data("0.9".utf8)], keys: keys).reply[2], as: UTF8.self) == "500")
    }

    /// The one test here that binds the process's ZAP endpoint (a process has one).
    @Test func aCurveServerHearsAuthorizedClientsAndNobodyElse() throws {
        let server = try CurveKeyPair.generate(), known = try CurveKeyPair.generate()
        let stranger = try CurveKeyPair.generate()
        let refused = Refusals()
        let zap = try ZapHandler(path: nil) { refused.add($0) }
        zap.allow(known.publicKey, holder: "w1")
        try zap.start()
        defer { zap.stop() }
        let router = try ZMQSocket.router(binding: "tcp://127.0.0.1:*", options: SocketOptions(lingerMilliseconds: 0, curve: .server(server)))
        defer { router.close(lingerMilliseconds: 0) }
        let endpoint = router.lastEndpoint()

        func client(_ pinned: CurvePublicKey, _ own: CurveKeyPair) throws -> ZMQSocket {
            let socket = try ZMQSocket.dealer(connectingTo: endpoint, options: SocketOptions(lingerMilliseconds: 0, curve: .client(server: pinned, own: own)))
            _ = socket.send([Data("hello".utf8)])
            return socket
        }
        let good = try client(server.publicKey, known)
        defer { good.close(lingerMilliseconds: 0) }
        let frames = router.receive(timeoutMilliseconds: 3000)
        #expect(frames?.last == Data("hello".utf8), "the authorized client is heard")

        let bad = try client(server.publicKey, stranger)
        defer { bad.close(lingerMilliseconds: 0) }
        let misled = try client(stranger.publicKey, known)
        defer { misled.close(lingerMilliseconds: 0) }
        #expect(router.receive(timeoutMilliseconds: 1500) == nil, "neither the stranger nor the misled client gets through")
        #expect(refused.lines.contains { $0.contains(stranger.publicKey.z85) })

        // Bad input: a flood of handshakes from 40 more strangers. The log takes the first
        // few a minute, not a line each, and the authorized client is still heard.
        let flood = try (0..<40).map { _ in try client(server.publicKey, try CurveKeyPair.generate()) }
        defer { for socket in flood { socket.close(lingerMilliseconds: 0) } }
        let deadline = Date(timeIntervalSinceNow: 10)
        while refused.lines.count < ZapHandler.refusalsLoggedPerMinute && Date() < deadline { usleep(20_000) }
        usleep(300_000)
        #expect(refused.lines.count == ZapHandler.refusalsLoggedPerMinute, "\(refused.lines.count) refusal lines")
        _ = good.send([Data("still here".utf8)])
        #expect(router.receive(timeoutMilliseconds: 3000)?.last == Data("still here".utf8))
    }
}

final class Refusals: @unchecked Sendable {
    private let lock = NSLock()
    private var items: [String] = []
    func add(_ line: String) { lock.withLock { items.append(line) } }
    var lines: [String] { lock.withLock { items } }
}
