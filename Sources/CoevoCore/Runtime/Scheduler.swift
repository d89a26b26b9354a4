import DequeModule

/// The coordinator's job scheduler as a pure state machine: a queue per run served round
/// robin, a registry of workers with their slots, leases with deadlines, bounded attempts,
/// and exactly-once application of results. It does no I/O and reads no clock: the shell
/// passes `now` in and carries out what the returned values say.
public struct Scheduler: Sendable {
    struct WorkerEntry: Sendable {
        var session: String
        var slots: Int
        /// Its leases (they are in `leases`): a count, not a set, since a set cost two
        /// hashes per job and a copy whenever dispatch changed it; losing a worker, rare,
        /// finds its leases by scanning.
        var leased = 0
        var lastHeard: MonotonicTime
        /// The kinds it announced (nil: it announced none, so it is offered any).
        var kinds: Set<JobKind>?
        /// Kinds it answered UNSUPPORTED for after all, and kinds withheld from it: never offered.
        var refused: Set<JobKind> = []
        var freeSlots: Int { slots - leased }

        func runs(_ kind: JobKind) -> Bool {
            (kinds?.contains(kind) ?? true) && (refused.isEmpty || !refused.contains(kind))
        }
    }

    /// Jobs no free worker can run are set aside for the next dispatch; past this many in
    /// one call dispatch stops looking, so a long queue of such jobs costs little.
    static let setAsideLimit = 1024

    struct PendingJob: Sendable {
        var job: Job
        /// Attempts already leased out (and lost) before the current one.
        var attempts: UInt32
        /// Times a worker deferred it (DEFERRED): not attempts, but bounded all the same.
        var deferrals: UInt32 = 0
    }

    public let settings: SchedulerSettings
    private var pending: [JobID: PendingJob] = [:]
    /// Each run the scheduler has seen, with its queue and counters, found through
    /// `position(of:)`: dispatch then works on positions in this array and hashes no run names.
    private var runs: [RunEntry] = []
    private var positionOfRun: [RunID: Int] = [:]
    /// The run `position(of:)` found last: a run's jobs come together, and comparing a run
    /// id with the one before is cheaper than hashing it.
    private var lastPosition = 0
    /// Runs that have queued jobs (positions in `runs`), in the order they are served next.
    private var runRing: Deque<Int> = []
    private var leases: [JobID: Lease] = [:]
    private var workers: [WorkerID: WorkerEntry] = [:]
    /// Registration order; `dispatch` starts one further along each call so no worker is
    /// always served first.
    private var workerOrder: [WorkerID] = []
    private var dispatchCursor = 0
    /// Jobs finished (with a result or failed for good) at or above `finishedBelow`. A
    /// `RangeSet` would hold fewer entries but its inserts land among thousands of
    /// in-flight gaps, which costs dispatch throughput (docs/ARCHITECTURE.md).
    private var finished = Set<JobID>()
    /// Every id below this is finished (or was never a job): the oldest unfinished job's
    /// id when `finished` was last compacted. It keeps `finished` as small as the spread
    /// of ids in flight, so a run of any length holds flat memory.
    private var finishedBelow: JobID = 0
    /// The highest id submitted or recorded: with nothing pending, everything up to it is done.
    private var highestKnown: JobID = 0
    /// `finished` is compacted when it reaches this size (then at twice what is left, or
    /// the pending count if larger, so compaction costs O(1) per finished job).
    private var compactFinishedAt = 65_536
    /// Runs that get no leases before these times: a worker deferred one of their jobs
    /// (their endpoint is down or rate-limited). Other runs go on.
    public private(set) var pausedRuns: [RunID: MonotonicTime] = [:]
    /// Set once `settings.minimumWorkers` have been registered at the same time.
    private var quorumReached = false
    /// Every run's counters (a table built on each call: for ticks and status).
    public var progress: [RunID: RunProgress] {
        Dictionary(uniqueKeysWithValues: runs.lazy.map { ($0.id, $0.progress) })
    }

    /// One run's counters; nil for a run the scheduler has not seen.
    public func progress(of run: RunID) -> RunProgress? {
        positionOfRun[run].map { runs[$0].progress }
    }

