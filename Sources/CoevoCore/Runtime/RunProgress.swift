/// Per-run counters kept by the scheduler.
public struct RunProgress: Hashable, Sendable {
    /// Jobs submitted so far.
    public var total: Int = 0
    /// Jobs the run will have in all, where known before they are made (a batch made as
    /// it goes); 0 when not.
    public var planned: Int = 0
    /// What progress displays show a share of.
    public var expected: Int { max(total, planned) }
    /// Jobs whose applied result succeeded.
    public var completed: Int = 0
    /// Jobs that finished without success: a failed result, or attempts spent without one.
    public var failed: Int = 0
    public var isFinished: Bool { completed + failed >= total }
    /// Counts a job that finished, with success or not.
    public mutating func finish(failed: Bool) {
        if failed { self.failed += 1 } else { completed += 1 }
    }
    public init() {}
}
