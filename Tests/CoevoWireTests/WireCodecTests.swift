import CoevoCore
import CoevoWire
import Foundation
import SwiftProtobuf
import Testing

/// Bad input tried: random bytes, an envelope without a body, a future protocol version.
@Suite struct WireCodecTests {
    @Test func leasesAndResultsSurviveARoundTrip() throws {
        let job = Job(id: 42, run: "r1", kind: .sleep, payload: Data([1, 2, 3]), timeoutMilliseconds: 1500)
        var batch = JobBatchMessage()
        batch.leases = [LeaseMessage(Lease(job: job, worker: "w", attempt: 2, deadline: .zero))]
        guard case .jobs(let decoded) = try WireCodec.decode(WireCodec.encode(.jobs(batch))) else {
            Issue.record("expected a JOBS body")
            return
        }
        #expect(decoded.leases[0].jobID == 42 && decoded.leases[0].attempt == 2)
        #expect(decoded.leases[0].runID == "r1" && decoded.leases[0].kind == "sleep")
        #expect(decoded.leases[0].payload == Data([1, 2, 3]) && decoded.leases[0].timeoutMs == 1500)

        for status in JobOutcome.Status.allCases {
            let outcome = JobOutcome(status: status, output: Data([9]), error: "e", durationMicroseconds: 77)
            let message = ResultMessage(job: 5, attempt: 1, outcome: outcome)
            #expect(message.outcome == outcome)
        }
    }

    /// JOBS envelopes are written by hand (`JobBatchEncoder`): byte for byte what
    /// SwiftProtobuf writes, for empty batches, fields left at their defaults, multi-byte
    /// lengths and varints, text that is not ASCII, and a lease with unknown fields.
    @Test func jobBatchesAreWrittenAsSwiftProtobufWritesThem() throws {
        var rng = SeededGenerator(seed: 7)
        var batches: [JobBatchMessage] = [JobBatchMessage()]
        for count in [1, 2, 17, 300] {
            var batch = JobBatchMessage()
            batch.leases = (0..<count).map { _ in
                var lease = LeaseMessage()
                lease.jobID = [0, 1, 127, 128, 300, UInt64.max, UInt64.random(in: 0...UInt64.max, using: &rng)].randomElement(using: &rng)!
                lease.attempt = [0, 1, 200, UInt32.max].randomElement(using: &rng)!
                lease.runID = ["", "r", "bench-throughput-20261203T014016", "rün-ü", String(repeating: "x", count: 200)].randomElement(using: &rng)!
                lease.kind = ["", "noop", "agent_command"].randomElement(using: &rng)!
                lease.payload = Data((0..<[0, 1, 14, 16, 127, 128, 20_000].randomElement(using: &rng)!).map { _ in UInt8.random(in: 0...255, using: &rng) })
                lease.timeoutMs = [0, 1, 30_000, UInt64.max].randomElement(using: &rng)!
                return lease
            }
            batches.append(batch)
        }
        // A field this schema does not know (number 99, varint 5), as from a newer peer.
        var newer = batches[1]
        try newer.leases[0].merge(serializedBytes: Data([0x98, 0x06, 0x05]))
        #expect(!newer.leases[0].unknownFields.data.isEmpty)
        batches.append(newer)
        for batch in batches {
            var envelope = Envelope()
            envelope.protocolVersion = WireProtocol.version
            envelope.body = .jobs(batch)
            let mine = WireCodec.encode(.jobs(batch))
            #expect(mine == (try envelope.serializedData()), "batch of \(batch.leases.count)")
            guard case .jobs(let decoded) = try WireCodec.decode(mine) else {
                Issue.record("expected a JOBS body")
                continue
            }
            #expect(decoded == batch)
        }
    }

    @Test func anUnsetResultStatusReadsAsFailure() {
        #expect(ResultMessage().outcome.status == .failed)
    }

    @Test func garbageIsMalformed() {
        #expect(throws: WireDecodingError.self) { try WireCodec.decode(Data([0xff, 0xff, 0xff, 0x07, 0x00])) }
        do {
            _ = try WireCodec.decode(Data("hello, coordinator".utf8))
            Issue.record("text decoded as an envelope")
        } catch {
            #expect(error.code == .malformed || error.code == .versionMismatch)
        }
    }

    @Test func anEnvelopeWithoutBodyIsMalformed() throws {
        var envelope = Envelope()
        envelope.protocolVersion = WireProtocol.version
        #expect(throws: WireDecodingError.malformed("envelope has no body")) {
            try WireCodec.decode(try envelope.serializedData())
        }
    }

    @Test func anotherProtocolVersionIsRefusedByNumber() throws {
        var envelope = Envelope()
        envelope.protocolVersion = 2
        envelope.body = .heartbeat(HeartbeatMessage())
        #expect(throws: WireDecodingError.versionMismatch(got: 2)) {
            try WireCodec.decode(try envelope.serializedData())
        }
        #expect(WireDecodingError.versionMismatch(got: 2).description.contains("speaks 1"))
    }
}