    struct RunEntry: Sendable {
        let id: RunID
        var queue: Deque<JobID> = []
        var progress = RunProgress()
    }

    public init(settings: SchedulerSettings = SchedulerSettings()) {
        self.settings = settings
    }

    // MARK: Jobs

    /// Queues a job. `attemptsSoFar` carries attempts over a coordinator restart. A job id
    /// the scheduler already knows is ignored, so replaying a store is harmless.
    public mutating func submit(_ job: Job, attemptsSoFar: UInt32 = 0) {
        guard pending[job.id] == nil, !isDone(job.id) else { return }
        highestKnown = max(highestKnown, job.id)
        pending[job.id] = PendingJob(job: job, attempts: attemptsSoFar)
        let run = position(of: job.run)
        runs[run].progress.total += 1
        enqueue(job.id, at: run, atFront: false)
    }

    /// Records a job that already finished in an earlier life of the coordinator, so a
    /// late result for it is recognised as such and the run's counters are right.
    public mutating func recordFinished(_ id: JobID, run: RunID, failed: Bool) {
        guard !isDone(id), finished.insert(id).inserted else { return }
        highestKnown = max(highestKnown, id)
        let run = position(of: run)
        runs[run].progress.total += 1
        runs[run].progress.finish(failed: failed)
    }

    /// A run whose jobs are made as it goes announces how many it will have.
    public mutating func plan(_ jobs: Int, for run: RunID) {
        runs[position(of: run)].progress.planned = jobs
    }

    private func isDone(_ id: JobID) -> Bool { id < finishedBelow || finished.contains(id) }

    /// Only live completions compact: while a start replays the store, jobs not yet
    /// resubmitted must not fall below the line.
    private mutating func markFinished(_ id: JobID) {
        finished.insert(id)
        guard finished.count >= compactFinishedAt else { return }
        finishedBelow = max(finishedBelow, pending.keys.min() ?? highestKnown + 1)
        let below = finishedBelow
        finished = finished.filter { $0 >= below }
        compactFinishedAt = max(65_536, 2 * finished.count, pending.count)
    }

    /// Leases queued jobs to workers with free slots, serving runs round robin.
    public mutating func dispatch(now: MonotonicTime) -> [(WorkerID, [Lease])] {
        if workerOrder.count >= settings.minimumWorkers { quorumReached = true }
        guard quorumReached, !runRing.isEmpty, !workerOrder.isEmpty else { return [] }
        // Paused runs leave the ring for this call and rejoin it at the end.
        var held: [Int] = []
        if !pausedRuns.isEmpty {
            pausedRuns = pausedRuns.filter { $0.value > now }
            held = runRing.filter { pausedRuns[runs[$0].id] != nil }
            if !held.isEmpty { runRing.removeAll { pausedRuns[runs[$0].id] != nil } }
        }
        defer { runRing.append(contentsOf: held) }
        let count = workerOrder.count
        let start = dispatchCursor % count
        dispatchCursor = (dispatchCursor + 1) % count
        // Jobs are dealt one at a time to the workers with free slots, in turn: when there
        // are fewer jobs than slots (a protocol phase of model calls, say) every worker
        // gets its share, instead of the first one taking them all and the endpoint
        // seeing only that worker's concurrency.
        var dealt: [(id: WorkerID, entry: WorkerEntry, granted: [Lease])] = []
        for step in 0..<count {
            let id = workerOrder[(start + step) % count]
            if let entry = workers[id], entry.freeSlots > 0 { dealt.append((id, entry, [])) }
        }
        // Positions in `dealt` of the workers that still have a free slot.
        var open = Array(dealt.indices)
        var turn = 0
        // Jobs of a kind no open worker runs wait for the next dispatch, first in line.
        var setAside: [JobID] = []
        // Which dealt workers run the kind in hand: worked out again only when the kind
        // changes, so a queue of one kind costs a string comparison per job.
        var kindInHand: JobKind?
        var capable: [Bool] = []
        while !open.isEmpty, setAside.count < Self.setAsideLimit, let jobID = dequeueNext() {
            if turn >= open.count { turn = 0 }
            // One hash for the job's entry; its attempt is then counted in place.
            let entry = pending.index(forKey: jobID)!
            let job = pending.values[entry]
            if job.job.kind != kindInHand {
                kindInHand = job.job.kind
                capable = dealt.map { $0.entry.runs(job.job.kind) }
            }
            if let preferred = job.job.preferredWorker,
               let position = open.firstIndex(where: { dealt[$0].id == preferred }), capable[open[position]] {
                turn = position
            } else if !capable[open[turn]] {
                guard let other = open.indices.lazy.map({ (turn + $0) % open.count }).first(where: { capable[open[$0]] }) else {
                    setAside.append(jobID)
                    continue
                }
                turn = other
            }
            let slot = open[turn]
            pending.values[entry].attempts += 1
            let lease = Lease(
                job: job.job, worker: dealt[slot].id, attempt: job.attempts + 1,
                deadline: now + job.job.timeoutMilliseconds + settings.leaseGraceMilliseconds)
            leases[jobID] = lease
            dealt[slot].entry.leased += 1
            dealt[slot].granted.append(lease)
            if dealt[slot].entry.freeSlots == 0 { open.remove(at: turn) } else { turn += 1 }
        }
        for id in setAside.reversed() { enqueue(id, at: position(of: pending[id]!.job.run), atFront: true) }
        var out: [(WorkerID, [Lease])] = []
        for (id, entry, granted) in dealt where !granted.isEmpty {
            workers[id] = entry
            out.append((id, granted))
        }
        return out
    }

