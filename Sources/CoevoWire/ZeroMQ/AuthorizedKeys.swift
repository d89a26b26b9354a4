import Foundation

/// The CURVE public keys a coordinator lets in: a directory of `*.pub` files (one key
/// each, the file name naming its holder) or one file with a key per line (`KEY [name]`,
/// `#` comments). Read again whenever it changes, so a key is added or withdrawn without
/// a restart.
public struct AuthorizedKeys: Sendable {
    /// Key -> who holds it (a file name, or the name after the key).
    public private(set) var holders: [CurvePublicKey: String] = [:]

    public init(_ holders: [CurvePublicKey: String] = [:]) { self.holders = holders }

    /// Reads `path`; the error names the file and line at fault.
    public init(path: String) throws {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
            throw CurveKeyError("authorized keys: \(path) does not exist (a directory of .pub files, or a file of keys)")
        }
        if isDirectory.boolValue {
            let names = (try? FileManager.default.contentsOfDirectory(atPath: path)) ?? []
            for name in names.sorted() where name.hasSuffix(".pub") {
                let file = (path as NSString).appendingPathComponent(name)
                holders[try curvePublicKey(file)] = String(name.dropLast(4))
            }
        } else {
            guard let text = try? String(contentsOfFile: path, encoding: .utf8) else {
                throw CurveKeyError("authorized keys: cannot read \(path)")
            }
            for (number, line) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
                let words = line.split(whereSeparator: \.isWhitespace)
                guard let first = words.first, !first.hasPrefix("#") else { continue }
                guard let key = CurvePublicKey(String(first)) else {
                    throw CurveKeyError("authorized keys: \(path) line \(number + 1) is not a CURVE public key (40 characters of Z85)")
                }
                holders[key] = words.dropFirst().joined(separator: " ").isEmpty ? "line \(number + 1)" : words.dropFirst().joined(separator: " ")
            }
        }
    }

    public func holder(of key: CurvePublicKey) -> String? { holders[key] }
    public var count: Int { holders.count }

    public mutating func add(_ key: CurvePublicKey, holder: String) { holders[key] = holder }
}

/// The ZAP protocol (ZeroMQ RFC 27) as a pure decision: a request from libzmq in, the
/// reply frames out. Only CURVE clients whose key is authorized get "200".
public enum ZapPolicy {
    public struct Decision: Sendable {
        public var reply: [Data]
        /// Who was let in (the key's holder), or why not.
        public var accepted: Bool
        public var line: String
    }

    /// `frames`: version, request id, domain, address, identity, mechanism, credentials.
    public static func decide(_ frames: [Data], keys: AuthorizedKeys) -> Decision {
        func reply(_ code: String, _ text: String, user: String = "") -> [Data] {
            [Data("1.0".utf8), frames.count > 1 ? frames[1] : Data(), Data(code.utf8), Data(text.utf8), Data(user.utf8), Data()]
        }
        guard frames.count >= 6, String(decoding: frames[0], as: UTF8.self) == "1.0" else {
            return Decision(reply: reply("500", "malformed ZAP request"), accepted: false, line: "malformed ZAP request (\(frames.count) frames)")
        }
        let address = String(decoding: frames[3], as: UTF8.self)
        let mechanism = String(decoding: frames[5], as: UTF8.self)
        guard mechanism == "CURVE", frames.count == 7, frames[6].count == 32 else {
            return Decision(reply: reply("400", "CURVE required"), accepted: false,
                            line: "refused a \(mechanism) client from \(address): this coordinator accepts CURVE clients only")
        }
        let key = CurvePublicKey(bytes: frames[6])
        guard let holder = keys.holder(of: key) else {
            return Decision(reply: reply("400", "key not authorized"), accepted: false,
                            line: "refused CURVE client \(key) from \(address): its key is not in the authorized keys")
        }
        return Decision(reply: reply("200", "OK", user: key.z85), accepted: true,
                        line: "accepted CURVE client \(holder) (\(key)) from \(address)")
    }
}
