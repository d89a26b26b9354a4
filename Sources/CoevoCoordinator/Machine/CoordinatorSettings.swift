import CoevoCore
import CoevoWire

/// How a coordinator listens and schedules; built from the config's `coordinator` section.
public struct CoordinatorSettings: Sendable {
    public var bind: String
    public var heartbeatIntervalMilliseconds: Int64
    public var liveness: Int64
    public var scheduler: SchedulerSettings
    public var maxMessageBytes: Int64
    /// Granularity of lease and liveness checks; a killed worker's jobs are requeued at
    /// most this long after its silence limit.
    public var tickMilliseconds: Int64 = 100
    /// Leases per JOB message; larger batches cost fewer messages per job.
    public var leasesPerMessage = 1024
    /// Stop serving once every run in the store is finished (batch use, tests).
    public var exitWhenDone = false
    /// How long a graceful shutdown waits for leased jobs to come back.
    public var drainTimeoutMilliseconds: Int64 = 10_000
    /// How long a deferred job's run gets no leases when the worker names no wait.
    public var deferPauseMilliseconds: Int64
    /// Store writes queued past this many pause leasing until the disk catches up, so a
    /// slow disk costs speed, not memory.
    public var storeBacklogLimit = 262_144
    /// The longest wait a DEFERRED may ask for (`retry_after_ms`); longer ones are cut to it.
    public static let longestDeferralMilliseconds: Int64 = 600_000
    /// CurveZMQ: the coordinator's key pair and where the authorized keys are (read by
    /// whoever builds the settings: the config holds only paths).
    public var curve: (keyPair: CurveKeyPair, authorizedKeys: String?)?
    /// The workers trusted to grade (`coordinator.grader_keys`): a worker with another key
    /// gets no `discovery.grade` job, whatever it says it can run. Nil: every worker may.
    public var graderKeys: Set<CurvePublicKey>?

    public init(config: ExperimentConfig.CoordinatorSection) {
        bind = config.bind
        heartbeatIntervalMilliseconds = config.heartbeatIntervalMilliseconds
        liveness = config.liveness
        scheduler = SchedulerSettings(
            maxAttempts: config.maxAttempts,
            workerSilenceLimitMilliseconds: config.heartbeatIntervalMilliseconds * config.liveness,
            leaseGraceMilliseconds: max(2000, config.heartbeatIntervalMilliseconds * 2),
            minimumWorkers: config.minWorkers)
        maxMessageBytes = config.maxMessageBytes
        deferPauseMilliseconds = config.deferPauseMilliseconds
    }
}
