import Foundation

/// The two hottest messages, JOBS (coordinator to worker) and RESULTS (back), written in
/// one pass.
///
/// SwiftProtobuf sizes a nested message again at every level it is nested in before
/// writing it, so an envelope of a batch of leases had each lease sized three times and
/// then written (docs/ARCHITECTURE.md, "Measured choices", has what that cost). This
/// writes exactly the bytes
/// SwiftProtobuf writes (fields in number order, proto3 defaults left out;
/// `WireCodecTests` compares the two), sizing each element once. A batch carrying unknown
/// fields (one decoded from a newer peer) is left to SwiftProtobuf (nil).
enum BatchEnvelopeEncoder {
    static func jobs(version: UInt32, _ batch: JobBatchMessage) -> Data? {
        guard batch.unknownFields.data.isEmpty, batch.leases.allSatisfy({ $0.unknownFields.data.isEmpty }) else { return nil }
        return envelope(version: version, body: 13, batch.leases) { lease, out in
            out.varint(1, lease.jobID)
            out.varint(2, UInt64(lease.attempt))
            out.text(3, lease.runID)
            out.text(4, lease.kind)
            out.bytes(5, lease.payload)
            out.varint(6, lease.timeoutMs)
        }
    }

    static func results(version: UInt32, _ batch: ResultBatchMessage) -> Data? {
        guard batch.unknownFields.data.isEmpty, batch.results.allSatisfy({ $0.unknownFields.data.isEmpty }) else { return nil }
        return envelope(version: version, body: 14, batch.results) { result, out in
            out.varint(1, result.jobID)
            out.varint(2, UInt64(result.attempt))
            // An enum is written as its number, sign-extended like an int32.
            out.varint(3, UInt64(bitPattern: Int64(result.status.rawValue)))
            out.bytes(4, result.output)
            out.text(5, result.error)
            out.varint(6, result.durationUs)
            out.varint(7, result.retryAfterMs)
        }
    }

    /// An envelope: the version (field 1), then the body (field `body`), a batch whose only
    /// field is `elements` (field 1, repeated), each written by `fields`.
    private static func envelope<Element>(version: UInt32, body: Int, _ elements: [Element],
                                          fields: (Element, inout FieldWriter) -> Void) -> Data {
        let sizes = elements.map { element in
            var sizing = FieldWriter(into: nil)
            fields(element, &sizing)
            return sizing.count
        }
        var batch = FieldWriter(into: nil)
        for size in sizes { batch.delimitedHeader(1, count: size) }
        let batchSize = batch.count + sizes.reduce(0, +)
        var head = FieldWriter(into: nil)
        head.varint(1, UInt64(version))
        head.delimitedHeader(body, count: batchSize)
        let total = head.count + batchSize
        var data = Data(count: total)
        data.withUnsafeMutableBytes { buffer in
            let base = buffer.baseAddress!.assumingMemoryBound(to: UInt8.self)
            var out = FieldWriter(into: base)
            out.varint(1, UInt64(version))
            out.delimitedHeader(body, count: batchSize)
            for (element, size) in zip(elements, sizes) {
                out.delimitedHeader(1, count: size)
                fields(element, &out)
            }
            precondition(out.count == total, "sized and written differ")
        }
        return data
    }

    /// Writes protobuf fields, leaving out proto3 defaults; with no destination it only
    /// counts the bytes it would write.
    private struct FieldWriter {
        private let base: UnsafeMutablePointer<UInt8>?
        private(set) var count = 0

        init(into base: UnsafeMutablePointer<UInt8>?) { self.base = base }

        mutating func varint(_ field: Int, _ value: UInt64) {
            guard value != 0 else { return }
            raw(UInt64(field << 3))
            raw(value)
        }

        mutating func text(_ field: Int, _ value: String) {
            guard !value.isEmpty else { return }
            var value = value
            value.withUTF8 { delimited(field, UnsafeRawBufferPointer($0)) }
        }

        mutating func bytes(_ field: Int, _ value: Data) {
            guard !value.isEmpty else { return }
            value.withUnsafeBytes { delimited(field, $0) }
        }

        /// The tag and length of a length-delimited field whose `count` bytes follow.
        mutating func delimitedHeader(_ field: Int, count length: Int) {
            raw(UInt64(field << 3 | 2))
            raw(UInt64(length))
        }

        private mutating func delimited(_ field: Int, _ bytes: UnsafeRawBufferPointer) {
            delimitedHeader(field, count: bytes.count)
            if let base, let source = bytes.baseAddress {
                UnsafeMutableRawPointer(base + count).copyMemory(from: source, byteCount: bytes.count)
            }
            count += bytes.count
        }

        private mutating func raw(_ value: UInt64) {
            var rest = value
            while true {
                let low = UInt8(truncatingIfNeeded: rest & 0x7f)
                rest >>= 7
                base?[count] = rest == 0 ? low : low | 0x80
                count += 1
                if rest == 0 { return }
            }
        }
    }
}
