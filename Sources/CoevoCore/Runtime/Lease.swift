/// The right of one worker to run one attempt of a job until `deadline`.
public struct Lease: Hashable, Sendable {
    public var job: Job
    public var worker: WorkerID
    /// 1 for the first attempt; a requeued job gets the next number.
    public var attempt: UInt32
    public var deadline: MonotonicTime

    public init(job: Job, worker: WorkerID, attempt: UInt32, deadline: MonotonicTime) {
        self.job = job
        self.worker = worker
        self.attempt = attempt
        self.deadline = deadline
    }
}
