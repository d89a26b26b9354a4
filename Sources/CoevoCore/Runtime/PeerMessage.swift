/// What a worker tells its coordinator, as the coordinator's state machine takes it. The
/// coordinator's shell decodes frames into these once (CoevoWire maps the protocol's
/// envelopes, docs/PROTOCOL.md); nothing past the shell sees protobuf.
public enum WorkerMessage: Sendable, Equatable {
    case ready(WorkerHello)
    case heartbeat
    case results([JobReport])
    case disconnect(reason: String)
    /// `coevo status` asking; it need not be a registered worker.
    case statusRequest
    /// A message only a coordinator sends (WELCOME, JOBS, CANCEL, ERROR, STATUS_REPLY).
    case coordinatorOnly
}

/// READY: a worker process introducing itself.
public struct WorkerHello: Sendable, Equatable {
    public var workerID: String
    /// One per process: a new session under a known id is a restarted worker.
    public var session: String
    public var slots: UInt32
    /// The job kinds it runs.
    public var capabilities: [String]
    public var hostname: String
    public var pid: UInt32

    public init(workerID: String, session: String, slots: UInt32, capabilities: [String] = [], hostname: String = "", pid: UInt32 = 0) {
        self.workerID = workerID
        self.session = session
        self.slots = slots
        self.capabilities = capabilities
        self.hostname = hostname
        self.pid = pid
    }
}

/// What became of one attempt of a job, as its worker reports it.
public struct JobReport: Sendable, Equatable {
    public var job: JobID
    public var attempt: UInt32
    public var outcome: JobOutcome

    public init(job: JobID, attempt: UInt32, outcome: JobOutcome) {
        self.job = job
        self.attempt = attempt
        self.outcome = outcome
    }
}

/// What a coordinator tells a worker (or a `coevo status` asking).
public enum CoordinatorMessage: Sendable, Equatable {
    case welcome(session: String, heartbeatIntervalMilliseconds: UInt32, liveness: UInt32)
    case jobs([Lease])
    case cancel([JobID], reason: String)
    case heartbeat
    case disconnect(reason: String)
    /// The peer's last message was refused; `job` is 0 unless it was about one job.
    case refusal(PeerRefusal, String, job: JobID = 0)
    case status(LiveSummary, session: String)
}

/// Why a coordinator refused a peer's message (the protocol's ERROR codes).
public enum PeerRefusal: Sendable, Hashable {
    case malformed
    case versionMismatch
    case unknownWorker
    case duplicateWorker
    case unknownJob
    case unexpectedMessage
    case invalidReady
}
