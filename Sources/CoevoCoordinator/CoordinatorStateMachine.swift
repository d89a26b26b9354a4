import CoevoCore
import CoevoStore
import CoevoWire
import Foundation
import Logging

/// The coordinator's decisions as a pure state machine, in the manner of
/// swift-cluster-membership's `SWIM.Instance`: `handle` takes one input with the time
/// and returns the directives the shell must carry out, in order. It owns the
/// `Scheduler` (with its per-run deferral pauses), the peers with their routing ids and
/// keys, how peers behave (`PeerConduct`), the budget, drain and exit, the run drivers
/// and job-id allocation. It does no I/O and reads no clock, so tests drive it
/// in-process with a fake one.
///
/// Contract: one owner calls `handle`, from one task, `.start` first; after `.exit` has
/// been returned further inputs are ignored.
public struct CoordinatorStateMachine {
    public let settings: CoordinatorSettings
    /// Random per process; workers see it change when the coordinator restarts.
    public let session: String
    public private(set) var scheduler: Scheduler

    /// Routing id -> worker, and back: a worker's routing id changes when it restarts.
    private var peers: [Data: WorkerID] = [:]
    private var routes: [WorkerID: Data] = [:]
    private var lastSentTo: [WorkerID: MonotonicTime] = [:]
    /// The CURVE key each registered worker joined with: its id and route are its own.
    private var owners: [WorkerID: CurvePublicKey] = [:]
    /// The key each worker id first registered with, kept after it leaves: while its owner
    /// restarts, another authorized key cannot take the id (and the leases it would get).
    private var claims: [WorkerID: CurvePublicKey] = [:]
    /// The keys the allow-list holds, once it has changed while running (nil before:
    /// the ZAP handler let in only authorized keys).
    private var authorized: Set<CurvePublicKey>?
    private var conduct = PeerConduct()
    /// The runs handed to `init`, served from `.start` on.
    private var served: [ServedRun]
    private var activeRuns: Set<RunID> = []
    /// Runs left unfinished because their stored config does not load here.
    public private(set) var unserved: [RunID] = []
    /// Every run's jobs are made as results arrive: a batch's a window ahead, a protocol's
    /// as its phases need them.
    private var drivers: [RunID: any RunDriver] = [:]
    /// Batch runs: their jobs are stored when first leased (`leasedFirst`), not when made.
    private var storedWhenLeased: Set<RunID> = []
    /// Their jobs made and not yet leased, so not yet in the store (at most a window).
    private var unstored: Set<JobID> = []
    /// The id the next job made by a driver gets, and the first id the store has not
    /// reserved: ids at or above it must be reserved before a job that has one goes out.
    private var nextJobID: JobID
    private var jobIDCeiling: JobID
    /// How many ids one reservation takes: one synchronous store write per this many jobs.
    public static let jobIDBlock = 1_000_000
    public private(set) var resultsApplied: UInt64 = 0
    public private(set) var resultsDurable: UInt64 = 0
    /// Heartbeats received: the load that grows with workers whatever they do.
    public private(set) var heartbeatsReceived: UInt64 = 0
    private var started = MonotonicTime.zero
    private var lastProgress = MonotonicTime.zero
    public private(set) var drainDeadline: MonotonicTime?
    /// Model spending of the runs served, charged from llm.chat results.
    public private(set) var budget = Budget()
    public private(set) var budgetStop: String?
    /// The store's queue of writes is past its limit: nothing is leased until it drains.
    public private(set) var storeBehind = false
    public private(set) var hasExited = false

    private var out = DirectiveBuffer()
    /// What happened to jobs during the input in hand.
    private var activity = JobActivity()
    /// When each queued job was last queued, for its wait until leased (metrics). At most
    /// as many entries as jobs waiting (a batch's window).
    private var queuedSince: [JobID: MonotonicTime] = [:]
    /// The registered workers' slots when the drivers were last told.
    private var slotsTold = 0
    /// Rates and times left for the summary the progress snapshots and STATUS carry.
    private var tracker = ProgressTracker()
    /// What last went wrong in each run (a failed result, a deferral), for the progress
    /// line; the first failed result of a run is also logged.
    private var lastProblem: [RunID: String] = [:]
    private var failureLogged: Set<RunID> = []
    private var now = CoordinatorTime(monotonic: .zero, wall: 0)

