/// The knobs of the job scheduler; the coordinator builds them from the config.
public struct SchedulerSettings: Hashable, Sendable {
    /// Lease expiries a job survives before it is marked failed.
    public var maxAttempts: UInt32
    /// A worker that sends nothing for this long is expired (heartbeat interval x liveness).
    public var workerSilenceLimitMilliseconds: Int64
    /// Time past a job's own timeout before the coordinator takes the lease back; covers
    /// transit and the worker's own timeout report.
    public var leaseGraceMilliseconds: Int64

    public init(maxAttempts: UInt32 = 3, workerSilenceLimitMilliseconds: Int64 = 3000, leaseGraceMilliseconds: Int64 = 2000) {
        self.maxAttempts = maxAttempts
        self.workerSilenceLimitMilliseconds = workerSilenceLimitMilliseconds
        self.leaseGraceMilliseconds = leaseGraceMilliseconds
    }
}
