import CoevoCore

/// When to try an endpoint call again: on 408, 429 and 5xx answers, on timeouts, resets
/// and refused connections, and on bodies cut short; never on other 4xx answers (the
/// request itself is wrong). Delays grow exponentially with full jitter, and a server's
/// Retry-After wins when it asks for longer. Pure: the generator is an input.
public struct RetryPolicy: Hashable, Sendable {
    public enum Failure: Hashable, Sendable {
        case status(Int, retryAfterSeconds: Double?)
        case timeout
        case connection(String)
        case malformedBody(String)
    }

    public enum Decision: Hashable, Sendable {
        case retry(afterMilliseconds: Int64)
        case giveUp(String)
    }

    public var maxAttempts = 5
    public var baseDelayMilliseconds: Int64 = 500
    public var maxDelayMilliseconds: Int64 = 30_000

    public init() {}

    public static func isRetryable(_ failure: Failure) -> Bool {
        switch failure {
        case .status(let code, _): code == 408 || code == 429 || (500...599).contains(code)
        case .timeout, .connection, .malformedBody: true
        }
    }

    /// What to do after `attempt` (1-based) failed with `failure`.
    public func decide<G: RandomNumberGenerator>(attempt: Int, failure: Failure, using rng: inout G) -> Decision {
        guard Self.isRetryable(failure) else { return .giveUp("not retryable: \(failure)") }
        guard attempt < maxAttempts else { return .giveUp("gave up after \(attempt) attempts; last: \(failure)") }
        let ceiling = min(maxDelayMilliseconds, baseDelayMilliseconds << min(attempt - 1, 30))
        var delay = Int64.random(in: 0...max(0, ceiling), using: &rng)
        if case .status(_, let retryAfter?) = failure {
            delay = max(delay, Int64((retryAfter * 1000).rounded(.up)))
        }
        return .retry(afterMilliseconds: delay)
    }
}