    /// Judges a RESULT from `worker` for attempt `attempt` of job `id`; `failed`: the
    /// result says the job did not succeed (it is final all the same).
    public mutating func complete(_ id: JobID, attempt: UInt32, from worker: WorkerID, failed: Bool = false) -> Completion {
        guard let lease = takeBack(id, attempt: attempt, from: worker) else {
            if leases[id] != nil { return .staleLease }
            if isDone(id) { return .alreadyFinished }
            return pending[id] == nil ? .unknownJob : .staleLease
        }
        pending[id] = nil
        markFinished(id)
        runs[position(of: lease.job.run)].progress.finish(failed: failed)
        return .apply(lease)
    }

    /// A worker could not run its attempt now (DEFERRED): the lease is taken back, the
    /// job goes first in its queue, its attempt not counted, and its run gets no leases
    /// before `until`. Past `settings.maxDeferrals` a deferral counts as a lost attempt, so
    /// an endpoint that never comes back cannot hold a job forever. Nil when it is not
    /// this worker's current lease (then nothing changes).
    public mutating func deferJob(_ id: JobID, attempt: UInt32, from worker: WorkerID, until: MonotonicTime) -> (Lease, [SchedulerEvent])? {
        guard let lease = takeBack(id, attempt: attempt, from: worker) else { return nil }
        let run = lease.job.run
        pausedRuns[run] = max(pausedRuns[run] ?? until, until)
        pending[id]!.deferrals += 1
        let deferrals = pending[id]!.deferrals
        if deferrals > settings.maxDeferrals {
            pending[id]!.deferrals = 0
            return (lease, requeueOrFail(id, reason: "deferred \(deferrals) times"))
        }
        pending[id]!.attempts -= 1
        enqueue(id, at: position(of: run), atFront: true)
        return (lease, [])
    }

    /// A worker answered UNSUPPORTED: it cannot run the job after all (no executor, or its
    /// own policy refuses what the job asks). The kind is not offered to it again, and the
    /// attempt counts: the job goes to another worker, or fails once its attempts are
    /// spent. Nil when it is not this worker's current lease (then nothing changes).
    public mutating func unsupported(_ id: JobID, attempt: UInt32, from worker: WorkerID, reason: String) -> (Lease, [SchedulerEvent])? {
        guard let lease = takeBack(id, attempt: attempt, from: worker) else { return nil }
        workers[worker]?.refused.insert(lease.job.kind)
        return (lease, requeueOrFail(id, reason: "no worker could run it (last: \(reason))"))
    }

