import Foundation

/// One unit of work as the coordinator queues it. Workers hold no state between jobs, so
/// everything a worker needs travels in `payload`.
///
/// Immutable, and everything but the id sits behind one reference: a job is copied into
/// the scheduler's tables, its lease, the store's queue and the metrics' marks, and with
/// five reference-counted fields inline every copy and every drop cost five atomic
/// operations, most of the coordinator's retain/release traffic (docs/ARCHITECTURE.md,
/// "Measured choices").
public struct Job: Hashable, Sendable {
    public let id: JobID
    private let fields: Fields

    private final class Fields: Sendable {
        let run: RunID
        let kind: JobKind
        let payload: Data
        let timeoutMilliseconds: Int64
        let preferredWorker: WorkerID?
        let storedPayload: Data?
        let key: String?

        init(run: RunID, kind: JobKind, payload: Data, timeoutMilliseconds: Int64, preferredWorker: WorkerID?, storedPayload: Data?,
             key: String?) {
            self.run = run
            self.kind = kind
            self.payload = payload
            self.timeoutMilliseconds = timeoutMilliseconds
            self.preferredWorker = preferredWorker
            self.storedPayload = storedPayload
            self.key = key
        }
    }

    public var run: RunID { fields.run }
    /// Selects the executor on the worker.
    public var kind: JobKind { fields.kind }
    public var payload: Data { fields.payload }
    /// How long one attempt may take on a worker before its lease expires.
    public var timeoutMilliseconds: Int64 { fields.timeoutMilliseconds }
    /// A worker to lease it to when that worker has a free slot at dispatch (a discovery
    /// agent's session and cache are on the worker of its last step); any other takes it
    /// otherwise. Not stored: after a restart the job goes anywhere.
    public var preferredWorker: WorkerID? { fields.preferredWorker }
    /// What the store keeps instead of `payload`, when the payload carries what the run's
    /// driver makes again on resume (a discovery job's commits and task files, which
    /// would otherwise be stored once per job): the driver reads back only its key.
    public var storedPayload: Data? { fields.storedPayload }
    /// What the run's engine calls the request this job carries (a call's key, a chamber
    /// turn's name, a discovery step's): stored with the job, so a resumed run matches
    /// its stored jobs to its engine's requests without decoding payloads. Nil for a batch.
    public var key: String? { fields.key }

    public init(id: JobID, run: RunID, kind: JobKind, payload: Data, timeoutMilliseconds: Int64, preferredWorker: WorkerID? = nil,
                storedPayload: Data? = nil, key: String? = nil) {
        self.id = id
        fields = Fields(run: run, kind: kind, payload: payload, timeoutMilliseconds: timeoutMilliseconds,
                        preferredWorker: preferredWorker, storedPayload: storedPayload, key: key)
    }

    public static func == (a: Job, b: Job) -> Bool {
        a.id == b.id && (a.fields === b.fields
            || (a.run == b.run && a.kind == b.kind && a.payload == b.payload && a.timeoutMilliseconds == b.timeoutMilliseconds
                && a.preferredWorker == b.preferredWorker && a.storedPayload == b.storedPayload && a.key == b.key))
    }

    public func hash(into hasher: inout Hasher) {
        hasher.combine(id)
        hasher.combine(run)
        hasher.combine(kind)
        hasher.combine(payload)
        hasher.combine(timeoutMilliseconds)
        hasher.combine(preferredWorker)
        hasher.combine(storedPayload)
        hasher.combine(key)
    }
}
