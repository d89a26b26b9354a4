import CoevoCore

/// What happened to jobs while the state machine handled one input, for metrics: the
/// machine notes it as it decides, observers (the Prometheus exporter) count it.
public struct JobActivity: Sendable {
    public enum Change: Sendable, Equatable {
        case submitted, deferred, requeued, failed
        /// `waited` is how long it was queued since it was submitted, requeued or deferred.
        case leased(waited: Double)
        /// A result was applied; `seconds` is how long its attempt ran, lease to result.
        case completed(JobOutcome.Status, seconds: Double)
    }

    public struct Mark: Sendable {
        public var kind: JobKind
        public var run: RunID
        public var change: Change
    }

    /// A model call's usage, from a result the coordinator applied or discarded (paid all
    /// the same).
    public struct ModelCall: Sendable {
        public var endpoint: String
        /// The call's role (solver, attacker, agent, ...); "-" for a plain chat batch.
        public var role: String
        /// Nil for a late result whose job had already finished.
        public var run: RunID?
        public var promptTokens: Int
        public var completionTokens: Int
        public var usd: Double
    }

    public internal(set) var marks: [Mark] = []
    public internal(set) var calls: [ModelCall] = []

    public var isEmpty: Bool { marks.isEmpty && calls.isEmpty }

    mutating func note(_ job: Job, _ change: Change) {
        marks.append(Mark(kind: job.kind, run: job.run, change: change))
    }
}
