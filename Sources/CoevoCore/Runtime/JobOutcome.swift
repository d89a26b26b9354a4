import Foundation

/// What a worker reports for one attempt.
public struct JobOutcome: Hashable, Sendable {
    public enum Status: String, Hashable, Sendable, CaseIterable {
        /// The executor finished and produced `output`.
        case succeeded
        /// The executor ran and reported an error (bad payload, backend error, ...).
        case failed
        /// The worker's own timeout fired before the executor finished.
        case timedOut = "timed_out"
        /// The worker has no executor for the job's kind.
        case unsupported
        /// The worker could not run it now (its endpoint is down); not a result: the
        /// coordinator requeues the job and pauses dispatch.
        case deferred
    }

    public var status: Status
    public var output: Data
    public var error: String
    public var durationMicroseconds: UInt64
    /// With `.deferred`: how long to wait before trying again (0: the coordinator's default).
    public var retryAfterMilliseconds: UInt64

    public init(status: Status, output: Data = Data(), error: String = "", durationMicroseconds: UInt64 = 0,
                retryAfterMilliseconds: UInt64 = 0) {
        self.status = status
        self.output = output
        self.error = error
        self.durationMicroseconds = durationMicroseconds
        self.retryAfterMilliseconds = retryAfterMilliseconds
    }
}