    /// A worker's attempt failed in a way another attempt may not (TIMED_OUT: a slow or
    /// overloaded machine): the attempt counts and the job goes back in the queue, or
    /// fails with `reason` once its attempts are spent. Nil when it is not this worker's
    /// current lease (then nothing changes).
    public mutating func retry(_ id: JobID, attempt: UInt32, from worker: WorkerID, reason: String) -> (Lease, [SchedulerEvent])? {
        guard let lease = takeBack(id, attempt: attempt, from: worker) else { return nil }
        return (lease, requeueOrFail(id, reason: reason))
    }

    /// Ends `worker`'s current lease on job `id` (attempt `attempt`) without finishing the
    /// job; nil, changing nothing, when that is not its current lease.
    private mutating func takeBack(_ id: JobID, attempt: UInt32, from worker: WorkerID) -> Lease? {
        // One hash to find the lease and none to remove it.
        guard let index = leases.index(forKey: id) else { return nil }
        let lease = leases.values[index]
        guard lease.worker == worker, lease.attempt == attempt else { return nil }
        leases.remove(at: index)
        workers[worker]?.leased -= 1
        return lease
    }

    // MARK: Workers

    /// Handles a READY. See `Registration` for the cases.
    /// `kinds`: the job kinds it announced (nil or empty: it is offered any kind);
    /// `withheld`: kinds it is never offered, whatever it announced.
    public mutating func register(
        _ worker: WorkerID, session: String, slots: Int, now: MonotonicTime, kinds: Set<JobKind>? = nil, withheld: Set<JobKind> = []
    ) -> Registration {
        let kinds = kinds?.isEmpty == true ? nil : kinds
        if let existing = workers[worker] {
            if existing.session == session {
                totalSlots += max(0, slots) - existing.slots
                workers[worker]!.slots = max(0, slots)
                workers[worker]!.lastHeard = now
                workers[worker]!.kinds = kinds
                workers[worker]!.refused.formUnion(withheld)
                return .resumed
            }
            if now - existing.lastHeard < settings.workerSilenceLimitMilliseconds {
                return .duplicate
            }
            var events = [SchedulerEvent.workerReplaced(worker)]
            events += removeWorker(worker)
            addWorker(worker, session: session, slots: slots, now: now, kinds: kinds, withheld: withheld)
            return .replaced(events)
        }
        addWorker(worker, session: session, slots: slots, now: now, kinds: kinds, withheld: withheld)
        return .accepted
    }

    /// Any message from a worker proves it alive. Returns false for an unregistered worker.
    @discardableResult
    public mutating func heard(from worker: WorkerID, now: MonotonicTime) -> Bool {
        guard workers[worker] != nil else { return false }
        workers[worker]!.lastHeard = now
        return true
    }

    /// The session a registered worker announced, or nil for an unknown worker.
    public func session(of worker: WorkerID) -> String? { workers[worker]?.session }

    /// A worker said goodbye (DISCONNECT): its leases are requeued at once.
    public mutating func disconnect(_ worker: WorkerID) -> [SchedulerEvent] {
        guard workers[worker] != nil else { return [] }
        return [.workerLeft(worker)] + removeWorker(worker)
    }

    /// Expires silent workers and overdue leases. Call it on every tick of the shell.
    public mutating func expire(now: MonotonicTime) -> [SchedulerEvent] {
        var events: [SchedulerEvent] = []
        for id in workerOrder {
            guard let entry = workers[id] else { continue }
            let silence = now - entry.lastHeard
            if silence >= settings.workerSilenceLimitMilliseconds {
                events.append(.workerExpired(id, silentForMilliseconds: silence))
                events += removeWorker(id)
            }
        }
        var overdue: [Lease] = []
        for lease in leases.values where lease.deadline <= now { overdue.append(lease) }
        overdue.sort { $0.job.id < $1.job.id }  // deterministic event order
        for lease in overdue {
            leases[lease.job.id] = nil
            workers[lease.worker]?.leased -= 1
            events.append(.leaseLost(lease.job.id, worker: lease.worker, attempt: lease.attempt, reason: .deadline))
            events += requeueOrFail(lease.job.id)
        }
        return events
    }

