/// A decision the scheduler took that the shell must log, store, or act on.
public enum SchedulerEvent: Hashable, Sendable {
    public enum LeaseLoss: String, Hashable, Sendable {
        /// The job ran past its timeout plus grace; the worker still lives and gets a CANCEL.
        case deadline
        /// The worker holding the lease went silent, disconnected, or was replaced.
        case workerLost = "worker_lost"
    }

    case workerExpired(WorkerID, silentForMilliseconds: Int64)
    case workerLeft(WorkerID)
    /// A new process registered under the id of one that had stopped talking.
    case workerReplaced(WorkerID)
    case leaseLost(JobID, worker: WorkerID, attempt: UInt32, reason: LeaseLoss)
    case jobRequeued(JobID, run: RunID, kind: JobKind, nextAttempt: UInt32)
    case jobFailed(JobID, run: RunID, kind: JobKind, reason: String)
}
