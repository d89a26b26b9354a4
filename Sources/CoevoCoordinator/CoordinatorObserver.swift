import CoevoCore

/// A snapshot for progress displays (`coevo run`) and benchmarks.
public struct CoordinatorProgress: Sendable {
    public var runs: [RunID: RunProgress]
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
        case .runFinished(let run, let figures): runFinished(run, figures)
        }
    }
}
