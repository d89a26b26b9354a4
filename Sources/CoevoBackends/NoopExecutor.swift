import CoevoCore
import Foundation

/// Returns its payload: the unit of work of the dispatch benchmark.
public struct NoopExecutor: JobExecutor {
    public init() {}
    public var kind: JobKind { .noop }
    public func runImmediately(payload: Data) -> JobOutcome? {
        JobOutcome(status: .succeeded, output: payload)
    }
    public func run(payload: Data) async -> JobOutcome {
        JobOutcome(status: .succeeded, output: payload)
    }
}
