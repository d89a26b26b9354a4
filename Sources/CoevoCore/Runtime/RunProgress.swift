/// Per-run counters kept by the scheduler.
public struct RunProgress: Hashable, Sendable {
    public var total: Int = 0
    /// Jobs with an applied result (whatever the result's status).
    public var completed: Int = 0
    /// Jobs that exhausted their attempts without a result.
    public var failed: Int = 0
    public var isFinished: Bool { completed + failed >= total }
    public init() {}
}
