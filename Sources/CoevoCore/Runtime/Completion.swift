/// The scheduler's verdict on a RESULT. Only `.apply` changes anything: results are
/// applied exactly once, keyed by job id and the attempt's lease.
public enum Completion: Hashable, Sendable {
    case apply(Lease)
    /// No such job was ever submitted.
    case unknownJob
    /// The job already has a result or has failed for good.
    case alreadyFinished
    /// The lease this result belongs to expired (or was never this worker's): the job was
    /// requeued and another attempt owns it now.
    case staleLease
}
