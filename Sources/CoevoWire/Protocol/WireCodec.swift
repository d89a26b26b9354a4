import CoevoCore
import Foundation
import SwiftProtobuf

/// Why an incoming frame could not be turned into an envelope.
public enum WireDecodingError: Error, Hashable, Sendable, CustomStringConvertible {
    case malformed(String)
    case versionMismatch(got: UInt32)

    /// What the receiver answers a frame it could not decode with.
    public var refusal: PeerRefusal {
        switch self {
        case .malformed: .malformed
        case .versionMismatch: .versionMismatch
        }
    }

    public var description: String {
        switch self {
        case .malformed(let why): "malformed message: \(why)"
        case .versionMismatch(let got):
            "protocol version mismatch: this peer speaks \(WireProtocol.version), the message says \(got)"
        }
    }
}

/// Turns envelopes into frames and back, enforcing the protocol version.
public enum WireCodec {
    public static func encode(_ body: Envelope.OneOf_Body) -> Data {
        switch body {
        case .jobs(let batch): if let data = BatchEnvelopeEncoder.jobs(version: WireProtocol.version, batch) { return data }
        case .results(let batch): if let data = BatchEnvelopeEncoder.results(version: WireProtocol.version, batch) { return data }
        default: break
        }
        var envelope = Envelope()
        envelope.protocolVersion = WireProtocol.version
        envelope.body = body
        // Serialising a message we built cannot fail: every field is set by us.
        return try! envelope.serializedData()
    }

    public static func decode(_ frame: Data) throws(WireDecodingError) -> Envelope.OneOf_Body {
        if let (version, body) = BatchEnvelopeDecoder.decode(frame) {
            guard version == WireProtocol.version else { throw .versionMismatch(got: version) }
            return body
        }
        let envelope: Envelope
        do {
            envelope = try Envelope(serializedBytes: frame)
        } catch {
            throw .malformed("not a protobuf Envelope (\(frame.count) bytes)")
        }
        guard envelope.protocolVersion == WireProtocol.version else {
            throw .versionMismatch(got: envelope.protocolVersion)
        }
        guard let body = envelope.body else { throw .malformed("envelope has no body") }
        return body
    }
}
