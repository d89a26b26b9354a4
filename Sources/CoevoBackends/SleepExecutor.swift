import CoevoCore
import Foundation

/// Sleeps for the milliseconds its payload names (see `SleepPayload`), then returns the
/// payload: a stand-in for a slow backend in fault tests.
public struct SleepExecutor: JobExecutor {
    public init() {}
    public var kind: JobKind { .sleep }

    public func run(payload: Data) async -> JobOutcome {
        guard let milliseconds = SleepPayload.milliseconds(in: payload) else {
            return JobOutcome(status: .failed, error: "sleep payload needs 8 bytes (little-endian milliseconds), got \(payload.count)")
        }
        do {
            try await Task.sleep(for: .milliseconds(Int64(min(milliseconds, 86_400_000))))
        } catch {
            return JobOutcome(status: .failed, error: "cancelled")
        }
        return JobOutcome(status: .succeeded, output: payload)
    }
}
