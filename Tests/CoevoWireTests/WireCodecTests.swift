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

    /// JOBS and RESULTS envelopes are written by hand (`BatchEnvelopeEncoder`): byte for
    /// byte what SwiftProtobuf writes, for empty batches, fields left at their defaults,
    /// multi-byte lengths and varints, text that is not ASCII, a status this schema does
    /// not name, and elements with unknown fields (left to SwiftProtobuf).
    @Test func batchesAreWrittenAsSwiftProtobufWritesThem() throws {
        var rng = SeededGenerator(seed: 7)
        func bytes() -> Data {
            Data((0..<[0, 1, 14, 16, 127, 128, 20_000].randomElement(using: &rng)!).map { _ in UInt8.random(in: 0...255, using: &rng) })
        }
        func number() -> UInt64 { [0, 1, 127, 128, 300, UInt64.max, UInt64.random(in: 0...UInt64.max, using: &rng)].randomElement(using: &rng)! }
        func text() -> String { ["", "r", "bench-throughput-20261203T014016", "rün-ü", String(repeating: "x", count: 200)].randomElement(using: &rng)! }
        var bodies: [Envelope.OneOf_Body] = [.jobs(JobBatchMessage()), .results(ResultBatchMessage())]
        for count in [1, 2, 17, 300] {
            var jobs = JobBatchMessage()
            jobs.leases = (0..<count).map { _ in
                var lease = LeaseMessage()
                lease.jobID = number()
                lease.attempt = [0, 1, 200, UInt32.max].randomElement(using: &rng)!
                lease.runID = text()
                lease.kind = ["", "noop", "agent_command"].randomElement(using: &rng)!
                lease.payload = bytes()
                lease.timeoutMs = number()
                return lease
            }
            var results = ResultBatchMessage()
            results.results = (0..<count).map { _ in
                var result = ResultMessage()
                result.jobID = number()
                result.attempt = [0, 1, UInt32.max].randomElement(using: &rng)!
                result.status = [.unspecified, .succeeded, .deferred, .UNRECOGNIZED(9), .UNRECOGNIZED(-1)].randomElement(using: &rng)!
                result.output = bytes()
                result.error = text()
                result.durationUs = number()
                result.retryAfterMs = number()
                return result
            }
            bodies += [.jobs(jobs), .results(results)]
        }
        // A field this schema does not know (number 99, varint 5), as from a newer peer.
        let unknown = Data([0x98, 0x06, 0x05])
        guard case .jobs(var newerJobs) = bodies[2], case .results(var newerResults) = bodies[3] else { return }
        try newerJobs.leases[0].merge(serializedBytes: unknown)
        try newerResults.merge(serializedBytes: unknown)
        #expect(!newerJobs.leases[0].unknownFields.data.isEmpty && !newerResults.unknownFields.data.isEmpty)
        bodies += [.jobs(newerJobs), .results(newerResults)]
        for body in bodies {
            var envelope = Envelope()
            envelope.protocolVersion = WireProtocol.version
            envelope.body = body
            let mine = WireCodec.encode(body)
            #expect(mine == (try envelope.serializedData()), "\(String("\(body)".prefix(80)))")
            #expect(try WireCodec.decode(mine) == body)
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
