import CoevoCore
import CoevoStore
import CoevoWire
import Foundation

/// The coordinator's decisions as a pure state machine, in the manner of
/// swift-cluster-membership's `SWIM.Instance`: `handle` takes one input with the time
/// and returns the directives the shell must carry out, in order. It does no I/O and
/// reads no clock, so tests drive it in-process with a fake one.
///
/// Its parts, each a pure type of its own: the `Scheduler` (queue, leases, workers'
/// slots, per-run deferral pauses), `PeerRegistry` (routes and keys) with `PeerConduct`
/// (how peers behave), `RunBook` (drivers, job ids, finishing; `RunKind` says which
/// driver a config gets) and `CoordinatorMeters`. The machine itself keeps the budget,
/// drain and exit, and dispatch; how it handles peers' messages is in
/// `CoordinatorStateMachine+Peers.swift`, how results and drivers' steps are applied in
/// `CoordinatorStateMachine+Results.swift`.
///
/// Contract: one owner calls `handle`, from one task, `.start` first; after `.exit` has
/// been returned further inputs are ignored.
public struct CoordinatorStateMachine {
    public let settings: CoordinatorSettings
    /// Random per process; workers see it change when the coordinator restarts.
    public let session: String
    public internal(set) var scheduler: Scheduler
    var peers: PeerRegistry
    var conduct = PeerConduct()
    var runs: RunBook
    var meters = CoordinatorMeters()
    /// The runs handed to `init`, served from `.start` on.
    private var served: [ServedRun]
    public private(set) var drainDeadline: MonotonicTime?
    /// Model spending of the runs served, charged from llm.chat results.
    public internal(set) var budget = Budget()
    public internal(set) var budgetStop: String?
    /// The store's queue of writes is past its limit: nothing is leased until it drains.
    public private(set) var storeBehind = false
    public private(set) var hasExited = false
    var out = DirectiveBuffer()
    /// The registered workers' slots when the drivers were last told.
    private var slotsTold = 0
    var now = CoordinatorTime(monotonic: .zero, wall: 0)

    /// `runs` are the unfinished runs of the store (what `ServedRun.load` reads);
    /// `jobIDs` the ids the store has reserved for this coordinator's new jobs; `claims`
    /// the worker ids earlier lives saw registered, with their keys (the store's).
    public init(settings: CoordinatorSettings, session: String, runs: [ServedRun], jobIDs: Range<JobID>,
                claims: [WorkerID: CurvePublicKey] = [:]) {
        self.settings = settings
        self.session = session
        peers = PeerRegistry(claims: claims)
        self.served = runs
        self.runs = RunBook(jobIDs: jobIDs)
        scheduler = Scheduler(settings: settings.scheduler)
    }

    /// Feeds one input; returns what the shell must do, in order.
    public mutating func handle(_ input: CoordinatorInput, at time: CoordinatorTime) -> [CoordinatorDirective] {
        guard !hasExited else { return [] }
        now = time
        let t = time.monotonic
        switch input {
        case .start:
            start()
            return finish()
        case .received(let batch):
            var applied: [JobID] = []
            for message in batch {
                switch message {
                case .message(let routing, let key, let message):
                    if conduct.ignores(routing, now: t) { continue }
                    handle(message, from: routing, key: key, applied: &applied)
                case .malformed(let routing, let problem):
                    if conduct.ignores(routing, now: t) { continue }
                    refuse(routing, problem)
                }
            }
            if !applied.isEmpty { out.append(.observe(.resultsApplied(applied))) }
            dispatch()
        case .tick:
            tick()
            out.append(.wake(at: t + settings.tickMilliseconds))
        case .unroutable(let routing):
            out.notice(.unroutable(peer: Self.printable(routing)))
        case .transport(let event):
            // A closed connection is every `coevo status` leaving, and a worker that is
            // really gone is found by its silence: worth a line only when debugging.
            if event.kind == .closed || conduct.transportFailed() { out.notice(.transport(event)) }
        case .socketError(let line):
            out.notice(.socketError(line))
        case .shutdown:
            beginDrain()
        case .storeCommitted(let durable, let backlog):
            meters.resultsDurable = durable
            let wasBehind = storeBehind
            storeBehind = backlog >= settings.storeBacklogLimit
            if storeBehind && !wasBehind {
                out.notice(.storeBehind(backlog: backlog))
            } else if wasBehind && !storeBehind {
                out.notice(.storeCaughtUp(backlog: backlog))
                dispatch()
            }
            return finish()
        case .storeFailed(let why):
            // Results that cannot be kept must not be asked for: stop now. What the
            // database holds is consistent, so the next start resumes from it.
            out.notice(.storeFailed(why))
            sayGoodbye(reason: "coordinator stopping: its store cannot be written")
            exit()
            return finish()
        case .authorizedKeys(let keys):
            let (released, withdrawn) = peers.authorize(keys)
            if !released.isEmpty { out.store(.workerClaimsReleased(released)) }
            for (worker, key) in withdrawn {
                out.notice(.keyWithdrawn(worker, key))
                record(.workerRefused, worker: worker.rawValue, detail: "key withdrawn")
                drop(worker)
            }
        case .exportsWritten(let run, let failure):
            if let step = runs.exportsWritten(of: run, failure: failure, at: now.wall) { apply(step, of: run) }
        }
        decideWhetherToStop()
        return finish()
    }

