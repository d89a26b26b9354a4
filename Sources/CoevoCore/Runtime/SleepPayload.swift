import Foundation

/// The payload of a `sleep` job: milliseconds as 8 little-endian bytes, then padding.
public enum SleepPayload {
    public static func encode(milliseconds: Int64, padding: Int = 0) -> Data {
        var data = Data(count: 8 + max(0, padding))
        let value = UInt64(max(0, milliseconds))
        for byte in 0..<8 { data[byte] = UInt8(truncatingIfNeeded: value >> (8 * UInt64(byte))) }
        return data
    }

    /// nil when the payload is shorter than 8 bytes.
    public static func milliseconds(in payload: Data) -> UInt64? {
        guard payload.count >= 8 else { return nil }
        return payload.prefix(8).enumerated().reduce(UInt64(0)) { $0 | UInt64($1.element) << (8 * UInt64($1.offset)) }
    }
}
