import Foundation

/// The two hottest messages, JOBS and RESULTS, read in one pass: the counterpart of
/// `BatchEnvelopeEncoder`.
///
/// SwiftProtobuf's generic decoder walks every field through its visitor machinery and
/// copies each nested message's bytes before reading them, a cost the coordinator pays on
/// every result (docs/ARCHITECTURE.md, "Measured choices"). This reads an
/// envelope whose body is a JOBS or RESULTS batch, its fields in any order, as
/// SwiftProtobuf would. Anything else (another body, a field this schema does not have,
/// a wire type or length that does not fit, text that is not UTF-8) gives nil and is left
/// to SwiftProtobuf, which decodes it or says why not; `WireCodecTests` checks the two
/// agree on valid, damaged and foreign frames.
enum BatchEnvelopeDecoder {
    /// The protocol version and body of `frame`, or nil to leave it to SwiftProtobuf.
    static func decode(_ frame: Data) -> (version: UInt32, body: Envelope.OneOf_Body)? {
        frame.withUnsafeBytes { bytes -> (UInt32, Envelope.OneOf_Body)? in
            var envelope = FieldReader(bytes, 0 ..< bytes.count)
            var version: UInt32 = 0
            var body: Envelope.OneOf_Body?
            while let (field, wire) = envelope.tag() {
                switch (field, wire) {
                case (1, .varint):
                    guard let value = envelope.varint() else { return nil }
                    version = UInt32(truncatingIfNeeded: value)
                // A second body merges with the first in protobuf: left to SwiftProtobuf.
                case (13, .delimited) where body == nil:
                    guard let batch = envelope.delimited(), let leases = Self.elements(bytes, batch, lease) else { return nil }
                    var message = JobBatchMessage()
                    message.leases = leases
                    body = .jobs(message)
                case (14, .delimited) where body == nil:
                    guard let batch = envelope.delimited(), let results = Self.elements(bytes, batch, result) else { return nil }
                    var message = ResultBatchMessage()
                    message.results = results
                    body = .results(message)
                default:
                    return nil
                }
            }
            guard envelope.isAtEnd, let body else { return nil }
            return (version, body)
        }
    }

    /// The elements of a batch (field 1, repeated, each read by `read`).
    private static func elements<Element>(_ bytes: UnsafeRawBufferPointer, _ range: Range<Int>,
                                          _ read: (inout FieldReader) -> Element?) -> [Element]? {
        var batch = FieldReader(bytes, range)
        var elements: [Element] = []
        while let (field, wire) = batch.tag() {
            guard field == 1, wire == .delimited, let element = batch.delimited() else { return nil }
            var reader = FieldReader(bytes, element)
            guard let value = read(&reader), reader.isAtEnd else { return nil }
            elements.append(value)
        }
        return batch.isAtEnd ? elements : nil
    }

    private static func lease(_ reader: inout FieldReader) -> LeaseMessage? {
        var lease = LeaseMessage()
        while let (field, wire) = reader.tag() {
            switch (field, wire) {
            case (1, .varint): guard let v = reader.varint() else { return nil }; lease.jobID = v
            case (2, .varint): guard let v = reader.varint() else { return nil }; lease.attempt = UInt32(truncatingIfNeeded: v)
            case (3, .delimited): guard let v = reader.text() else { return nil }; lease.runID = v
            case (4, .delimited): guard let v = reader.text() else { return nil }; lease.kind = v
            case (5, .delimited): guard let v = reader.data() else { return nil }; lease.payload = v
            case (6, .varint): guard let v = reader.varint() else { return nil }; lease.timeoutMs = v
            default: return nil
            }
        }
        return lease
    }

    private static func result(_ reader: inout FieldReader) -> ResultMessage? {
        var result = ResultMessage()
        while let (field, wire) = reader.tag() {
            switch (field, wire) {
            case (1, .varint): guard let v = reader.varint() else { return nil }; result.jobID = v
            case (2, .varint): guard let v = reader.varint() else { return nil }; result.attempt = UInt32(truncatingIfNeeded: v)
            case (3, .varint):
                // An enum is read as an int32; a number this schema does not name is kept
                // as UNRECOGNIZED, as SwiftProtobuf keeps it.
                guard let v = reader.varint(), let status = Coevo_Wire_V1_ResultStatus(rawValue: Int(Int32(truncatingIfNeeded: v))) else { return nil }
                result.status = status
            case (4, .delimited): guard let v = reader.data() else { return nil }; result.output = v
            case (5, .delimited): guard let v = reader.text() else { return nil }; result.error = v
            case (6, .varint): guard let v = reader.varint() else { return nil }; result.durationUs = v
            case (7, .varint): guard let v = reader.varint() else { return nil }; result.retryAfterMs = v
            default: return nil
            }
        }
        return result
    }

    enum WireType: UInt64 {
        case varint = 0, delimited = 2
    }

    /// Reads protobuf fields from `range` of `bytes`. Every read checks its bounds and
    /// gives nil when what it reads is not there or not well formed.
    struct FieldReader {
        private let bytes: UnsafeRawBufferPointer
        private var offset: Int
        private let end: Int
        /// Set when a tag could not be read: the reader then never reaches its end.
        private var broken = false

        init(_ bytes: UnsafeRawBufferPointer, _ range: Range<Int>) {
            self.bytes = bytes
            offset = range.lowerBound
            end = range.upperBound
        }

        var isAtEnd: Bool { !broken && offset == end }

        /// The next field's number and wire type; nil at the end, or (with `isAtEnd`
        /// false) for a tag that is not well formed or has a wire type not used here.
        mutating func tag() -> (Int, WireType)? {
            guard offset < end else { return nil }
            guard let key = varint(), let wire = WireType(rawValue: key & 7), key >> 3 > 0, key >> 3 <= 536_870_911 else {
                broken = true
                return nil
            }
            return (Int(key >> 3), wire)
        }

        mutating func varint() -> UInt64? {
            var value: UInt64 = 0
            var shift: UInt64 = 0
            while offset < end, shift < 64 {
                let byte = bytes[offset]
                offset += 1
                value |= UInt64(byte & 0x7f) << shift
                if byte & 0x80 == 0 { return value }
                shift += 7
            }
            return nil
        }

        /// The range of a length-delimited field's bytes, skipped over.
        mutating func delimited() -> Range<Int>? {
            guard let length = varint(), length <= UInt64(end - offset) else { return nil }
            let range = offset ..< offset + Int(length)
            offset = range.upperBound
            return range
        }

        // Both read through a pointer and a count: the initializers that take a slice of
        // the buffer are generic, and unspecialized they cost more than SwiftProtobuf.
        mutating func data() -> Data? {
            guard let range = delimited() else { return nil }
            return range.isEmpty ? Data() : Data(bytes: bytes.baseAddress! + range.lowerBound, count: range.count)
        }

        /// UTF-8 text; nil when it is not valid UTF-8 (SwiftProtobuf refuses it).
        mutating func text() -> String? {
            guard let range = delimited() else { return nil }
            guard !range.isEmpty else { return "" }
            let utf8 = UnsafeBufferPointer(start: (bytes.baseAddress! + range.lowerBound).assumingMemoryBound(to: UInt8.self), count: range.count)
            // ASCII (run ids, kinds) needs no validating, and decoding it is specialized;
            // `String(validating:)` is generic and, unspecialized, a fifth of a worker's decoding.
            if utf8.allSatisfy({ $0 < 0x80 }) { return String(decoding: utf8, as: UTF8.self) }
            return String(validating: utf8, as: UTF8.self)
        }
    }
}