    /// The directives of one input, closed by what it did to jobs (for metrics).
    private mutating func finish() -> [CoordinatorDirective] {
        if let activity = meters.collectActivity() { out.append(.observe(.activity(activity))) }
        return out.take()
    }

    // MARK: Start

    private mutating func start() {
        meters.start(at: now.monotonic)
        for run in served { serve(run) }
        served = []
        out.notice(.listening(session: session, bind: settings.bind))
        out.append(.wake(at: now.monotonic + settings.tickMilliseconds))
        if finishRunsIfDone(), settings.exitWhenDone {
            if !runs.unserved.isEmpty {
                out.notice(.nothingToServe(unserved: runs.unserved))
            }
            exit()
        }
    }

    private mutating func serve(_ run: ServedRun) {
        if let problem = run.configProblem {
            // E.g. a red-blue intents_file that is not where this coordinator runs. Serving
            // its stored jobs alone would mark an experiment finished that never was.
            out.notice(.runNotServed(run.id, problem: problem))
            runs.leaveUnserved(run.id)
            return
        }
        if run.state != .running {
            out.store(.runState(run.id.rawValue, .running, at: now.wall))
        }
        let limits = run.config?.budget.budget ?? Budget()
        if limits != Budget() {
            // What earlier lives of the run spent counts against the same budget.
            budget = limits
            for entry in run.storedJobs {
                if let outcome = entry.outcome, let output = AppliedResult(job: entry.job, outcome: outcome).llmOutput {
                    charge(output, run: run.id, replayed: true)
                }
            }
        }
        if let config = run.config, let (driver, description) = RunKind.driver(for: config, run: run) {
            for entry in run.storedJobs {
                if let outcome = entry.outcome { scheduler.recordFinished(entry.job.id, run: run.id, failed: outcome.status != .succeeded) }
                else if entry.failed { scheduler.recordFinished(entry.job.id, run: run.id, failed: true) }
            }
            let step = runs.serve(run.id, driver: driver, storedWhenLeased: false, at: now.wall)
            submit(requeued: step.requeued)
            apply(step, of: run.id)
            out.notice(.serving(description: description, replayed: run.storedJobs.count, toGo: step.requeued.count + step.jobs.count))
            return
        }
        let jobs = run.jobs
        for done in jobs.succeeded { scheduler.recordFinished(done, run: run.id, failed: false) }
        for failed in jobs.failed { scheduler.recordFinished(failed, run: run.id, failed: true) }
        var config = run.config ?? ExperimentConfig()
        if run.config == nil { config.workload.jobs = 0 }  // nothing more to make: serve what is stored
        let driver = BatchDriver(config: config, run: run.id, stored: jobs)
        let total = max(config.workload.jobs, driver.made)
        scheduler.plan(total, for: run.id)
        let step = runs.serve(run.id, driver: driver, storedWhenLeased: true, at: now.wall)
        submit(requeued: step.requeued)
        apply(step, of: run.id)
        out.notice(.servingBatch(run.id, finished: jobs.succeeded.count + jobs.failed.count, toGo: total - jobs.succeeded.count - jobs.failed.count))
    }

    // MARK: Timers and scheduling

    private mutating func tick() {
        let t = now.monotonic
        carryOut(scheduler.expire(now: t))
        for worker in scheduler.registeredWorkers
        where peers.heartbeatDue(worker, now: t, interval: settings.heartbeatIntervalMilliseconds) {
            send(to: worker, .heartbeat)
        }
        dispatch()
        if let summary = conduct.summary(now: t) { out.notice(.conduct(summary)) }
        if meters.snapshotDue(at: t) {
            var snapshot = progress
            snapshot.summary = meters.advanceSummary(snapshot, at: t)
            out.append(.observe(.progress(snapshot)))
        }
    }

