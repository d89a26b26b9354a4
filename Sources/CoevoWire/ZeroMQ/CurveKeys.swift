import CZeroMQ
import Foundation

/// Why a CURVE key or key file could not be used.
public struct CurveKeyError: Error, CustomStringConvertible, Sendable {
    public let description: String
    init(_ description: String) { self.description = description }
}

/// A CurveZMQ public key: 32 bytes, written as 40 characters of Z85.
public struct CurvePublicKey: Hashable, Sendable, CustomStringConvertible {
    public let z85: String

    /// Nil unless `text` (surrounding spaces ignored) is 40 characters of valid Z85.
    public init?(_ text: String) {
        let trimmed = text.trimmingCharacters(in: .whitespaces)
        guard trimmed.utf8.count == 40, Self.decode(trimmed) != nil else { return nil }
        z85 = trimmed
    }

    /// The 32 bytes the key stands for (what a ZAP request carries).
    public var bytes: Data { Self.decode(z85)! }

    public init(bytes: Data) {
        var text = [CChar](repeating: 0, count: 41)
        _ = bytes.withUnsafeBytes { zmq_z85_encode(&text, $0.bindMemory(to: UInt8.self).baseAddress, 32) }
        z85 = String(cString: text)
    }

    public var description: String { z85 }

    static func decode(_ z85: String) -> Data? {
        var out = [UInt8](repeating: 0, count: 32)
        guard z85.utf8.count == 40, zmq_z85_decode(&out, z85) != nil else { return nil }
        return Data(out)
    }
}

/// A CurveZMQ key pair. The file form (`coevo keys generate`) is two lines,
/// `public-key = ...` and `secret-key = ...`, and must stay private to its owner.
public struct CurveKeyPair: Sendable {
    public let publicKey: CurvePublicKey
    /// Z85 text of the secret key.
    public let secretKey: String

    public static func generate() throws -> CurveKeyPair {
        var publicText = [CChar](repeating: 0, count: 41)
        var secretText = [CChar](repeating: 0, count: 41)
        guard zmq_curve_keypair(&publicText, &secretText) == 0 else {
            throw CurveKeyError("this libzmq cannot make CURVE keys (built without libsodium?): \(ZMQError("zmq_curve_keypair"))")
        }
        return try CurveKeyPair(secretKey: String(cString: secretText))
    }

    /// The pair of a secret key; the public key is derived from it.
    public init(secretKey: String) throws {
        var publicText = [CChar](repeating: 0, count: 41)
        guard secretKey.utf8.count == 40, CurvePublicKey.decode(secretKey) != nil,
              zmq_curve_public(&publicText, secretKey) == 0,
              let publicKey = CurvePublicKey(String(cString: publicText))
        else { throw CurveKeyError("not a CURVE secret key (expected 40 characters of Z85)") }
        self.publicKey = publicKey
        self.secretKey = secretKey
    }

    /// Reads a key pair file; the error names the file and what is wrong with it.
    public init(file path: String) throws {
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else {
            throw CurveKeyError("cannot read key file \(path) (make one with `coevo keys generate`)")
        }
        var secret: String?
        var stated: String?
        for line in text.split(whereSeparator: \.isNewline) {
            let parts = line.split(separator: "=", maxSplits: 1).map { $0.trimmingCharacters(in: .whitespaces) }
            guard parts.count == 2 else { continue }
            if parts[0] == "secret-key" { secret = parts[1] }
            if parts[0] == "public-key" { stated = parts[1] }
        }
        guard let secret else { throw CurveKeyError("\(path) has no `secret-key = ...` line: it is not a key pair file") }
        do {
            try self.init(secretKey: secret)
        } catch {
            throw CurveKeyError("\(path): \(error)")
        }
        if let stated, stated != publicKey.z85 {
            throw CurveKeyError("\(path): its public-key line does not belong to its secret key")
        }
    }

    /// The key pair file's text.
    public var fileText: String {
        "# coevo CURVE key pair: keep this file private (mode 0600)\npublic-key = \(publicKey.z85)\nsecret-key = \(secretKey)\n"
    }

    /// Writes `NAME.key` (the pair, mode 0600) and `NAME.pub` (the public key alone) into
    /// `directory`; refuses to overwrite an existing key.
    public func write(name: String, directory: String) throws -> (keyFile: String, publicFile: String) {
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let keyFile = (directory as NSString).appendingPathComponent("\(name).key")
        let publicFile = (directory as NSString).appendingPathComponent("\(name).pub")
        for path in [keyFile, publicFile] where FileManager.default.fileExists(atPath: path) {
            throw CurveKeyError("\(path) exists; remove it first to make a new key")
        }
        try writeKeyFile(keyFile)
        try Data("\(publicKey.z85)\n".utf8).write(to: URL(fileURLWithPath: publicFile))
        return (keyFile, publicFile)
    }

    /// Writes the key pair file (mode 0600, readable by its owner only) at `path`.
    public func writeKeyFile(_ path: String) throws {
        guard FileManager.default.createFile(atPath: path, contents: Data(fileText.utf8),
                                             attributes: [.posixPermissions: 0o600]) else {
            throw CurveKeyError("cannot write \(path)")
        }
    }
}

/// A public key given on a command line: the 40 characters themselves, or a file holding
/// them (a `.pub` file, or a key pair file).
public func curvePublicKey(_ argument: String) throws -> CurvePublicKey {
    if let key = CurvePublicKey(argument) { return key }
    guard let text = try? String(contentsOfFile: argument, encoding: .utf8) else {
        throw CurveKeyError("'\(argument)' is neither a CURVE public key (40 characters of Z85) nor a readable file")
    }
    if text.contains("secret-key") { return try CurveKeyPair(file: argument).publicKey }
    let lines = text.split(whereSeparator: \.isNewline).filter { !$0.hasPrefix("#") && !$0.allSatisfy(\.isWhitespace) }
    guard lines.count == 1, let key = CurvePublicKey(String(lines[0])) else {
        throw CurveKeyError("\(argument) does not hold exactly one CURVE public key")
    }
    return key
}
