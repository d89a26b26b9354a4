import CoevoCore
import Foundation

/// Runs one kind of job on a worker. Executors hold no agent state between jobs: all they
/// need comes in the payload.
public protocol JobExecutor: Sendable {
    /// The job kind this executor serves.
    var kind: JobKind { get }
    /// Executors that finish without waiting (noop) answer here, inline on the worker's
    /// event loop, which saves a task per job; the others return nil and are awaited.
    func runImmediately(payload: Data) -> JobOutcome?
    /// Runs the job. Must return promptly once the task is cancelled (timeout, CANCEL).
    func run(payload: Data) async -> JobOutcome
}

extension JobExecutor {
    public func runImmediately(payload: Data) -> JobOutcome? { nil }
}