    // MARK: Views

    public var queuedCount: Int { pending.count - leases.count }
    public var leasedCount: Int { leases.count }
    /// Finished ids held one by one (the rest lie below the compaction line).
    public var finishedHeld: Int { finished.count }
    public var workerCount: Int { workers.count }
    /// The slots of every registered worker, together.
    public private(set) var totalSlots = 0
    public var hasQueuedJobs: Bool { !runRing.isEmpty }
    public var registeredWorkers: [WorkerID] { workerOrder }
    /// Workers still to join before the first lease (`settings.minimumWorkers`); 0 once
    /// dispatch has started.
    public var workersAwaited: Int { quorumReached ? 0 : max(0, settings.minimumWorkers - workerOrder.count) }
    public func slots(of worker: WorkerID) -> (total: Int, leased: Int)? {
        workers[worker].map { ($0.slots, $0.leased) }
    }
    public func lease(of job: JobID) -> Lease? { leases[job] }
    public func isFinished(_ run: RunID) -> Bool { progress(of: run)?.isFinished ?? true }

    // MARK: Internals

    private mutating func addWorker(_ id: WorkerID, session: String, slots: Int, now: MonotonicTime, kinds: Set<JobKind>?,
                                    withheld: Set<JobKind>) {
        workers[id] = WorkerEntry(session: session, slots: max(0, slots), lastHeard: now, kinds: kinds, refused: withheld)
        totalSlots += max(0, slots)
        workerOrder.append(id)
    }

    private mutating func removeWorker(_ id: WorkerID) -> [SchedulerEvent] {
        guard let entry = workers.removeValue(forKey: id) else { return [] }
        totalSlots -= entry.slots
        workerOrder.removeAll { $0 == id }
        var events: [SchedulerEvent] = []
        for jobID in leases.values.filter({ $0.worker == id }).map(\.job.id).sorted() {
            guard let lease = leases.removeValue(forKey: jobID) else { continue }
            events.append(.leaseLost(jobID, worker: id, attempt: lease.attempt, reason: .workerLost))
            events += requeueOrFail(jobID)
        }
        return events
    }

    private mutating func requeueOrFail(_ id: JobID, reason: String? = nil) -> [SchedulerEvent] {
        guard let job = pending[id] else { return [] }
        if job.attempts >= settings.maxAttempts {
            pending[id] = nil
            markFinished(id)
            runs[position(of: job.job.run)].progress.failed += 1
            return [.jobFailed(id, run: job.job.run, kind: job.job.kind, reason: reason.map { "\($0), after \(job.attempts) attempts" }
                                                        ?? "lease lost on all \(job.attempts) attempts")]
        }
        // Retries go first: they have waited longest.
        enqueue(id, at: position(of: job.job.run), atFront: true)
        return [.jobRequeued(id, run: job.job.run, kind: job.job.kind, nextAttempt: job.attempts + 1)]
    }

    /// A run's position in `runs`, added when first seen. It stays for the scheduler's
    /// life (a coordinator serves a handful of runs), and an emptied queue keeps its
    /// storage for the next refill: at most the longest the queue has been, 8 bytes a job.
    private mutating func position(of run: RunID) -> Int {
        if lastPosition < runs.count, runs[lastPosition].id == run { return lastPosition }
        if let known = positionOfRun[run] {
            lastPosition = known
        } else {
            lastPosition = runs.count
            runs.append(RunEntry(id: run))
            positionOfRun[run] = lastPosition
        }
        return lastPosition
    }

    private mutating func enqueue(_ id: JobID, at position: Int, atFront: Bool) {
        let wasEmpty = runs[position].queue.isEmpty
        if atFront { runs[position].queue.prepend(id) } else { runs[position].queue.append(id) }
        if wasEmpty { runRing.append(position) }
    }

    private mutating func dequeueNext() -> JobID? {
        guard let position = runRing.popFirst() else { return nil }
        let id = runs[position].queue.popFirst()!
        if !runs[position].queue.isEmpty { runRing.append(position) }
        return id
    }
}
