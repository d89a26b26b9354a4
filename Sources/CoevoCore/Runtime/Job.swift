import Foundation

/// One unit of work as the coordinator queues it. Workers hold no state between jobs, so
/// everything a worker needs travels in `payload`.
public struct Job: Hashable, Sendable {
    public var id: JobID
    public var run: RunID
    /// Selects the executor on the worker.
    public var kind: JobKind
    public var payload: Data
    /// How long one attempt may take on a worker before its lease expires.
    public var timeoutMilliseconds: Int64
    /// A worker to lease it to when that worker has a free slot at dispatch (a discovery
    /// agent's session and cache are on the worker of its last step); any other takes it
    /// otherwise. Not stored: after a restart the job goes anywhere.
    public var preferredWorker: WorkerID?
    /// What the store keeps instead of `payload`, when the payload carries what the run's
    /// driver makes again on resume (a discovery job's commits and task files, which
    /// would otherwise be stored once per job): the driver reads back only its key.
    public var storedPayload: Data?

    public init(id: JobID, run: RunID, kind: JobKind, payload: Data, timeoutMilliseconds: Int64, preferredWorker: WorkerID? = nil,
                storedPayload: Data? = nil) {
        self.id = id
        self.run = run
        self.kind = kind
        self.payload = payload
        self.timeoutMilliseconds = timeoutMilliseconds
        self.preferredWorker = preferredWorker
        self.storedPayload = storedPayload
    }
}
