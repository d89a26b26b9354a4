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
