import CoevoCore
import Foundation

/// One write for the batched writer. The coordinator's scheduler is the live truth; these
/// make it durable, so a restarted coordinator finds every applied result and requeues
/// the rest.
public enum StoreMutation: Sendable {
    /// A job made while the run goes (protocols), written like the jobs of `createRun`.
    case submitted(Job)
    case leased(JobID, worker: WorkerID, attempt: UInt32, at: Double)
    /// A batch run's job, written only when first leased, its row holding the lease: the
    /// batch is remade from the seed past what was leased, so what waits in the queue
    /// costs no write (and a job one write, not two).
    case leasedFirst(Job, worker: WorkerID, attempt: UInt32, at: Double)
    case result(ResultRecord)
    case requeued(JobID, attempts: UInt32)
    case failed(JobID, attempts: UInt32, reason: String)
    case event(EventRecord)
    /// A row of a discovery pool's shared memory; a row already there (a replay says it
    /// again) is left as it is.
    case memory(MemoryRecord, run: String)
    case runState(String, StoredRun.State, at: Double)
    /// A worker id now belongs to the CURVE key (Z85) that registered it; an id claimed
    /// already keeps its first key.
    case workerClaimed(WorkerID, key: String)
    /// These ids' keys were withdrawn from the allow-list: the ids are free again.
    case workerClaimsReleased([WorkerID])
}

/// An applied result: one row per job, ever (the table's primary key enforces it).
public struct ResultRecord: Hashable, Sendable {
    public var job: JobID
    public var attempt: UInt32
    public var worker: WorkerID
    public var outcome: JobOutcome
    public var completedAt: Double

    public init(job: JobID, attempt: UInt32, worker: WorkerID, outcome: JobOutcome, completedAt: Double) {
        self.job = job
        self.attempt = attempt
        self.worker = worker
        self.outcome = outcome
        self.completedAt = completedAt
    }
}

/// A line of the append-only event log.
public struct EventRecord: Hashable, Sendable {
    public var at: Double
    public var run: String?
    /// What kind of line it is (the shared vocabulary in `EventKind`).
    public var kind: EventKind
    public var job: JobID?
    public var worker: String?
    /// Human-readable detail.
    public var detail: String

    public init(at: Double, run: String? = nil, kind: EventKind, job: JobID? = nil, worker: String? = nil, detail: String = "") {
        self.at = at
        self.run = run
        self.kind = kind
        self.job = job
        self.worker = worker
        self.detail = detail
    }
}
