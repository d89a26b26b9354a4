import CoevoCore
import CoevoStore
import Foundation

/// Makes a run's jobs as it goes: `EngineDriver` for a run whose next jobs depend on the
/// last results (every `RunEngine`), `BatchDriver` for a workload batch.
///
/// Contract: the coordinator state machine calls it from its one task, in order: `start`
/// once, then `completed`, `failed` and `exportsWritten` as those happen. Job ids come
/// from the coordinator's counter (`ids`); `at` is the wall clock for event records.
/// Every call answers with one `DriverStep`; a driver does no I/O.
protocol RunDriver {
    /// The first jobs. A resumed run's step also names the jobs the store already holds
    /// (`requeued`, queued again with the attempts they had).
    mutating func start(ids: inout JobID, at: Double) -> DriverStep
    /// A result was applied for one of this run's jobs.
    mutating func completed(_ result: AppliedResult, ids: inout JobID, at: Double) -> DriverStep
    /// One of this run's jobs failed for good (every attempt's lease was lost).
    mutating func failed(_ job: JobID, reason: String, ids: inout JobID, at: Double) -> DriverStep
    /// The exports the last step asked for were written (`failure` nil) or not.
    mutating func exportsWritten(failure: String?, at: Double) -> DriverStep
    /// The registered workers' slots, all together, changed (a worker joined or left).
    mutating func capacityChanged(slots: Int, ids: inout JobID, at: Double) -> DriverStep
    /// True once the run has nothing left to ask or say.
    var isFinished: Bool { get }
    /// The round (or step) under way and its phase; nil for a batch of jobs.
    var stage: RunStage? { get }
}

extension RunDriver {
    mutating func exportsWritten(failure: String?, at: Double) -> DriverStep { DriverStep() }
    mutating func capacityChanged(slots: Int, ids: inout JobID, at: Double) -> DriverStep { DriverStep() }
    var stage: RunStage? { nil }
}

/// Everything one driver call has to say, in one value.
struct DriverStep {
    /// New jobs to store and queue.
    var jobs: [Job] = []
    /// Jobs an earlier life of the run stored and never finished: queue again.
    var requeued: [(job: Job, attempts: UInt32)] = []
    /// Event lines for the store.
    var events: [EventRecord] = []
    /// Shared-memory rows (a discovery pool's attempts, notes, skills) for the store.
    var memory: [MemoryRecord] = []
    /// The latest progress line, for the log.
    var progress: String?
    /// Training data to write: file name -> JSON lines, into `directory`.
    var exports: (directory: URL, files: [String: [String]])?
}

/// A result the coordinator applied, with its output decoded once for every reader (the
/// budget and the drivers).
struct AppliedResult {
    var job: Job
    var outcome: JobOutcome
    /// The worker that sent it (nil for a result an earlier life of the run stored).
    var worker: WorkerID?
    /// The model reply of a succeeded `llm.chat` job; nil for other kinds, failures and
    /// outputs that do not decode (`llmOutputProblem` says why).
    var llmOutput: LLMJobOutput?

    init(job: Job, outcome: JobOutcome, worker: WorkerID? = nil) {
        self.job = job
        self.outcome = outcome
        self.worker = worker
        if job.kind == .llm, outcome.status == .succeeded {
            llmOutput = try? JSONDecoder().decode(LLMJobOutput.self, from: outcome.output)
        }
    }

    /// Why a succeeded llm.chat output is unusable, if it is.
    var llmOutputProblem: String? {
        guard job.kind == .llm, outcome.status == .succeeded, llmOutput == nil else { return nil }
        return "llm.chat output is not an LLMJobOutput (\(outcome.output.count) bytes)"
    }
}
