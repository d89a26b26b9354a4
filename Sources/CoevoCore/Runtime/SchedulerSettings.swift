/// The knobs of the job scheduler; the coordinator builds them from the config.
public struct SchedulerSettings: Hashable, Sendable {
    /// Lease expiries a job survives before it is marked failed.
    public var maxAttempts: UInt32
    /// A worker that sends nothing for this long is expired (heartbeat interval x liveness).
    public var workerSilenceLimitMilliseconds: Int64
    /// Time past a job's own timeout before the coordinator takes the lease back; covers
    /// transit and the worker's own timeout report.
    public var leaseGraceMilliseconds: Int64
    /// Workers that must have registered before the first lease goes out, so a cluster
    /// starts with all its nodes rather than whichever connected first. Once reached,
    /// dispatch goes on with fewer: a node lost mid-run must not stall the run.
    public var minimumWorkers: Int
    /// DEFERRED answers one job may get before the next counts as a lost attempt.
    public var maxDeferrals: UInt32

    public init(
        maxAttempts: UInt32 = 3, workerSilenceLimitMilliseconds: Int64 = 3000,
        leaseGraceMilliseconds: Int64 = 2000, minimumWorkers: Int = 1, maxDeferrals: UInt32 = 20
    ) {
        self.maxDeferrals = maxDeferrals
        self.maxAttempts = maxAttempts
        self.workerSilenceLimitMilliseconds = workerSilenceLimitMilliseconds
        self.leaseGraceMilliseconds = leaseGraceMilliseconds
        self.minimumWorkers = minimumWorkers
    }
}
