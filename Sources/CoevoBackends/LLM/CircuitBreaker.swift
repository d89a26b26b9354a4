import CoevoCore

/// Stops calling an endpoint that keeps failing: after `failureThreshold` failures in a
/// row it opens for `openMilliseconds`, then lets one probe through (half-open); the
/// probe's success closes it, its failure opens it again. Time is an input.
public struct CircuitBreaker: Hashable, Sendable {
    public enum State: Hashable, Sendable {
        case closed
        case open(until: MonotonicTime)
        case halfOpen
    }

    public var failureThreshold = 5
    public var openMilliseconds: Int64 = 30_000
    public private(set) var state = State.closed
    public private(set) var consecutiveFailures = 0
    private var probeInFlight = false

    public init(failureThreshold: Int = 5, openMilliseconds: Int64 = 30_000) {
        self.failureThreshold = failureThreshold
        self.openMilliseconds = openMilliseconds
    }

    /// May a call start now? In half-open state only one probe at a time may.
    public mutating func allow(now: MonotonicTime) -> Bool {
        switch state {
        case .closed:
            return true
        case .open(let until):
            guard now >= until else { return false }
            state = .halfOpen
            probeInFlight = true
            return true
        case .halfOpen:
            guard !probeInFlight else { return false }
            probeInFlight = true
            return true
        }
    }

    public mutating func record(success: Bool, now: MonotonicTime) {
        probeInFlight = false
        if success {
            consecutiveFailures = 0
            state = .closed
            return
        }
        consecutiveFailures += 1
        if state == .halfOpen || consecutiveFailures >= failureThreshold {
            state = .open(until: now + openMilliseconds)
        }
    }
}
