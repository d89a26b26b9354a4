import CoevoCore

/// The coordinator's side of the protocol in domain terms: what a worker's envelope body
/// says, and the body that carries what the coordinator says. The one place the two meet.
extension WorkerMessage {
    public init(_ body: Envelope.OneOf_Body) {
        switch body {
        case .ready(let ready):
            self = .ready(WorkerHello(workerID: ready.workerID, session: ready.session, slots: ready.slots,
                                      capabilities: ready.capabilities, hostname: ready.hostname, pid: ready.pid))
        case .heartbeat: self = .heartbeat
        case .results(let batch):
            self = .results(batch.results.map { JobReport(job: $0.jobID, attempt: $0.attempt, outcome: $0.outcome) })
        case .disconnect(let goodbye): self = .disconnect(reason: goodbye.reason)
        case .statusRequest: self = .statusRequest
        case .welcome, .jobs, .cancel, .error, .statusReply: self = .coordinatorOnly
        }
    }
}

extension Envelope.OneOf_Body {
    public init(_ message: CoordinatorMessage) {
        switch message {
        case .welcome(let session, let interval, let liveness):
            self = .welcome(.with {
                $0.coordinatorSession = session
                $0.heartbeatIntervalMs = interval
                $0.liveness = liveness
            })
        case .jobs(let leases):
            var batch = JobBatchMessage()
            batch.leases = leases.map(LeaseMessage.init)
            self = .jobs(batch)
        case .cancel(let jobs, let reason):
            self = .cancel(.with {
                $0.jobIds = jobs
                $0.reason = reason
            })
        case .heartbeat: self = .heartbeat(HeartbeatMessage())
        case .disconnect(let reason): self = .disconnect(.with { $0.reason = reason })
        case .refusal(let refusal, let message, let job):
            self = .error(.with {
                $0.code = WireErrorCode(refusal)
                $0.message = message
                $0.jobID = job
            })
        case .status(let summary, let session): self = .statusReply(StatusReplyMessage(summary, session: session))
        }
    }
}

extension WireErrorCode {
    public init(_ refusal: PeerRefusal) {
        self = switch refusal {
        case .malformed: .malformed
        case .versionMismatch: .versionMismatch
        case .unknownWorker: .unknownWorker
        case .duplicateWorker: .duplicateWorker
        case .unknownJob: .unknownJob
        case .unexpectedMessage: .unexpectedMessage
        case .invalidReady: .invalidReady
        }
    }
}
