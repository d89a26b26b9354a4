import CoevoCore
@testable import CoevoWire
import Foundation
import SwiftProtobuf
import Testing

/// Bad input tried: random bytes, an envelope without a body, a future protocol version;
/// for the hand-written batch reader, damaged and foreign frames (see its test).
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
        for body in try Self.randomBatches(seed: 7) {
            var envelope = Envelope()
            envelope.protocolVersion = WireProtocol.version
            envelope.body = body
            let mine = WireCodec.encode(body)
            #expect(mine == (try envelope.serializedData()), "\(String("\(body)".prefix(80)))")
            #expect(try WireCodec.decode(mine) == body)
        }
    }

    /// JOBS and RESULTS bodies: empty batches, fields left at their defaults, multi-byte
    /// lengths and varints, text that is not ASCII, a status this schema does not name,
    /// and (the last two) elements with unknown fields.
    static func randomBatches(seed: UInt64) throws -> [Envelope.OneOf_Body] {
        var rng = SeededGenerator(seed: seed)
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
        guard case .jobs(var newerJobs) = bodies[2], case .results(var newerResults) = bodies[3] else { return bodies }
        try newerJobs.leases[0].merge(serializedBytes: unknown)
        try newerResults.merge(serializedBytes: unknown)
        #expect(!newerJobs.leases[0].unknownFields.data.isEmpty && !newerResults.unknownFields.data.isEmpty)
        return bodies + [.jobs(newerJobs), .results(newerResults)]
    }

    /// What `WireCodec.decode` must make of `frame`: what SwiftProtobuf reads (errors by
    /// their code; their wording is the codec's own).
    static func readingBySwiftProtobuf(_ frame: Data) -> Reading {
        guard let envelope = try? Envelope(serializedBytes: frame) else { return .refused(.malformed) }
        guard envelope.protocolVersion == WireProtocol.version else { return .refused(.versionMismatch) }
        return envelope.body.map { .body($0) } ?? .refused(.malformed)
    }

    enum Reading: Equatable {
        case body(Envelope.OneOf_Body)
        case refused(WireErrorCode)
    }

    /// JOBS and RESULTS are read by hand (`BatchEnvelopeDecoder`), and every frame must
    /// read as SwiftProtobuf reads it: the same body, or a refusal where it refuses.
    /// Frames tried: the random batches; 10,000 of them damaged (bit flips, truncations,
    /// insertions, splices: `FrameDecoderFuzzTests.mutate`); and encodings SwiftProtobuf
    /// never writes but reads: fields in reverse order, a field given twice (the last
    /// wins), the body given twice (merged), a zero in two bytes, an unknown field, a wire
    /// type that does not fit, text that is not UTF-8, and another protocol version.
    @Test func batchesAreReadAsSwiftProtobufReadsThem() throws {
        let valid = try Self.randomBatches(seed: 11).map(WireCodec.encode)
        // The hand-written reader must take what the hand-written writer writes (all but
        // the two with unknown fields, which SwiftProtobuf writes and reads).
        #expect(valid.filter { BatchEnvelopeDecoder.decode($0) != nil }.count == valid.count - 2)
        let result: [UInt8] = [0x08, 0x05, 0x10, 0x01, 0x18, 0x01, 0x22, 0x01, 0x2a]  // job 5, attempt 1, SUCCEEDED, output "*"
        func frame(version: [UInt8] = [0x08, 0x01], body: UInt8 = 0x72, _ elements: [[UInt8]]) -> Data {
            let batch: [UInt8] = elements.flatMap { [0x0a, UInt8($0.count)] + $0 }
            return Data(version + [body, UInt8(batch.count)] + batch)
        }
        let lease: [UInt8] = [0x08, 0x09, 0x1a, 0x02, 0x72, 0x31, 0x22, 0x04, 0x6e, 0x6f, 0x6f, 0x70]  // job 9, run "r1", kind "noop"
        let foreign: [(String, Data)] = [
            ("body before version", Data(frame(version: [], [result]) + [0x08, 0x01])),
            ("a field given twice", frame([result + [0x08, 0x07]])),
            ("the body given twice", frame([result]) + frame(version: [], [result + [0x08, 0x06]])),
            ("a zero in two bytes", frame([[0x08, 0x80, 0x00]])),
            ("an unknown field", frame([result + [0x98, 0x06, 0x05]])),
            ("a number where bytes go", frame([[0x22, 0x01, 0x00, 0x20, 0x01]])),
            ("bytes where a number goes", frame([[0x0a, 0x01, 0x00]])),
            ("a length past the end", frame([[0x22, 0x09, 0x00]])),
            ("a varint past the end", Data(frame([[0x08, 0xff, 0xff]]).dropLast(1) + [0xff])),
            ("an eleven-byte varint", frame([[0x08] + [UInt8](repeating: 0xff, count: 10) + [0x01]])),
            ("field number zero", frame([[0x00, 0x01]])),
            ("a run id that is not UTF-8", frame(body: 0x6a, [lease + [0x1a, 0x02, 0xc3, 0x28]])),
            ("a lease", frame(body: 0x6a, [lease])),
            ("a lease with a non-ASCII run id", frame(body: 0x6a, [lease + [0x1a, 0x03, 0x72, 0xc3, 0xbc]])),
            ("version 2", frame(version: [0x08, 0x02], [result])),
            ("version 1 in two bytes", frame(version: [0x08, 0x81, 0x00], [result])),
            ("a status this schema does not name", frame([[0x18, 0xff, 0xff, 0xff, 0xff, 0x0f]])),
        ]
        var rng = SeededGenerator(seed: 12)
        let damaged = (0..<10_000).map { _ in ("damaged", FrameDecoderFuzzTests.mutate(valid, using: &rng)) }
        var disagreements: [String] = []
        var damagedReadByHand = 0, damagedRefused = 0
        for (what, frame) in valid.map({ ("valid", $0) }) + foreign + damaged {
            let mine: Reading
            do throws(WireDecodingError) { mine = .body(try WireCodec.decode(frame)) } catch { mine = .refused(WireErrorCode(error.refusal)) }
            if mine != Self.readingBySwiftProtobuf(frame) { disagreements.append("\(what): \(frame.map { String(format: "%02x", $0) }.joined())") }
            guard what == "damaged" else { continue }
            if BatchEnvelopeDecoder.decode(frame) != nil { damagedReadByHand += 1 }
            if case .refused = mine { damagedRefused += 1 }
        }
        #expect(disagreements.isEmpty, "\(disagreements.prefix(5))")
        // The damaged frames must reach both the hand-written reader and refusals, or
        // they test little (about 6% and 50% with this seed).
        #expect(damagedReadByHand > 300 && damagedRefused > 3_000, "read by hand \(damagedReadByHand), refused \(damagedRefused)")
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
            #expect(error.refusal == .malformed || error.refusal == .versionMismatch)
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
