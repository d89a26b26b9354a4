import CoevoCore
import CoevoStore

/// Makes a fixed batch's jobs (the config's `workload`) as the run goes, at most
/// `window` ahead of the results: the coordinator holds, and the store writes, only what
/// is near being run. A run of ten million jobs takes the memory of one of a few thousand,
/// and starts at once instead of after storing every job.
struct BatchDriver: RunDriver {
    /// The fewest jobs made and not finished that the window allows.
    static let minimumWindow = 16_384
    /// Jobs made and not finished, at most: four times the slots of the registered
    /// workers, so the queue never runs dry between refills (made when half is done),
    /// and no more, since every job waiting costs the scheduler's tables cache misses
    /// (docs/ARCHITECTURE.md, "Measured choices").
    private(set) var window = minimumWindow

    static func window(forSlots slots: Int) -> Int { max(minimumWindow, 4 * slots) }

    let run: RunID
    /// Behind a reference: the driver sits in an existential the coordinator calls per
    /// result, and a config is a large value.
    private let plan: Plan
    private final class Plan {
        let config: ExperimentConfig
        init(_ config: ExperimentConfig) { self.config = config }
    }
    var config: ExperimentConfig { plan.config }
    /// Jobs made so far, in earlier lives of the run too: the next job's index.
    private(set) var made: Int
    /// Made and not finished.
    private var open: Int
    /// What an earlier life stored and never finished, handed back by `start`.
    private var unfinished: [(job: Job, attempts: UInt32)]

    init(config: ExperimentConfig, run: RunID, stored: CoevoStore.RunJobs) {
        self.run = run
        plan = Plan(config)
        made = stored.succeeded.count + stored.failed.count + stored.unfinished.count
        open = stored.unfinished.count
        unfinished = stored.unfinished
    }

    var isFinished: Bool { made >= plan.config.workload.jobs && open == 0 }

    mutating func start(ids: inout JobID, at: Double) -> DriverStep {
        var step = DriverStep(jobs: make(ids: &ids))
        step.requeued = unfinished
        unfinished = []
        return step
    }

    mutating func completed(_ result: AppliedResult, ids: inout JobID, at: Double) -> DriverStep {
        finishedOne(ids: &ids)
    }

    mutating func failed(_ job: JobID, reason: String, ids: inout JobID, at: Double) -> DriverStep {
        finishedOne(ids: &ids)
    }

    /// A larger window is filled at once; a smaller one lets the jobs already made finish.
    mutating func capacityChanged(slots: Int, ids: inout JobID, at: Double) -> DriverStep {
        window = Self.window(forSlots: slots)
        return refillAtHalf(ids: &ids)
    }

    private mutating func finishedOne(ids: inout JobID) -> DriverStep {
        open -= 1
        return refillAtHalf(ids: &ids)
    }

    /// Up to a full window again once at most half of it is open.
    private mutating func refillAtHalf(ids: inout JobID) -> DriverStep {
        open <= window / 2 ? DriverStep(jobs: make(ids: &ids)) : DriverStep()
    }

    private mutating func make(ids: inout JobID) -> [Job] {
        let config = plan.config  // once: a copy per job was a tenth of making them
        let count = min(window - open, config.workload.jobs - made)
        guard count > 0 else { return [] }
        let jobs = (0..<count).map { offset in
            WorkloadPlan.job(made + offset, for: config, run: run, id: ids + JobID(offset))
        }
        ids += JobID(count)
        made += count
        open += count
        return jobs
    }
}
