import Foundation

/// The coordinator's hottest message, a JOBS envelope, written in one pass.
///
/// SwiftProtobuf sizes a nested message again at every level it is nested in before
/// writing it, so an envelope of a batch of leases had each lease sized three times and
/// then written; `coevo bench dispatch` put that at a ninth of the coordinator's
/// state-machine task. This writes exactly the bytes SwiftProtobuf writes (fields in
/// number order, proto3 defaults left out; `WireCodecTests` compares the two), sizing
/// each lease once. A batch carrying unknown fields (one decoded from a newer peer) is
/// left to SwiftProtobuf.
enum JobBatchEncoder {
    // Tags: (field number << 3) | wire type (0 varint, 2 length-delimited).
    private static let envelopeVersion: UInt8 = 1 << 3
    private static let envelopeJobs: UInt64 = 13 << 3 | 2
    private static let batchLease: UInt8 = 1 << 3 | 2
    private static let leaseJobID: UInt8 = 1 << 3
    private static let leaseAttempt: UInt8 = 2 << 3
    private static let leaseRunID: UInt8 = 3 << 3 | 2
    private static let leaseKind: UInt8 = 4 << 3 | 2
    private static let leasePayload: UInt8 = 5 << 3 | 2
    private static let leaseTimeout: UInt8 = 6 << 3

    static func envelope(version: UInt32, _ batch: JobBatchMessage) -> Data? {
        guard batch.unknownFields.data.isEmpty, batch.leases.allSatisfy({ $0.unknownFields.data.isEmpty }) else { return nil }
        let sizes = batch.leases.map(size)
        let batchSize = sizes.reduce(0) { $0 + 1 + varintSize(UInt64($1)) + $1 }
        var total = varintSize(envelopeJobs) + varintSize(UInt64(batchSize)) + batchSize
        if version != 0 { total += 1 + varintSize(UInt64(version)) }
        var data = Data(count: total)
        data.withUnsafeMutableBytes { buffer in
            var out = Writer(base: buffer.baseAddress!.assumingMemoryBound(to: UInt8.self))
            if version != 0 {
                out.byte(envelopeVersion)
                out.varint(UInt64(version))
            }
            out.varint(envelopeJobs)
            out.varint(UInt64(batchSize))
            for (lease, size) in zip(batch.leases, sizes) {
                out.byte(batchLease)
                out.varint(UInt64(size))
                if lease.jobID != 0 { out.byte(leaseJobID); out.varint(lease.jobID) }
                if lease.attempt != 0 { out.byte(leaseAttempt); out.varint(UInt64(lease.attempt)) }
                if !lease.runID.isEmpty { out.byte(leaseRunID); out.text(lease.runID) }
                if !lease.kind.isEmpty { out.byte(leaseKind); out.text(lease.kind) }
                if !lease.payload.isEmpty { out.byte(leasePayload); out.bytes(lease.payload) }
                if lease.timeoutMs != 0 { out.byte(leaseTimeout); out.varint(lease.timeoutMs) }
            }
            precondition(out.base == buffer.baseAddress!.assumingMemoryBound(to: UInt8.self) + total, "sized and written differ")
        }
        return data
    }

    private static func size(_ lease: LeaseMessage) -> Int {
        var size = 0
        if lease.jobID != 0 { size += 1 + varintSize(lease.jobID) }
        if lease.attempt != 0 { size += 1 + varintSize(UInt64(lease.attempt)) }
        if !lease.runID.isEmpty { size += 1 + delimitedSize(lease.runID.utf8.count) }
        if !lease.kind.isEmpty { size += 1 + delimitedSize(lease.kind.utf8.count) }
        if !lease.payload.isEmpty { size += 1 + delimitedSize(lease.payload.count) }
        if lease.timeoutMs != 0 { size += 1 + varintSize(lease.timeoutMs) }
        return size
    }

    private static func delimitedSize(_ count: Int) -> Int { varintSize(UInt64(count)) + count }

    private static func varintSize(_ value: UInt64) -> Int {
        value == 0 ? 1 : (64 - value.leadingZeroBitCount + 6) / 7
    }

    private struct Writer {
        var base: UnsafeMutablePointer<UInt8>

        mutating func byte(_ value: UInt8) {
            base.pointee = value
            base += 1
        }

        mutating func varint(_ value: UInt64) {
            var rest = value
            while rest >= 0x80 {
                byte(UInt8(truncatingIfNeeded: rest) | 0x80)
                rest >>= 7
            }
            byte(UInt8(rest))
        }

        mutating func text(_ value: String) {
            var value = value
            value.withUTF8 { raw(UnsafeRawBufferPointer($0)) }
        }

        mutating func bytes(_ value: Data) {
            value.withUnsafeBytes { raw($0) }
        }

        private mutating func raw(_ bytes: UnsafeRawBufferPointer) {
            varint(UInt64(bytes.count))
            guard let source = bytes.baseAddress, bytes.count > 0 else { return }
            UnsafeMutableRawPointer(base).copyMemory(from: source, byteCount: bytes.count)
            base += bytes.count
        }
    }
}
