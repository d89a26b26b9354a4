import CoevoCore

/// What the coordinator measures for progress displays, STATUS and metrics: results
/// applied and durable, heartbeats, how long each queued job waited, what happened to
/// jobs during the input in hand, each run's last problem, and the rates the summary
/// carries. Pure: it is told the time with each call.
struct CoordinatorMeters {
    var resultsApplied: UInt64 = 0
    var resultsDurable: UInt64 = 0
    /// Heartbeats received: the load that grows with workers whatever they do.
    var heartbeatsReceived: UInt64 = 0
    private var started = MonotonicTime.zero
    private var lastSnapshot = MonotonicTime.zero
    /// What happened to jobs during the input in hand.
    var activity = JobActivity()
    /// When each queued job was last queued, for its wait until leased. At most as many
    /// entries as jobs waiting (a batch's window).
    private var queuedSince: [JobID: MonotonicTime] = [:]
    /// What last went wrong in each run (a failed result, a deferral).
    private(set) var lastProblem: [RunID: String] = [:]
    private var failureLogged: Set<RunID> = []
    private var tracker = ProgressTracker()

    mutating func start(at time: MonotonicTime) {
        started = time
        lastSnapshot = time
    }

    func uptime(at time: MonotonicTime) -> Int64 { max(0, time - started) }

    /// `job` joined the queue (made, requeued or deferred) at `time`.
    mutating func queued(_ job: JobID, at time: MonotonicTime) { queuedSince[job] = time }

    /// `job` was leased: the seconds it waited in the queue.
    mutating func leased(_ job: JobID, at time: MonotonicTime) -> Double {
        Double(time - (queuedSince.removeValue(forKey: job) ?? time)) / 1000
    }

    mutating func problem(_ line: String, in run: RunID) { lastProblem[run] = line }

    /// A failed result's problem; true for the run's first, which is logged in full
    /// (later ones only show on the progress line).
    mutating func failedResult(_ line: String, in run: RunID) -> Bool {
        lastProblem[run] = line
        return failureLogged.insert(run).inserted
    }

    /// The activity noted since the last call, nil when there was none.
    mutating func collectActivity() -> JobActivity? {
        guard !activity.isEmpty else { return nil }
        defer { activity = JobActivity() }
        return activity
    }

    /// True once a second, when a progress snapshot is due.
    mutating func snapshotDue(at time: MonotonicTime) -> Bool {
        guard time - lastSnapshot >= 1000 else { return false }
        lastSnapshot = time
        return true
    }

    /// The summary of a snapshot: it moves the rate window.
    mutating func advanceSummary(_ progress: CoordinatorProgress, at time: MonotonicTime) -> LiveSummary {
        tracker.summary(progress, at: Self.seconds(time))
    }

    /// The summary now, for a STATUS between snapshots: the rate window stays as it is.
    func summary(_ progress: CoordinatorProgress, at time: MonotonicTime) -> LiveSummary {
        var tracker = tracker
        return tracker.summary(progress, at: Self.seconds(time))
    }

    private static func seconds(_ time: MonotonicTime) -> Double { Double(time - .zero) / 1000 }
}
