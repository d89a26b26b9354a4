import CoevoCore
import CoevoStore
import Foundation

/// Makes a run's jobs as it goes, for the experiment protocols whose next jobs depend on
/// the last results (a fixed batch needs none). The coordinator calls it from its one
/// task, in order; job ids come from the coordinator's counter.
protocol RunDriver {
    /// The first jobs: `new` ones to store and queue, and `stored` ones a resumed run
    /// already has in the database (queued again with the attempts they had).
    mutating func start(ids: inout JobID) -> (new: [Job], stored: [(job: Job, attempts: UInt32)])
    /// A result was applied for one of this run's jobs.
    mutating func completed(_ lease: Lease, outcome: JobOutcome, ids: inout JobID) -> [Job]
    /// One of this run's jobs failed for good (every attempt's lease was lost).
    mutating func failed(_ job: JobID, reason: String, ids: inout JobID) -> [Job]
    var isFinished: Bool { get }
    /// Event log lines produced since the last call.
    mutating func takeEvents() -> [EventRecord]
    /// A one-line summary of the latest progress, if it changed since the last call.
    mutating func takeProgressLine() -> String?
}
