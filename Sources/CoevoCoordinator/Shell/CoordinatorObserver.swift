import CoevoCore

/// A snapshot for progress displays (`coevo run`), the dashboard, metrics and benchmarks.
public struct CoordinatorProgress: Sendable {
    public var runs: [RunID: RunProgress]
    /// The round and phase of each protocol run (batch runs have none).
    public var stages: [RunID: RunStage] = [:]
    /// Worker -> (slots, leased).
    public var slots: [WorkerID: (total: Int, leased: Int)] = [:]
    /// The coordinator's budget: its limits and what was spent against them.
    public var budget = Budget()
    /// What last went wrong in each run that had a failure or a deferral.
    public var lastProblem: [RunID: String] = [:]
    public var uptimeMilliseconds: Int64 = 0
    /// The figures displays show, with rates and times left (set on the once-a-second
    /// snapshots observers get).
    public var summary: LiveSummary?
    public var workers: Int
    public var queued: Int
    public var leased: Int
    public var resultsApplied: UInt64
    public var resultsDurable: UInt64
    public var heartbeatsReceived: UInt64
}

/// Hooks into a running coordinator; every closure is called from the coordinator's task,
/// so keep them short.
public struct CoordinatorObserver: Sendable {
    /// About once a second.
    public var progress: @Sendable (CoordinatorProgress) -> Void = { _ in }
    /// Every scheduler decision (worker expiry, lease loss, requeue, failure).
    public var schedulerEvent: @Sendable (SchedulerEvent, MonotonicTime) -> Void = { _, _ in }
    /// Every applied result (benchmarks time round trips with it).
    public var resultApplied: @Sendable (JobID) -> Void = { _ in }
    /// What each input did to jobs (metrics count it).
    public var activity: @Sendable (JobActivity) -> Void = { _ in }
    /// A run has every job finished and durable.
    public var runFinished: @Sendable (RunID, RunProgress) -> Void = { _, _ in }

    public init() {}
}

extension CoordinatorObserver {
    func notify(_ observation: CoordinatorObservation) {
        switch observation {
        case .progress(let snapshot): progress(snapshot)
        case .schedulerEvent(let event, let at): schedulerEvent(event, at)
        case .resultsApplied(let jobs): for job in jobs { resultApplied(job) }
        case .activity(let activity): self.activity(activity)
        case .runFinished(let run, let figures): runFinished(run, figures)
        }
    }
}