    /// `runs` are the unfinished runs of the store (what `ServedRun.load` reads);
    /// `jobIDs` the ids the store has reserved for this coordinator's new jobs.
    public init(settings: CoordinatorSettings, session: String, runs: [ServedRun], jobIDs: Range<JobID>) {
        self.settings = settings
        self.session = session
        self.served = runs
        nextJobID = jobIDs.lowerBound
        jobIDCeiling = jobIDs.upperBound
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
                case .message(let routing, let key, let body):
                    if conduct.ignores(routing, now: t) { continue }
                    handle(body, from: routing, key: key, applied: &applied)
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
            out.log(.debug, "message to a departed peer dropped (\(Self.printable(routing)))")
        case .transport(let event):
            // A closed connection is every `coevo status` leaving, and a worker that is
            // really gone is found by its silence: worth a line only when debugging.
            out.log(event.kind == .closed ? .debug : .notice, event.description)
        case .socketError(let line):
            out.log(.warning, line)
        case .shutdown:
            beginDrain()
        case .storeCommitted(let durable, let backlog):
            resultsDurable = durable
            let wasBehind = storeBehind
            storeBehind = backlog >= settings.storeBacklogLimit
            if storeBehind && !wasBehind {
                out.log(.warning, "the store is \(backlog) writes behind; no new leases until it catches up (a slow disk?)")
            } else if wasBehind && !storeBehind {
                out.log(.info, "the store caught up (\(backlog) writes queued); leasing resumes")
                dispatch()
            }
            return finish()
        case .storeFailed(let why):
            // Results that cannot be kept must not be asked for: stop now. What the
            // database holds is consistent, so the next start resumes from it.
            out.log(.critical, "the store cannot be written (\(why)); stopping: nothing more is leased. Fix the database (disk space, permissions) and start again: the run resumes from what was committed")
            sayGoodbye(reason: "coordinator stopping: its store cannot be written")
            exit()
            return finish()
        case .authorizedKeys(let keys):
            authorized = keys
            // A withdrawn key gives its ids back: a node that made a new key keeps its name.
            claims = claims.filter { keys.contains($0.value) }
            for (worker, key) in owners.sorted(by: { $0.key < $1.key }) where !keys.contains(key) {
                out.log(.warning, "the key of worker \(worker) (\(key)) was withdrawn from the authorized keys: it is dropped and its leases requeued")
                record(.workerRefused, worker: worker.rawValue, detail: "key withdrawn")
                drop(worker)
            }
        case .exportsWritten(let run, let failure):
            if drivers[run] != nil {
                let step = drivers[run]!.exportsWritten(failure: failure, at: now.wall)
                apply(step, of: run)
            }
        }
        decideWhetherToStop()
        return finish()
    }

    /// The directives of one input, closed by what it did to jobs (for metrics).
    private mutating func finish() -> [CoordinatorDirective] {
        if !activity.isEmpty {
            out.append(.observe(.activity(activity)))
            activity = JobActivity()
        }
        return out.take()
    }

    // MARK: Start

    private mutating func start() {
        started = now.monotonic
        lastProgress = now.monotonic
        for run in served { serve(run) }
        served = []
        out.log(.info, "coordinator \(session) listening on \(settings.bind)")
        out.append(.wake(at: now.monotonic + settings.tickMilliseconds))
        if finishRunsIfDone(), settings.exitWhenDone {
            if !unserved.isEmpty {
                out.log(.error, "nothing left to serve here (not served: \(unserved.map(\.rawValue).joined(separator: ", ")))")
            }
            exit()
        }
    }

    private mutating func serve(_ run: ServedRun) {
        if let problem = run.configProblem {
            // E.g. a red-blue intents_file that is not where this coordinator runs. Serving
            // its stored jobs alone would mark an experiment finished that never was.
            out.log(.error, "run \(run.id) is not served: its stored config does not load here (\(problem)). It stays unfinished; start the coordinator where the config's files are to resume it")
            unserved.append(run.id)
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
        if let config = run.config, config.isProtocolRun {
            var (driver, description) = Self.makeDriver(config, run: run)
            activeRuns.insert(run.id)
            for entry in run.storedJobs {
                if let outcome = entry.outcome { scheduler.recordFinished(entry.job.id, run: run.id, failed: outcome.status != .succeeded) }
                else if entry.failed { scheduler.recordFinished(entry.job.id, run: run.id, failed: true) }
            }
            let step = driver.start(ids: &nextJobID, at: now.wall)
            drivers[run.id] = driver
            submit(requeued: step.requeued)
            apply(step, of: run.id)
            let resumed = run.storedJobs.isEmpty ? "" : "; resumed by replaying \(run.storedJobs.count) stored jobs, \(step.requeued.count + step.jobs.count) to go"
            out.log(.info, "serving \(description)\(resumed)")
            return
        }
        let jobs = run.jobs
        for done in jobs.succeeded { scheduler.recordFinished(done, run: run.id, failed: false) }
        for failed in jobs.failed { scheduler.recordFinished(failed, run: run.id, failed: true) }
        var config = run.config ?? ExperimentConfig()
        if run.config == nil { config.workload.jobs = 0 }  // nothing more to make: serve what is stored
        var driver = BatchDriver(config: config, run: run.id, stored: jobs)
        let total = max(config.workload.jobs, driver.made)
        scheduler.plan(total, for: run.id)
        let step = driver.start(ids: &nextJobID, at: now.wall)
        submit(requeued: step.requeued)
        drivers[run.id] = driver
        storedWhenLeased.insert(run.id)
        activeRuns.insert(run.id)
        apply(step, of: run.id)
        out.log(.info, "serving run \(run.id): \(jobs.succeeded.count + jobs.failed.count) finished, \(total - jobs.succeeded.count - jobs.failed.count) to go")
    }

    /// The driver that makes a protocol run's jobs, and a line describing the run.
    private static func makeDriver(_ config: ExperimentConfig, run: ServedRun) -> (any RunDriver, String) {
        let timeout = config.coordinator.jobTimeoutMilliseconds
        if let chamber = config.chamberSettings {
            let agents = chamber.backend == .model ? config.endpoints(forRole: "agent") : []
            return (ChamberDriver(settings: chamber, run: run.id, timeoutMilliseconds: timeout, endpoints: agents,
                                  storedJobs: run.storedJobs, loggedEvents: run.loggedEvents),
                    "chamber run \(run.id) on the \(chamber.backend.rawValue): \(chamber.steps) steps of \(chamber.tasksPerStep) tasks, \(chamber.agents) agents, \(chamber.niches) niches, routing \(chamber.evolution.codream.routing.rawValue)")
        }
        if let discovery = config.discoverySettings {
            let pool = DiscoveryPool(settings: discovery, run: run.id.rawValue, startedAt: run.createdAt)
            let runtimes = discovery.agents.map { "\($0.count) \($0.runtime.rawValue)" }.joined(separator: ", ")
            return (DiscoveryDriver(pool: pool, run: run.id, exportDirectory: run.exportDirectory, storedJobs: run.storedJobs,
                                    loggedEvents: run.loggedEvents),
                    "discovery run \(run.id): \(runtimes) agent(s), \(discovery.rounds) rounds, \(discovery.task.graders) grader(s) at once; exports to \(run.exportDirectory.path)")
        }
        let engine = config.makeProtocolEngine()!
        var pools: [String: [LLMJob.Endpoint]] = [:]
        for role in config.protocolRoles { pools[role] = config.endpoints(forRole: role) }
        let driver = ProtocolDriver(engine: engine, run: run.id, endpointsByRole: pools, timeoutMilliseconds: timeout,
                                    exportDirectory: run.exportDirectory, storedJobs: run.storedJobs, loggedEvents: run.loggedEvents)
        let kind = config.proposerSolver != nil ? "proposer/solver" : "red-blue"
        let roles = config.protocolRoles.map { "\($0) -> \(pools[$0]!.map(\.name).joined(separator: ","))" }.joined(separator: "; ")
        return (driver, "\(kind) run \(run.id): \(roles); exports to \(run.exportDirectory.path)")
    }

    // MARK: Incoming messages

    private mutating func refuse(_ routing: Data, _ problem: MalformedMessage) {
        switch problem {
        case .frameCount(let count):
            if strike(routing, .warning, "peer \(Self.printable(routing)) sent \(count) frames; expected exactly 1 envelope frame") {
                reply(routing, .malformed, "expected exactly one frame holding an Envelope, got \(count)")
            }
        case .undecodable(let error):
            if strike(routing, .warning, "peer \(Self.printable(routing)): \(error)") {
                reply(routing, error.code, error.description)
            }
        }
    }

    /// Counts a bad message against `routing`; true when it is to be answered (then it
    /// has been logged), false when a flood from this peer is only counted.
    private mutating func strike(_ routing: Data, _ level: Logger.Level, _ line: @autoclosure () -> String) -> Bool {
        switch conduct.strike(routing, now: now.monotonic) {
        case .report:
            out.log(level, line())
            return true
        case .quiet:
            return false
        case .nowIgnored:
            let why = "more than \(PeerConduct.strikesBeforeIgnoring) bad messages within \(PeerConduct.windowMilliseconds / 1000) s"
            out.log(.warning, "ignoring peer \(Self.printable(routing)) for \(PeerConduct.ignoreMilliseconds / 1000) s: \(why) (last: \(line()))")
            record(.peerIgnored, worker: peers[routing]?.rawValue, detail: "\(Self.printable(routing)): \(why)")
            return false
        }
    }

    private mutating func handle(_ body: Envelope.OneOf_Body, from routing: Data, key: CurvePublicKey?, applied: inout [JobID]) {
        if let key, let authorized, !authorized.contains(key) {
            // Its connection predates the withdrawal (ZAP asks only at the handshake).
            _ = strike(routing, .warning, "message from withdrawn key \(key) (\(Self.printable(routing))) ignored")
            return
        }
        if case .ready(let ready) = body {
            register(ready, routing: routing, key: key)
            return
        }
        if case .statusRequest = body {
            out.append(.send(to: routing, .statusReply(status())))
            return
        }
        guard let worker = peers[routing], scheduler.heard(from: worker, now: now.monotonic) else {
            if strike(routing, .info, "message from unregistered peer \(Self.printable(routing)); asking it to send READY") {
                reply(routing, .unknownWorker, "this coordinator does not know you: send READY first")
            }
            return
        }
        guard owners[worker] == key else {
            // Someone who knows this worker's routing id connected under it with another
            // key and took the route over (ROUTER_HANDOVER, which reconnects need). The
            // worker is dropped, its leases requeued: the real one rejoins when it
            // reconnects, and nothing from the other key is ever applied.
            out.log(.warning, "a message on worker \(worker)'s route came from key \(key.map { "\($0)" } ?? "none"), not the key it joined with: its route is dropped and its leases requeued")
            record(.routeClaimed, worker: worker.rawValue, detail: "key \(key.map { "\($0)" } ?? "none")")
            drop(worker)
            _ = conduct.strike(routing, now: now.monotonic)
            return
        }
        switch body {
        case .heartbeat:
            heartbeatsReceived += 1
        case .results(let batch):
            for result in batch.results { apply(result, from: worker, routing: routing, applied: &applied) }
        case .disconnect(let goodbye):
            out.log(.info, "worker \(worker) disconnected: \(goodbye.reason)")
            drop(worker)
            record(.workerLeft, worker: worker.rawValue, detail: goodbye.reason)
        default:
            out.log(.warning, "worker \(worker) sent a message a coordinator never accepts")
            reply(routing, .unexpectedMessage, "a coordinator accepts READY, HEARTBEAT, RESULTS, DISCONNECT and STATUS_REQUEST only")
        }
    }

    private mutating func register(_ ready: ReadyMessage, routing: Data, key: CurvePublicKey?) {
        guard !ready.workerID.isEmpty, ready.workerID.utf8.count <= 255, !ready.session.isEmpty else {
            if strike(routing, .warning, "peer \(Self.printable(routing)) sent an unusable READY (worker_id and session must be non-empty, id at most 255 bytes)") {
                reply(routing, .invalidReady, "READY needs a non-empty worker_id (at most 255 bytes) and a non-empty session")
            }
            return
        }
        let worker = WorkerID(ready.workerID)
        if scheduler.session(of: worker) != nil, owners[worker] != key {
            // A registered worker's id belongs to the key it joined with, whatever session
            // the newcomer names: READY cannot take over its route or its leases.
            if strike(routing, .warning, "refused READY from \(Self.printable(routing)): worker id '\(worker)' is held by another key") {
                reply(routing, .duplicateWorker, "worker id '\(worker)' is held by a live worker with another key; give this worker another --id")
                record(.workerRefused, worker: worker.rawValue, detail: "id held by another key")
            }
            return
        }
        // Away (restarting, say), its id is still its key's.
        if let claimed = claims[worker], claimed != key {
            if strike(routing, .warning, "refused READY from \(Self.printable(routing)): worker id '\(worker)' belongs to another key") {
                reply(routing, .duplicateWorker, "worker id '\(worker)' belongs to the key that first registered it; give this worker another --id")
                record(.workerRefused, worker: worker.rawValue, detail: "id belongs to another key")
            }
            return
        }
        let kinds = Set(ready.capabilities.map { JobKind($0) })
        switch scheduler.register(worker, session: ready.session, slots: Int(ready.slots), now: now.monotonic, kinds: kinds) {
        case .duplicate:
            out.log(.warning, "refused READY from \(Self.printable(routing)): worker id '\(worker)' is in use by a live worker")
            // The live worker's session stays out of the reply: with it, READY could take
            // over that worker's route and leases.
            reply(routing, .duplicateWorker, "worker id '\(worker)' is already used by a live worker; give this worker another --id")
            record(.workerRefused, worker: worker.rawValue, detail: "duplicate id")
            return
        case .accepted:
            out.log(.info, "worker \(worker) joined: \(ready.slots) slots, host \(ready.hostname), pid \(ready.pid), kinds \(ready.capabilities.joined(separator: ","))")
            // With the key, every result is traceable to the key that sent it: an id belongs to
            // one key for the coordinator's life (`claims`).
            record(.workerJoined, worker: worker.rawValue, detail: "slots=\(ready.slots) host=\(ready.hostname) pid=\(ready.pid)"
                   + (key.map { " key=\($0)" } ?? ""))
            if scheduler.workersAwaited > 0 {
                out.log(.info, "waiting for \(scheduler.workersAwaited) more worker(s) before leasing jobs (coordinator.min_workers)")
            }
        case .resumed:
            out.log(.debug, "worker \(worker) registered again (slots \(ready.slots))")
        case .replaced(let events):
            out.log(.info, "worker \(worker) restarted (new session); its previous process's jobs are requeued")
            if let old = routes[worker] { peers[old] = nil }
            carryOut(events)
            record(.workerJoined, worker: worker.rawValue, detail: "replaced an expired process; slots=\(ready.slots)" + (key.map { " key=\($0)" } ?? ""))
        }
        if let old = routes[worker], old != routing { peers[old] = nil }
        peers[routing] = worker
        routes[worker] = routing
        owners[worker] = key
        if let key { claims[worker] = key }
        var welcome = WelcomeMessage()
        welcome.coordinatorSession = session
        welcome.heartbeatIntervalMs = UInt32(settings.heartbeatIntervalMilliseconds)
        welcome.liveness = UInt32(settings.liveness)
        send(to: worker, .welcome(welcome))
    }

    private mutating func apply(_ result: ResultMessage, from worker: WorkerID, routing: Data, applied: inout [JobID]) {
        if result.status == .deferred {
            let t = now.monotonic
            let wait = deferralWait(asked: result.retryAfterMs, by: worker)
            guard let (lease, events) = scheduler.deferJob(result.jobID, attempt: result.attempt, from: worker, until: t + wait) else {
                out.log(.notice, "discarded a late DEFERRED for job \(result.jobID) from \(worker)")
                return
            }
            let run = lease.job.run
            out.log(.warning, "worker \(worker) deferred job \(lease.job.id) (\(result.error)); run \(run) gets no leases for \(wait) ms, other runs go on, nothing is lost")
            record(.jobDeferred, run: run.rawValue, job: lease.job.id, worker: worker.rawValue, detail: result.error)
            lastProblem[run] = "job \(lease.job.id) deferred: \(result.error)"
            activity.note(lease.job, .deferred)
            queuedSince[lease.job.id] = now.monotonic
            // No wake of its own: the regular tick dispatches once the pause ends, and a
            // later deadline would replace the tick's (heartbeats and expiry would stop).
            carryOut(events)
            return
        }
        if result.status == .unsupported {
            // Not a result: this worker cannot run the job (no executor, or its own policy
            // refuses the endpoint, key or program). Another worker may.
            guard let (lease, events) = scheduler.unsupported(result.jobID, attempt: result.attempt, from: worker, reason: result.error) else {
                out.log(.notice, "discarded a late UNSUPPORTED for job \(result.jobID) from \(worker)")
                return
            }
            out.log(.notice, "worker \(worker) cannot run job \(lease.job.id) (\(result.error)); it is offered to workers that can")
            record(.jobUnsupported, run: lease.job.run.rawValue, job: lease.job.id, worker: worker.rawValue, detail: result.error)
            carryOut(events)
            return
        }
        if result.status == .timedOut {
            // Transient: another attempt, maybe on a less loaded worker, may finish in time.
            guard let (lease, events) = scheduler.retry(result.jobID, attempt: result.attempt, from: worker,
                                                          reason: "timed out (last: \(result.error))") else {
                out.log(.notice, "discarded a late TIMED_OUT for job \(result.jobID) from \(worker)")
                return
            }
            out.log(.notice, "job \(lease.job.id) timed out on worker \(worker) (\(result.error)); it is tried again within its attempts")
            record(.leaseLost, job: lease.job.id, worker: worker.rawValue, detail: "attempt \(result.attempt): timed out")
            carryOut(events)
            return
        }
        switch scheduler.complete(result.jobID, attempt: result.attempt, from: worker, failed: result.status != .succeeded) {
        case .apply(let lease):
            resultsApplied += 1
            applied.append(lease.job.id)
            let outcome = result.outcome
            // The lease began a timeout and a grace before its deadline.
            let ran = now.monotonic - lease.deadline + lease.job.timeoutMilliseconds + scheduler.settings.leaseGraceMilliseconds
            activity.note(lease.job, .completed(outcome.status, seconds: Double(max(0, ran)) / 1000))
            out.store(.result(ResultRecord(
                job: lease.job.id, attempt: lease.attempt, worker: worker,
                outcome: outcome, completedAt: now.wall)))
            // Decoded once, here, for the budget and the run's driver alike.
            let result = AppliedResult(job: lease.job, outcome: outcome, worker: worker)
            if let output = result.llmOutput { charge(output, run: lease.job.run) }
            let run = lease.job.run
            if outcome.status != .succeeded {
                let problem = "job \(lease.job.id) \(outcome.status.rawValue) on worker \(worker): \(outcome.error)"
                if failureLogged.insert(run).inserted {
                    out.log(.warning, "run \(run): \(problem) (further failures are counted on the progress line)")
                }
                lastProblem[run] = problem
            }
            if let step = drivers[run]?.completed(result, ids: &nextJobID, at: now.wall) { apply(step, of: run) }
        case .unknownJob:
            if strike(routing, .warning, "worker \(worker) sent a result for unknown job \(result.jobID)") {
                reply(routing, .unknownJob, "no job \(result.jobID) was ever submitted", job: result.jobID)
            }
        case .alreadyFinished, .staleLease:
            // Discarded, but a model call it made was paid for all the same.
            let paid = result.status == .succeeded ? try? JSONDecoder().decode(LLMJobOutput.self, from: result.output) : nil
            if let paid { charge(paid, run: nil) }
            guard conduct.discarded(routing) else { return }
            out.log(.notice, "discarded late result for job \(result.jobID) attempt \(result.attempt) from \(worker): its lease had expired")
            record(.resultDiscarded, job: result.jobID, worker: worker.rawValue,
                   detail: "attempt \(result.attempt): lease expired or job already finished" + (paid.map { "; its call (\($0.promptTokens + $0.completionTokens) tokens) is charged" } ?? ""))
        }
    }

    // MARK: Timers and scheduling

    private mutating func tick() {
        let t = now.monotonic
        carryOut(scheduler.expire(now: t))
        for worker in scheduler.registeredWorkers
        where t - (lastSentTo[worker] ?? .zero) >= settings.heartbeatIntervalMilliseconds {
            send(to: worker, .heartbeat(HeartbeatMessage()))
        }
        dispatch()
        if let line = conduct.summary(now: t) { out.log(.notice, line) }
        if t - lastProgress >= 1000 {
            lastProgress = t
            var snapshot = progress
            snapshot.summary = tracker.summary(snapshot, at: Double(t - .zero) / 1000)
            out.append(.observe(.progress(snapshot)))
        }
    }

    /// How long a deferral holds its run back: the wait the worker names, within
    /// `CoordinatorSettings.longestDeferralMilliseconds` (a worker cannot park a run for
    /// days by naming a huge one), or the configured pause when it names none.
    private mutating func deferralWait(asked: UInt64, by worker: WorkerID) -> Int64 {
        guard asked > 0 else { return settings.deferPauseMilliseconds }
        let longest = CoordinatorSettings.longestDeferralMilliseconds
        guard asked <= UInt64(longest) else {
            out.log(.notice, "worker \(worker) asked to retry after \(asked) ms; waiting the longest allowed, \(longest) ms")
            return longest
        }
        return Int64(asked)
    }

    /// Adds a model call's usage to the budget; the first limit reached stops dispatch.
    /// `run` is nil for a discarded late result (its job is gone); `replayed` is what an
    /// earlier life of the run spent: it counts against the budget, not in this life's metrics.
    private mutating func charge(_ output: LLMJobOutput, run: RunID?, replayed: Bool = false) {
        if !replayed {
            activity.calls.append(JobActivity.ModelCall(endpoint: output.endpoint ?? "unknown", role: output.role ?? "-", run: run, promptTokens: output.promptTokens,
                                                        completionTokens: output.completionTokens, usd: output.costUSD))
        }
        budget.chargeCost(TokenUsage(promptTokens: output.promptTokens, completionTokens: output.completionTokens), usd: output.costUSD)
        if budgetStop == nil, let why = budget.exhausted {
            budgetStop = why
            out.log(.warning, "\(why): no new jobs are dispatched; running ones finish and are kept")
            record(.budgetExhausted, detail: why)
        }
    }

    private mutating func dispatch() {
        if scheduler.totalSlots != slotsTold {
            slotsTold = scheduler.totalSlots
            for run in drivers.keys.sorted() {
                if let step = drivers[run]?.capacityChanged(slots: slotsTold, ids: &nextJobID, at: now.wall) { apply(step, of: run) }
            }
        }
        guard drainDeadline == nil, budgetStop == nil, !storeBehind else { return }
        let t = now.monotonic
        for (worker, leases) in scheduler.dispatch(now: t) {
            var start = 0
            while start < leases.count {
                let end = min(leases.count, start + settings.leasesPerMessage)
                var batch = JobBatchMessage()
                batch.leases = leases[start..<end].map(LeaseMessage.init)
                send(to: worker, .jobs(batch))
                start = end
            }
            for lease in leases {
                let since = queuedSince.removeValue(forKey: lease.job.id) ?? now.monotonic
                activity.note(lease.job, .leased(waited: Double(now.monotonic - since) / 1000))
            }
            out.store(contentsOf: leases.map { lease in
                unstored.remove(lease.job.id) != nil
                    ? .leasedFirst(lease.job, worker: worker, attempt: lease.attempt, at: now.wall)
                    : .leased(lease.job.id, worker: worker, attempt: lease.attempt, at: now.wall)
            })
        }
    }

    /// Carries out scheduler decisions: logs, store writes, cancels, observations.
    private mutating func carryOut(_ events: [SchedulerEvent]) {
        var requeuedByWorker: [WorkerID: Int] = [:]
        for event in events {
            out.append(.observe(.schedulerEvent(event, now.monotonic)))
            switch event {
            case .workerExpired(let worker, let silence):
                out.log(.warning, "worker \(worker) silent for \(silence) ms: expired")
                forget(worker)
                record(.workerExpired, worker: worker.rawValue, detail: "silent for \(silence) ms")
            case .workerLeft:
                break
            case .workerReplaced(let worker):
                record(.workerReplaced, worker: worker.rawValue)
            case .leaseLost(let job, let worker, let attempt, let reason):
                requeuedByWorker[worker, default: 0] += 1
                record(.leaseLost, job: job, worker: worker.rawValue, detail: "attempt \(attempt): \(reason.rawValue)")
                if reason == .deadline, routes[worker] != nil {
                    var cancel = CancelMessage()
                    cancel.jobIds = [job]
                    cancel.reason = "lease deadline passed"
                    send(to: worker, .cancel(cancel))
                }
            case .jobRequeued(let job, let run, let kind, let nextAttempt):
                activity.marks.append(JobActivity.Mark(kind: kind, run: run, change: .requeued))
                queuedSince[job] = now.monotonic
                out.store(.requeued(job, attempts: nextAttempt - 1))
            case .jobFailed(let job, let run, let kind, let reason):
                activity.marks.append(JobActivity.Mark(kind: kind, run: run, change: .failed))
                out.log(.warning, "job \(job) of run \(run) failed: \(reason)")
                lastProblem[run] = "job \(job) failed: \(reason)"
                out.store(.failed(job, attempts: scheduler.settings.maxAttempts, reason: reason))
                record(.jobFailed, run: run.rawValue, job: job, detail: reason)
                if drivers[run] != nil {
                    let step = drivers[run]!.failed(job, reason: reason, ids: &nextJobID, at: now.wall)
                    apply(step, of: run)
                }
            }
        }
        for (worker, count) in requeuedByWorker.sorted(by: { $0.key < $1.key }) {
            out.log(.info, "took back \(count) lease(s) from worker \(worker)")
        }
    }

    private mutating func submit(requeued: [(job: Job, attempts: UInt32)]) {
        for (job, attempts) in requeued {
            scheduler.submit(job, attemptsSoFar: attempts)
            activity.note(job, .submitted)
            queuedSince[job.id] = now.monotonic
        }
    }

    /// What a driver said: its new jobs into the scheduler and the store, its events into
    /// the store, its progress into the log, its exports to the shell.
    private mutating func apply(_ step: DriverStep, of run: RunID) {
        if !step.jobs.isEmpty {
            for job in step.jobs {
                scheduler.submit(job)
                activity.note(job, .submitted)
                queuedSince[job.id] = now.monotonic
            }
            if storedWhenLeased.contains(run) {
                unstored.formUnion(step.jobs.lazy.map(\.id))
            } else {
                out.store(contentsOf: step.jobs.map { .submitted($0) })
            }
        }
        if nextJobID > jobIDCeiling {
            // Some of these jobs have ids the store has not reserved: reserve the next
            // block before they can be leased (dispatch comes after this).
            jobIDCeiling = nextJobID + JobID(Self.jobIDBlock)
            out.append(.reserveJobIDs(below: jobIDCeiling))
        }
        out.store(contentsOf: step.events.map { .event($0) })
        out.store(contentsOf: step.memory.map { .memory($0, run: run.rawValue) })
        if let line = step.progress { out.log(.info, "\(run) \(line)") }
        if let exports = step.exports {
            out.append(.writeExports(run, directory: exports.directory, files: exports.files))
        }
    }

    // MARK: Finishing

    /// After every input: finished runs are marked, and the coordinator stops when its
    /// work is done, its budget is spent and nothing is out, or its drain is over.
    private mutating func decideWhetherToStop() {
        let t = now.monotonic
        let allDone = finishRunsIfDone()
        if allDone && settings.exitWhenDone && drainDeadline == nil {
            out.log(.info, unserved.isEmpty ? "every run is finished; exiting"
                : "every run it could serve is finished; exiting (not served: \(unserved.map(\.rawValue).joined(separator: ", ")))")
            sayGoodbye(reason: "coordinator finished its runs")
            exit()
            return
        }
        if budgetStop != nil && scheduler.leasedCount == 0 && drainDeadline == nil {
            out.log(.info, "budget spent and every running job back: stopping (run the same command with a larger budget to go on)")
            drainDeadline = t
        }
        if let deadline = drainDeadline, scheduler.leasedCount == 0 || t >= deadline {
            if scheduler.leasedCount > 0 {
                out.log(.warning, "drain timeout: \(scheduler.leasedCount) leased job(s) stay queued for the next start")
            }
            sayGoodbye(reason: "coordinator shutting down")
            for run in activeRuns.sorted() {
                out.store(.runState(run.rawValue, .interrupted, at: now.wall))
            }
            exit()
        }
    }

    /// Marks finished runs durable and finished. Returns true when no run is left.
    private mutating func finishRunsIfDone() -> Bool {
        let done = activeRuns.filter { scheduler.isFinished($0) && drivers[$0]?.isFinished != false }.sorted()
        guard !done.isEmpty else { return activeRuns.isEmpty }
        for run in done {
            out.store(.runState(run.rawValue, .finished, at: now.wall))
            record(.runFinished, run: run.rawValue, detail: "\(scheduler.progress(of: run) ?? RunProgress())")
        }
        // Results first reach the disk here, so a finished run is a durable run.
        out.append(.flushStore)
        for run in done {
            activeRuns.remove(run)
            let progress = scheduler.progress(of: run) ?? RunProgress()
            out.log(.info, "run \(run) finished: \(progress.completed) succeeded, \(progress.failed) failed")
            out.append(.observe(.runFinished(run, progress)))
        }
        return activeRuns.isEmpty
    }

    private mutating func beginDrain() {
        guard drainDeadline == nil else { return }
        drainDeadline = now.monotonic + settings.drainTimeoutMilliseconds
        out.log(.info, "coordinator draining: waiting for \(scheduler.leasedCount) leased job(s)")
    }

    private mutating func sayGoodbye(reason: String) {
        for worker in scheduler.registeredWorkers { send(to: worker, .disconnect(DisconnectMessage.with { $0.reason = reason })) }
        out.append(.flushStore)
    }

    private mutating func exit() {
        hasExited = true
        out.append(.exit)
    }

    // MARK: Helpers

    /// Ends a worker's registration now: its route and key are forgotten and its leases
    /// requeued (or failed, past their attempts).
    private mutating func drop(_ worker: WorkerID) {
        forget(worker)
        carryOut(scheduler.disconnect(worker))
    }

    private mutating func forget(_ worker: WorkerID) {
        if let routing = routes.removeValue(forKey: worker) { peers[routing] = nil }
        lastSentTo[worker] = nil
        owners[worker] = nil
    }

    private mutating func send(to worker: WorkerID, _ body: Envelope.OneOf_Body) {
        guard let routing = routes[worker] else { return }
        out.append(.send(to: routing, body))
        lastSentTo[worker] = now.monotonic
    }

    private mutating func reply(_ routing: Data, _ code: WireErrorCode, _ message: String, job: UInt64 = 0) {
        var error = ErrorMessage()
        error.code = code
        error.message = message
        error.jobID = job
        out.append(.send(to: routing, .error(error)))
    }

    private mutating func record(_ kind: EventKind, run: String? = nil, job: JobID? = nil, worker: String? = nil, detail: String = "") {
        out.store(.event(EventRecord(at: now.wall, run: run, kind: kind, job: job, worker: worker, detail: detail)))
    }

    /// For progress displays and benchmarks.
    public var progress: CoordinatorProgress {
        var snapshot = CoordinatorProgress(
            runs: scheduler.progress, workers: scheduler.workerCount, queued: scheduler.queuedCount,
            leased: scheduler.leasedCount, resultsApplied: resultsApplied, resultsDurable: resultsDurable,
            heartbeatsReceived: heartbeatsReceived)
        snapshot.stages = drivers.compactMapValues(\.stage)
        for worker in scheduler.registeredWorkers { snapshot.slots[worker] = scheduler.slots(of: worker) }
        snapshot.budget = budget
        snapshot.lastProblem = lastProblem
        snapshot.uptimeMilliseconds = max(0, now.monotonic - started)
        return snapshot
    }

    private func status() -> StatusReplyMessage {
        // A copy, so that a STATUS between ticks leaves the rate window alone.
        var tracker = tracker
        let summary = tracker.summary(progress, at: Double(now.monotonic - .zero) / 1000)
        var reply = StatusReplyMessage()
        reply.resultsPerSecond = summary.jobsPerSecond
        reply.calls = UInt64(summary.calls)
        reply.tokens = UInt64(summary.tokens)
        reply.usd = summary.usd
        if let max = summary.maxTokens { reply.maxTokens = UInt64(max) }
        if let max = summary.maxUSD { reply.maxUsd = max }
        if let max = summary.maxCalls { reply.maxCalls = UInt64(max) }
        reply.coordinatorSession = session
        reply.uptimeMs = UInt64(max(0, now.monotonic - started))
        reply.queued = UInt64(scheduler.queuedCount)
        reply.leased = UInt64(scheduler.leasedCount)
        reply.resultsApplied = resultsApplied
        reply.resultsDurable = resultsDurable
        reply.workers = scheduler.registeredWorkers.map { id in
            var status = Coevo_Wire_V1_WorkerStatus()
            status.workerID = id.rawValue
            let slots = scheduler.slots(of: id)
            status.slots = UInt32(slots?.total ?? 0)
            status.leased = UInt32(slots?.leased ?? 0)
            return status
        }
        reply.runs = summary.runs.map { run in
            var status = Coevo_Wire_V1_RunStatus()
            status.runID = run.id
            status.total = UInt64(run.expected)
            status.jobs = UInt64(run.jobs)
            status.completed = UInt64(run.completed)
            status.failed = UInt64(run.failed)
            status.fraction = run.fraction
            if let left = run.secondsLeft { status.secondsLeft = left }
            if let problem = run.lastProblem { status.lastProblem = problem }
            if let stage = run.stage {
                status.stage = .with {
                    $0.unit = stage.unit
                    $0.current = UInt32(stage.current)
                    $0.total = UInt32(stage.total)
                    $0.phase = stage.phase
                    $0.finished = UInt32(stage.finished)
                }
            }
            return status
        }
        return reply
    }

    /// Routing ids are usually "worker/session" text; show them as text when they are.
    /// A routing id for a log line. A worker's is `<id>/<session>`, and its session is
    /// what READY would need to take its place: only the id is ever shown.
    static func printable(_ routing: Data) -> String {
        if let text = String(data: routing, encoding: .utf8), text.allSatisfy({ !$0.isASCII || ($0.isLetter || $0.isNumber || "-_./:".contains($0)) }) {
            return text.split(separator: "/", maxSplits: 1, omittingEmptySubsequences: false).count == 2
                ? String(text.prefix { $0 != "/" }) + "/(session withheld)" : text
        }
        return "0x" + routing.prefix(8).map { String(format: "%02x", $0) }.joined() + (routing.count > 8 ? "..." : "")
    }
}
