import CoevoCore
@testable import CoevoWire
import Foundation
import Testing

/// The coordinator's messages in domain terms and on the wire: each field reaches the
/// other side. Bad input tried: a result with an unset status, every message only a
/// coordinator sends arriving from a worker.
@Suite struct PeerMessageMappingTests {
    /// A worker's frame as the coordinator's shell decodes it.
    static func received(_ body: Envelope.OneOf_Body) throws -> WorkerMessage {
        WorkerMessage(try WireCodec.decode(WireCodec.encode(body)))
    }

    @Test func whatAWorkerSaysArrivesWithEveryField() throws {
        var ready = ReadyMessage()
        (ready.workerID, ready.session, ready.slots, ready.capabilities, ready.hostname, ready.pid) = ("w1", "s", 4, ["noop", "llm.chat"], "h", 77)
        #expect(try Self.received(.ready(ready))
            == .ready(WorkerHello(workerID: "w1", session: "s", slots: 4, capabilities: ["noop", "llm.chat"], hostname: "h", pid: 77)))

        var deferred = JobOutcome(status: .deferred, output: Data([1]), error: "down", durationMicroseconds: 5)
        deferred.retryAfterMilliseconds = 250
        var unset = ResultMessage(job: 8, attempt: 1, outcome: JobOutcome(status: .succeeded, output: Data([2])))
        unset.status = .unspecified
        var batch = ResultBatchMessage()
        batch.results = [ResultMessage(job: 7, attempt: 2, outcome: deferred), unset]
        #expect(try Self.received(.results(batch)) == .results([
            JobReport(job: 7, attempt: 2, outcome: deferred),
            JobReport(job: 8, attempt: 1, outcome: JobOutcome(status: .failed, output: Data([2]))),
        ]), "an unset status reads as failed")

        #expect(try Self.received(.heartbeat(HeartbeatMessage())) == .heartbeat)
        #expect(try Self.received(.disconnect(.with { $0.reason = "bye" })) == .disconnect(reason: "bye"))
        #expect(try Self.received(.statusRequest(StatusRequestMessage())) == .statusRequest)
        for body: Envelope.OneOf_Body in [.welcome(WelcomeMessage()), .jobs(JobBatchMessage()), .cancel(CancelMessage()),
                                          .error(ErrorMessage()), .statusReply(StatusReplyMessage())] {
            #expect(try Self.received(body) == .coordinatorOnly)
        }
    }

    @Test func whatTheCoordinatorSaysGoesOutWithEveryField() throws {
        func sent(_ message: CoordinatorMessage) throws -> Envelope.OneOf_Body {
            try WireCodec.decode(WireCodec.encode(Envelope.OneOf_Body(message)))
        }
        guard case .welcome(let welcome) = try sent(.welcome(session: "c1", heartbeatIntervalMilliseconds: 500, liveness: 3)) else {
            Issue.record("no WELCOME"); return
        }
        #expect(welcome.coordinatorSession == "c1" && welcome.heartbeatIntervalMs == 500 && welcome.liveness == 3)

        let job = Job(id: 42, run: "r1", kind: .sleep, payload: Data([1, 2, 3]), timeoutMilliseconds: 1500)
        guard case .jobs(let batch) = try sent(.jobs([Lease(job: job, worker: "w", attempt: 2, deadline: .zero)])) else {
            Issue.record("no JOBS"); return
        }
        #expect(batch.leases.map { [$0.jobID, UInt64($0.attempt), $0.timeoutMs] } == [[42, 2, 1500]])
        #expect(batch.leases.first?.runID == "r1" && batch.leases.first?.payload == Data([1, 2, 3]))

        guard case .cancel(let cancel) = try sent(.cancel([4, 5], reason: "late")) else { Issue.record("no CANCEL"); return }
        #expect(cancel.jobIds == [4, 5] && cancel.reason == "late")
        guard case .disconnect(let goodbye) = try sent(.disconnect(reason: "done")) else { Issue.record("no DISCONNECT"); return }
        #expect(goodbye.reason == "done")

        let refusals: [(PeerRefusal, WireErrorCode)] = [
            (.malformed, .malformed), (.versionMismatch, .versionMismatch), (.unknownWorker, .unknownWorker),
            (.duplicateWorker, .duplicateWorker), (.unknownJob, .unknownJob), (.unexpectedMessage, .unexpectedMessage),
            (.invalidReady, .invalidReady),
        ]
        for (refusal, code) in refusals {
            guard case .error(let error) = try sent(.refusal(refusal, "why", job: 9)) else { Issue.record("no ERROR"); return }
            #expect(error.code == code && error.message == "why" && error.jobID == 9)
        }
        #expect(WireDecodingError.versionMismatch(got: 2).refusal == .versionMismatch)
    }
}