    private mutating func dispatch() {
        if scheduler.totalSlots != slotsTold {
            slotsTold = scheduler.totalSlots
            for run in runs.runs {
                if let step = runs.capacityChanged(of: run, slots: slotsTold, at: now.wall) { apply(step, of: run) }
            }
        }
        guard drainDeadline == nil, budgetStop == nil, !storeBehind else { return }
        let t = now.monotonic
        for (worker, leases) in scheduler.dispatch(now: t) {
            if leases.count <= settings.leasesPerMessage {
                send(to: worker, .jobs(leases))  // the usual case: no copy
            } else {
                for start in stride(from: 0, to: leases.count, by: settings.leasesPerMessage) {
                    send(to: worker, .jobs(Array(leases[start..<min(leases.count, start + settings.leasesPerMessage)])))
                }
            }
            for lease in leases {
                meters.activity.note(lease.job, .leased(waited: meters.leased(lease.job.id, at: t)))
            }
            out.store(contentsOf: leases.map { lease in
                runs.isStoredWithLease(lease.job.id)
                    ? .leasedFirst(lease.job, worker: worker, attempt: lease.attempt, at: now.wall)
                    : .leased(lease.job.id, worker: worker, attempt: lease.attempt, at: now.wall)
            })
        }
    }

    // MARK: Finishing

    /// After every input: finished runs are marked, and the coordinator stops when its
    /// work is done, its budget is spent and nothing is out, or its drain is over.
    private mutating func decideWhetherToStop() {
        let t = now.monotonic
        let allDone = finishRunsIfDone()
        if allDone && settings.exitWhenDone && drainDeadline == nil {
            out.notice(.allFinished(unserved: runs.unserved))
            sayGoodbye(reason: "coordinator finished its runs")
            exit()
            return
        }
        if budgetStop != nil && scheduler.leasedCount == 0 && drainDeadline == nil {
            out.notice(.budgetSpentStopping)
            drainDeadline = t
        }
        if let deadline = drainDeadline, scheduler.leasedCount == 0 || t >= deadline {
            if scheduler.leasedCount > 0 {
                out.notice(.drainTimedOut(leased: scheduler.leasedCount))
            }
            sayGoodbye(reason: "coordinator shutting down")
            for run in runs.active.sorted() {
                out.store(.runState(run.rawValue, .interrupted, at: now.wall))
            }
            exit()
        }
    }

    /// Marks finished runs durable and finished. Returns true when no run is left.
    private mutating func finishRunsIfDone() -> Bool {
        let done = runs.closeFinished(by: scheduler)
        guard !done.isEmpty else { return runs.active.isEmpty }
        for run in done {
            out.store(.runState(run.rawValue, .finished, at: now.wall))
            record(.runFinished, run: run.rawValue, detail: "\(scheduler.progress(of: run) ?? RunProgress())")
        }
        // Results first reach the disk here, so a finished run is a durable run.
        out.append(.flushStore)
        for run in done {
            let progress = scheduler.progress(of: run) ?? RunProgress()
            out.notice(.runFinished(run, progress))
            out.append(.observe(.runFinished(run, progress)))
        }
        return runs.active.isEmpty
    }

    private mutating func beginDrain() {
        guard drainDeadline == nil else { return }
        drainDeadline = now.monotonic + settings.drainTimeoutMilliseconds
        out.notice(.draining(leased: scheduler.leasedCount))
    }

    private mutating func sayGoodbye(reason: String) {
        for worker in scheduler.registeredWorkers { send(to: worker, .disconnect(reason: reason)) }
        out.append(.flushStore)
    }

    private mutating func exit() {
        hasExited = true
        out.append(.exit)
    }

    mutating func record(_ kind: EventKind, run: String? = nil, job: JobID? = nil, worker: String? = nil, detail: String = "") {
        out.store(.event(EventRecord(at: now.wall, run: run, kind: kind, job: job, worker: worker, detail: detail)))
    }

    // MARK: What it shows

    /// For progress displays and benchmarks.
    public var progress: CoordinatorProgress {
        var snapshot = CoordinatorProgress(
            runs: scheduler.progress, workers: scheduler.workerCount, queued: scheduler.queuedCount,
            leased: scheduler.leasedCount, resultsApplied: meters.resultsApplied, resultsDurable: meters.resultsDurable,
            heartbeatsReceived: meters.heartbeatsReceived)
        snapshot.stages = runs.stages
        for worker in scheduler.registeredWorkers { snapshot.slots[worker] = scheduler.slots(of: worker) }
        snapshot.budget = budget
        snapshot.lastProblem = meters.lastProblem
        snapshot.uptimeMilliseconds = meters.uptime(at: now.monotonic)
        return snapshot
    }
}
