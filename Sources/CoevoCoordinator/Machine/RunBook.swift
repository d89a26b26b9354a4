import CoevoCore

/// The runs a coordinator serves: each run's driver, which runs are still active, which
/// could not be served, which are batches (their jobs are stored when first leased, not
/// when made), and the job ids drivers hand out with the block the store has reserved.
/// Pure: the state machine carries what the drivers say into the scheduler and the store.
public struct RunBook {
    /// How many ids one reservation takes: one synchronous store write per this many jobs.
    public static let jobIDBlock = 1_000_000

    private var drivers: [RunID: any RunDriver] = [:]
    private(set) var active: Set<RunID> = []
    /// Runs left unfinished because their stored config does not load here.
    private(set) var unserved: [RunID] = []
    private var storedWhenLeased: Set<RunID> = []
    /// Batch jobs made and not yet leased, so not yet in the store (at most a window).
    private var unstored: Set<JobID> = []
    /// The id the next job made by a driver gets, and the first id the store has not
    /// reserved: ids at or above it must be reserved before a job that has one goes out.
    private var nextJobID: JobID
    private var ceiling: JobID

    /// `jobIDs`: the ids the store has reserved for this coordinator's new jobs.
    init(jobIDs: Range<JobID>) {
        nextJobID = jobIDs.lowerBound
        ceiling = jobIDs.upperBound
    }

    mutating func leaveUnserved(_ run: RunID) { unserved.append(run) }

    /// Serves `run` with `driver` from now on and returns its first step. A batch's jobs
    /// (`storedWhenLeased`) are written with their first lease.
    mutating func serve(_ run: RunID, driver: any RunDriver, storedWhenLeased batch: Bool, at time: Double) -> DriverStep {
        var driver = driver
        active.insert(run)
        if batch { storedWhenLeased.insert(run) }
        let step = driver.start(ids: &nextJobID, at: time)
        drivers[run] = driver
        return step
    }

    /// The served runs, in order.
    var runs: [RunID] { drivers.keys.sorted() }
    /// The round (or step) and phase of each run that has one.
    var stages: [RunID: RunStage] { drivers.compactMapValues(\.stage) }

    mutating func completed(_ result: AppliedResult, at time: Double) -> DriverStep? {
        drivers[result.job.run]?.completed(result, ids: &nextJobID, at: time)
    }

    mutating func failed(_ job: JobID, of run: RunID, reason: String, at time: Double) -> DriverStep? {
        drivers[run]?.failed(job, reason: reason, ids: &nextJobID, at: time)
    }

    mutating func exportsWritten(of run: RunID, failure: String?, at time: Double) -> DriverStep? {
        drivers[run]?.exportsWritten(failure: failure, at: time)
    }

    mutating func capacityChanged(of run: RunID, slots: Int, at time: Double) -> DriverStep? {
        drivers[run]?.capacityChanged(slots: slots, ids: &nextJobID, at: time)
    }

    /// Which of a step's new jobs the store is to write now: none of a batch's, which
    /// wait for their first lease.
    mutating func jobsToStore(_ jobs: [Job], of run: RunID) -> [Job] {
        guard storedWhenLeased.contains(run) else { return jobs }
        unstored.formUnion(jobs.lazy.map(\.id))
        return []
    }

    /// True the first time a batch job is leased: it is stored with that lease.
    mutating func isStoredWithLease(_ job: JobID) -> Bool { unstored.remove(job) != nil }

    /// Once drivers have handed out ids past the reserved block: the id below which the
    /// store must reserve before those jobs can be leased (the next block).
    mutating func reservationNeeded() -> JobID? {
        guard nextJobID > ceiling else { return nil }
        ceiling = nextJobID + JobID(Self.jobIDBlock)
        return ceiling
    }

    /// The active runs whose jobs are all finished and whose driver has nothing left to
    /// ask or say, in order. They stop being active.
    mutating func closeFinished(by scheduler: Scheduler) -> [RunID] {
        let done = active.filter { scheduler.isFinished($0) && drivers[$0]?.isFinished != false }.sorted()
        active.subtract(done)
        return done
    }
}
