import CoevoCore

/// CORAL's crash circuit breaker for long-running agents: `maxCrashes` crashes within
/// `windowMilliseconds` pause the agent for `pauseMilliseconds`. Time is an input.
public struct CrashBreaker: Hashable, Sendable {
    public var maxCrashes = 3
    public var windowMilliseconds: Int64 = 30_000
    public var pauseMilliseconds: Int64 = 300_000
    private var crashes: [MonotonicTime] = []
    public private(set) var pausedUntil: MonotonicTime?

    public init(maxCrashes: Int = 3, windowMilliseconds: Int64 = 30_000, pauseMilliseconds: Int64 = 300_000) {
        self.maxCrashes = maxCrashes
        self.windowMilliseconds = windowMilliseconds
        self.pauseMilliseconds = pauseMilliseconds
    }

    public func isPaused(now: MonotonicTime) -> Bool { pausedUntil.map { now < $0 } ?? false }

    /// Records a crash; returns true when this one paused the agent.
    @discardableResult
    public mutating func crashed(now: MonotonicTime) -> Bool {
        crashes = crashes.filter { now - $0 < windowMilliseconds } + [now]
        guard crashes.count >= maxCrashes else { return false }
        crashes.removeAll()
        pausedUntil = now + pauseMilliseconds
        return true
    }
}
