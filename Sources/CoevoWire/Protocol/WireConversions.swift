import CoevoCore
import Foundation

extension LeaseMessage {
    public init(_ lease: Lease) {
        self.init()
        jobID = lease.job.id
        attempt = lease.attempt
        runID = lease.job.run.rawValue
        kind = lease.job.kind.rawValue
        payload = lease.job.payload
        timeoutMs = UInt64(max(0, lease.job.timeoutMilliseconds))
    }
}

extension ResultMessage {
    public init(job: JobID, attempt: UInt32, outcome: JobOutcome) {
        self.init()
        jobID = job
        self.attempt = attempt
        status = Coevo_Wire_V1_ResultStatus(outcome.status)
        output = outcome.output
        error = outcome.error
        durationUs = outcome.durationMicroseconds
        retryAfterMs = outcome.retryAfterMilliseconds
    }

    /// The outcome this message reports; an unset or unknown status reads as `failed`,
    /// so a sloppy peer cannot make a failure look like success.
    public var outcome: JobOutcome {
        let status: JobOutcome.Status = switch self.status {
        case .succeeded: .succeeded
        case .timedOut: .timedOut
        case .unsupported: .unsupported
        case .deferred: .deferred
        case .failed, .unspecified, .UNRECOGNIZED: .failed
        }
        return JobOutcome(status: status, output: output, error: error, durationMicroseconds: durationUs,
                          retryAfterMilliseconds: retryAfterMs)
    }
}

extension Coevo_Wire_V1_ResultStatus {
    init(_ status: JobOutcome.Status) {
        self = switch status {
        case .succeeded: .succeeded
        case .failed: .failed
        case .timedOut: .timedOut
        case .unsupported: .unsupported
        case .deferred: .deferred
        }
    }
}
