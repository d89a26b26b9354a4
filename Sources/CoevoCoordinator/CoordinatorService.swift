import CZeroMQ
import CoevoCore
import CoevoStore
import CoevoWire
import Foundation
import Logging
import ServiceLifecycle
import Synchronization

/// The coordinator process's service: a ROUTER socket, the `Scheduler` state machine, and
/// the store. On start it loads every unfinished run from the store (a fresh run and a
/// resumed one take the same path), then serves workers until shutdown or, with
/// `exitWhenDone`, until every run is finished and durable.
public final class CoordinatorService: Service, Sendable {
    public let settings: CoordinatorSettings
    let store: CoevoStore
    let logger: Logger
    let observer: CoordinatorObserver
    /// Random per process; workers see it change when the coordinator restarts.
    public let session = String(UInt64.random(in: .min ... .max), radix: 16)
    private let loop: SocketLoop
    private let boundEndpoint: BoundEndpoint

    /// The endpoint actually bound, after `bind()` (resolves a `tcp://host:*` port).
    public var endpoint: String { boundEndpoint.value.withLock { $0 } }

    public init(settings: CoordinatorSettings, store: CoevoStore, logger: Logger,
                observer: CoordinatorObserver = CoordinatorObserver()) {
        self.settings = settings
        self.store = store
        self.logger = logger
        self.observer = observer
        let bind = settings.bind
        let maxBytes = settings.maxMessageBytes
        let boundEndpoint = BoundEndpoint()
        self.boundEndpoint = boundEndpoint
        loop = SocketLoop(name: "coevo-coordinator-zmq", monitorTransport: true) {
            let socket = try ZMQSocket(type: ZMQ_ROUTER)
            try socket.set(ZMQ_ROUTER_MANDATORY, Int32(1))
            try socket.set(ZMQ_ROUTER_HANDOVER, Int32(1))
            try socket.set(ZMQ_MAXMSGSIZE, maxBytes)
            try socket.set(ZMQ_LINGER, Int32(1000))
            try socket.set(ZMQ_SNDHWM, Int32(100_000))
            try socket.set(ZMQ_RCVHWM, Int32(100_000))
            try socket.bind(bind)
            boundEndpoint.value.withLock { $0 = socket.lastEndpoint() }
            return socket
        }
    }

    /// Binds the socket. Separate from `run()` so a bad address fails before anything else
    /// starts (and so `coevo run` knows workers can connect).
    public func bind() throws {
        try loop.start()
    }

    public func run() async throws {
        var engine = try CoordinatorEngine(service: self, loop: loop)
        let (inputs, sink) = AsyncStream.makeStream(of: CoordinatorEngine.Input.self, bufferingPolicy: .unbounded)
        let forward = Task {
            for await event in loop.events { sink.yield(.loop(event)) }
            sink.finish()
        }
        await withGracefulShutdownHandler {
            await engine.run(inputs)
        } onGracefulShutdown: {
            sink.yield(.shutdown)
        }
        loop.stop()
        forward.cancel()
        store.writer.flush()
    }
}

/// Written by the socket thread when it binds, read by anyone after `bind()`.
final class BoundEndpoint: Sendable {
    let value = Mutex("")
}

/// The coordinator's mutable state, owned by the one task that runs `run(_:)`: it feeds
/// socket events to the scheduler and carries out its decisions (send, store, log).
struct CoordinatorEngine {
    enum Input: Sendable {
        case loop(SocketLoop.Event)
        case shutdown
    }

    let service: CoordinatorService
    let loop: SocketLoop
    var scheduler: Scheduler
    var settings: CoordinatorSettings { service.settings }
    var logger: Logger { service.logger }
    var store: CoevoStore { service.store }

    /// Routing id -> worker, and back: a worker's routing id changes when it restarts.
    var peers: [Data: WorkerID] = [:]
    var routes: [WorkerID: Data] = [:]
    var lastSentTo: [WorkerID: MonotonicTime] = [:]
    var activeRuns: Set<RunID> = []
    /// Runs whose jobs are made as results arrive (protocols).
    var drivers: [RunID: any RunDriver] = [:]
    /// The id the next job made by a driver gets.
    var nextJobID: JobID = 1
    var resultsApplied: UInt64 = 0
    var lateResults = 0
    let started = MonotonicTime.now()
    var lastProgress = MonotonicTime.now()
    var drainDeadline: MonotonicTime?
    /// Model spending of the runs served, charged from llm.chat results.
    var budget = Budget()
    var budgetStop: String?
    /// No dispatch before this time: a worker deferred a job because its endpoint is down.
    var pausedUntil: MonotonicTime?

    init(service: CoordinatorService, loop: SocketLoop) throws {
        self.service = service
        self.loop = loop
        scheduler = Scheduler(settings: service.settings.scheduler)
        try loadUnfinishedRuns()
        let logger = service.logger
        service.store.writer.onError { logger.error("\($0)") }
    }

    private mutating func loadUnfinishedRuns() throws {
        nextJobID = try store.nextJobID()
        for run in try store.unfinishedRuns() {
            let id = RunID(run.id)
            let config: ExperimentConfig?
            do {
                config = try ConfigLoader.parse(run.config)
            } catch {
                // E.g. a red-blue intents_file that is not where this coordinator runs.
                logger.error("run \(run.id): its stored config does not load here (\(error)); only its stored jobs are served. Start the coordinator where the config's files are to resume its experiment")
                config = nil
            }
            if run.state != .running {
                store.writer.enqueue(.runState(run.id, .running, at: Date().timeIntervalSince1970))
            }
            let limits = config?.budget.budget ?? Budget()
            let driven = config?.isProtocolRun == true
            // Stored jobs are read once, for whichever of the two needs them.
            let storedJobs = (limits != Budget() || driven) ? try store.storedJobs(ofRun: run.id) : []
            if limits != Budget() {
                // What earlier lives of the run spent counts against the same budget.
                budget = limits
                for entry in storedJobs where entry.job.kind == JobKind.llm.rawValue {
                    if let outcome = entry.outcome, outcome.status == .succeeded,
                       let output = try? JSONDecoder().decode(LLMJobOutput.self, from: outcome.output) {
                        charge(output)
                    }
                }
            }
            if let config, driven {
                var (driver, description) = try makeDriver(config, run: id, storedJobs: storedJobs)
                activeRuns.insert(id)
                for entry in storedJobs {
                    if entry.outcome != nil { scheduler.recordFinished(entry.job.id, run: id, failed: false) }
                    else if entry.failed { scheduler.recordFinished(entry.job.id, run: id, failed: true) }
                }
                let (new, resubmitted) = driver.start(ids: &nextJobID)
                for (job, attempts) in resubmitted { scheduler.submit(job, attemptsSoFar: attempts) }
                submit(new)
                drivers[id] = driver
                drainDriver(id)
                let resumed = storedJobs.isEmpty ? "" : "; resumed by replaying \(storedJobs.count) stored jobs, \(resubmitted.count + new.count) to go"
                logger.info("serving \(description)\(resumed)")
                continue
            }
            let jobs = try store.jobs(ofRun: run.id)
            for done in jobs.done { scheduler.recordFinished(done, run: id, failed: false) }
            for failed in jobs.failed { scheduler.recordFinished(failed, run: id, failed: true) }
            for (job, attempts) in jobs.unfinished { scheduler.submit(job, attemptsSoFar: attempts) }
            activeRuns.insert(id)
            logger.info("serving run \(run.id): \(jobs.done.count + jobs.failed.count) finished, \(jobs.unfinished.count) to go")
        }
    }

    mutating func run(_ inputs: AsyncStream<Input>) async {
        logger.info("coordinator \(service.session) listening on \(settings.bind)")
        loop.wake(at: .now() + settings.tickMilliseconds)
        if finishRunsIfDone(), settings.exitWhenDone { return }
        for await input in inputs {
            let now = MonotonicTime.now()
            switch input {
            case .loop(.messages(let batch)):
                for frames in batch { handle(frames, now: now) }
                dispatch(now: now)
            case .loop(.tick(let at)):
                tick(now: at)
                loop.wake(at: at + settings.tickMilliseconds)
            case .loop(.unroutable(let routing)):
                logger.debug("message to a departed peer dropped (\(Self.printable(routing)))")
            case .loop(.transport(let line)):
                logger.notice("\(line)")
            case .loop(.socketError(let line)):
                logger.warning("\(line)")
            case .shutdown:
                beginDrain(now: now)
            }
            let allDone = finishRunsIfDone()
            if allDone && settings.exitWhenDone && drainDeadline == nil {
                logger.info("every run is finished; exiting")
                sayGoodbye(reason: "coordinator finished its runs")
                return
            }
            if budgetStop != nil && scheduler.leasedCount == 0 && drainDeadline == nil {
                logger.info("budget spent and every running job back: stopping (run the same command with a larger budget to go on)")
                drainDeadline = now
            }
            if let deadline = drainDeadline, scheduler.leasedCount == 0 || now >= deadline {
                if scheduler.leasedCount > 0 {
                    logger.warning("drain timeout: \(scheduler.leasedCount) leased job(s) stay queued for the next start")
                }
                sayGoodbye(reason: "coordinator shutting down")
                for run in activeRuns {
                    store.writer.enqueue(.runState(run.rawValue, .interrupted, at: Date().timeIntervalSince1970))
                }
                return
            }
        }
    }

    // MARK: Incoming messages

    private mutating func handle(_ frames: [Data], now: MonotonicTime) {
        let routing = frames[0]
        guard frames.count == 2 else {
            logger.warning("peer \(Self.printable(routing)) sent \(frames.count - 1) frames; expected exactly 1 envelope frame")
            reply(routing, WireCodec.error(.malformed, "expected exactly one frame holding an Envelope, got \(frames.count - 1)"))
            return
        }
        let body: Envelope.OneOf_Body
        do {
            body = try WireCodec.decode(frames[1])
        } catch {
            logger.warning("peer \(Self.printable(routing)): \(error)")
            reply(routing, WireCodec.error(error.code, error.description))
            return
        }
        if case .ready(let ready) = body {
            register(ready, routing: routing, now: now)
            return
        }
        if case .statusRequest = body {
            reply(routing, WireCodec.encode(.statusReply(status(now: now))))
            return
        }
        guard let worker = peers[routing], scheduler.heard(from: worker, now: now) else {
            logger.info("message from unregistered peer \(Self.printable(routing)); asking it to send READY")
            reply(routing, WireCodec.error(.unknownWorker, "this coordinator does not know you: send READY first"))
            return
        }
        switch body {
        case .heartbeat:
            break
        case .results(let batch):
            for result in batch.results { apply(result, from: worker, routing: routing) }
        case .disconnect(let goodbye):
            logger.info("worker \(worker) disconnected: \(goodbye.reason)")
            forget(worker)
            handle(scheduler.disconnect(worker), now: now)
            record("worker_left", worker: worker.rawValue, detail: goodbye.reason)
        default:
            logger.warning("worker \(worker) sent a message a coordinator never accepts")
            reply(routing, WireCodec.error(.unexpectedMessage, "a coordinator accepts READY, HEARTBEAT, RESULTS, DISCONNECT and STATUS_REQUEST only"))
        }
    }

    private mutating func register(_ ready: ReadyMessage, routing: Data, now: MonotonicTime) {
        guard !ready.workerID.isEmpty, ready.workerID.utf8.count <= 255, !ready.session.isEmpty else {
            logger.warning("peer \(Self.printable(routing)) sent an unusable READY (worker_id and session must be non-empty, id at most 255 bytes)")
            reply(routing, WireCodec.error(.invalidReady, "READY needs a non-empty worker_id (at most 255 bytes) and a non-empty session"))
            return
        }
        let worker = WorkerID(ready.workerID)
        let previousSession = scheduler.session(of: worker)
        switch scheduler.register(worker, session: ready.session, slots: Int(ready.slots), now: now) {
        case .duplicate:
            logger.warning("refused READY from \(Self.printable(routing)): worker id '\(worker)' is in use by a live worker")
            reply(routing, WireCodec.error(.duplicateWorker, "worker id '\(worker)' is already used by a live worker (session \(previousSession ?? "?")); give this worker another --id"))
            record("worker_refused", worker: worker.rawValue, detail: "duplicate id")
            return
        case .accepted:
            logger.info("worker \(worker) joined: \(ready.slots) slots, host \(ready.hostname), pid \(ready.pid), kinds \(ready.capabilities.joined(separator: ","))")
            record("worker_joined", worker: worker.rawValue, detail: "slots=\(ready.slots) host=\(ready.hostname) pid=\(ready.pid)")
            if scheduler.workersAwaited > 0 {
                logger.info("waiting for \(scheduler.workersAwaited) more worker(s) before leasing jobs (coordinator.min_workers)")
            }
        case .resumed:
            logger.debug("worker \(worker) registered again (slots \(ready.slots))")
        case .replaced(let events):
            logger.info("worker \(worker) restarted (new session); its previous process's jobs are requeued")
            if let old = routes[worker] { peers[old] = nil }
            handle(events, now: now)
            record("worker_joined", worker: worker.rawValue, detail: "replaced an expired process; slots=\(ready.slots)")
        }
        if let old = routes[worker], old != routing { peers[old] = nil }
        peers[routing] = worker
        routes[worker] = routing
        var welcome = WelcomeMessage()
        welcome.coordinatorSession = service.session
        welcome.heartbeatIntervalMs = UInt32(settings.heartbeatIntervalMilliseconds)
        welcome.liveness = UInt32(settings.liveness)
        send(to: worker, WireCodec.encode(.welcome(welcome)), now: now)
    }

    private mutating func apply(_ result: ResultMessage, from worker: WorkerID, routing: Data) {
        if result.status == .deferred {
            guard let lease = scheduler.deferJob(result.jobID, attempt: result.attempt, from: worker) else {
                logger.notice("discarded a late DEFERRED for job \(result.jobID) from \(worker)")
                return
            }
            let now = MonotonicTime.now()
            let wait = result.retryAfterMs > 0 ? Int64(clamping: result.retryAfterMs) : settings.deferPauseMilliseconds
            if pausedUntil.map({ $0 < now }) ?? true {
                logger.warning("worker \(worker) deferred job \(lease.job.id) (\(result.error)); dispatch paused for \(wait) ms, nothing is lost")
            }
            pausedUntil = max(pausedUntil ?? now, now + wait)
            record("job_deferred", run: lease.job.run.rawValue, job: lease.job.id, worker: worker.rawValue, detail: result.error)
            return
        }
        switch scheduler.complete(result.jobID, attempt: result.attempt, from: worker) {
        case .apply(let lease):
            resultsApplied += 1
            service.observer.resultApplied(lease.job.id)
            let outcome = result.outcome
            store.writer.enqueue(.result(ResultRecord(
                job: lease.job.id, run: lease.job.run, attempt: lease.attempt, worker: worker,
                outcome: outcome, completedAt: Date().timeIntervalSince1970)))
            if lease.job.kind == JobKind.llm.rawValue, outcome.status == .succeeded,
               let output = try? JSONDecoder().decode(LLMJobOutput.self, from: outcome.output) {
                charge(output)
            }
            if drivers[lease.job.run] != nil {
                let jobs = drivers[lease.job.run]!.completed(lease, outcome: outcome, ids: &nextJobID)
                submit(jobs)
                drainDriver(lease.job.run)
            }
        case .unknownJob:
            logger.warning("worker \(worker) sent a result for unknown job \(result.jobID)")
            reply(routing, WireCodec.error(.unknownJob, "no job \(result.jobID) was ever submitted", job: result.jobID))
        case .alreadyFinished, .staleLease:
            lateResults += 1
            logger.notice("discarded late result for job \(result.jobID) attempt \(result.attempt) from \(worker): its lease had expired")
            record("result_discarded", job: result.jobID, worker: worker.rawValue,
                   detail: "attempt \(result.attempt): lease expired or job already finished")
        }
    }

    // MARK: Timers and scheduling

    private mutating func tick(now: MonotonicTime) {
        handle(scheduler.expire(now: now), now: now)
        for worker in scheduler.registeredWorkers
        where now - (lastSentTo[worker] ?? .zero) >= settings.heartbeatIntervalMilliseconds {
            send(to: worker, WireCodec.encode(.heartbeat(HeartbeatMessage())), now: now)
        }
        dispatch(now: now)
        if now - lastProgress >= 1000 {
            lastProgress = now
            service.observer.progress(progress())
        }
    }

    /// Adds a model call's usage to the budget; the first limit reached stops dispatch.
    private mutating func charge(_ output: LLMJobOutput) {
        budget.chargeCost(TokenUsage(promptTokens: output.promptTokens, completionTokens: output.completionTokens), usd: output.costUSD)
        if budgetStop == nil, let why = budget.exhausted {
            budgetStop = why
            logger.warning("\(why): no new jobs are dispatched; running ones finish and are kept")
            record("budget_exhausted", detail: why)
        }
    }

    private mutating func dispatch(now: MonotonicTime) {
        guard drainDeadline == nil, budgetStop == nil else { return }
        if let until = pausedUntil {
            guard now >= until else { return }
            pausedUntil = nil
            logger.info("dispatch resumes after a deferral pause")
        }
        let at = Date().timeIntervalSince1970
        for (worker, leases) in scheduler.dispatch(now: now) {
            var start = 0
            var mutations: [StoreMutation] = []
            mutations.reserveCapacity(leases.count)
            while start < leases.count {
                let end = min(leases.count, start + settings.leasesPerMessage)
                var batch = JobBatchMessage()
                batch.leases = leases[start..<end].map(LeaseMessage.init)
                send(to: worker, WireCodec.encode(.jobs(batch)), now: now)
                start = end
            }
            for lease in leases {
                mutations.append(.leased(lease.job.id, worker: worker, attempt: lease.attempt, at: at))
            }
            store.writer.enqueue(contentsOf: mutations)
        }
    }

    /// Carries out scheduler decisions: logs, store writes, cancels, observer calls.
    private mutating func handle(_ events: [SchedulerEvent], now: MonotonicTime) {
        var requeuedByWorker: [WorkerID: Int] = [:]
        for event in events {
            service.observer.schedulerEvent(event, now)
            switch event {
            case .workerExpired(let worker, let silence):
                logger.warning("worker \(worker) silent for \(silence) ms: expired")
                forget(worker)
                record("worker_expired", worker: worker.rawValue, detail: "silent for \(silence) ms")
            case .workerLeft:
                break
            case .workerReplaced(let worker):
                record("worker_replaced", worker: worker.rawValue)
            case .leaseLost(let job, let worker, let attempt, let reason):
                requeuedByWorker[worker, default: 0] += 1
                record("lease_lost", job: job, worker: worker.rawValue, detail: "attempt \(attempt): \(reason.rawValue)")
                if reason == .deadline, routes[worker] != nil {
                    var cancel = CancelMessage()
                    cancel.jobIds = [job]
                    cancel.reason = "lease deadline passed"
                    send(to: worker, WireCodec.encode(.cancel(cancel)), now: now)
                }
            case .jobRequeued(let job, _, let nextAttempt):
                store.writer.enqueue(.requeued(job, attempts: nextAttempt - 1))
            case .jobFailed(let job, let run, let reason):
                logger.warning("job \(job) of run \(run) failed: \(reason)")
                store.writer.enqueue(.failed(job, attempts: scheduler.settings.maxAttempts, reason: reason))
                record("job_failed", run: run.rawValue, job: job, detail: reason)
                if drivers[run] != nil {
                    submit(drivers[run]!.failed(job, reason: reason, ids: &nextJobID))
                    drainDriver(run)
                }
            }
        }
        for (worker, count) in requeuedByWorker.sorted(by: { $0.key < $1.key }) {
            logger.info("took back \(count) lease(s) from worker \(worker)")
        }
    }

    /// The driver that makes a protocol run's jobs, and a line describing the run.
    private func makeDriver(_ config: ExperimentConfig, run: RunID, storedJobs: [CoevoStore.StoredJob]) throws -> (any RunDriver, String) {
        let logged = try store.eventCounts(ofRun: run.rawValue)
        let timeout = config.coordinator.jobTimeoutMilliseconds
        if let chamber = config.chamberSettings {
            let agents = chamber.backend == .model ? config.endpoints(forRole: "agent") : []
            return (ChamberDriver(settings: chamber, run: run, timeoutMilliseconds: timeout, endpoints: agents,
                                  storedJobs: storedJobs, loggedEvents: logged),
                    "chamber run \(run) on the \(chamber.backend.rawValue): \(chamber.steps) steps of \(chamber.tasksPerStep) tasks, \(chamber.agents) agents, \(chamber.niches) niches, routing \(chamber.evolution.codream.routing.rawValue)")
        }
        let engine = config.makeProtocolEngine()!
        var pools: [String: [LLMJob.Endpoint]] = [:]
        for role in config.protocolRoles { pools[role] = config.endpoints(forRole: role) }
        let exports = URL(fileURLWithPath: store.path).deletingLastPathComponent()
            .appendingPathComponent("exports").appendingPathComponent(run.rawValue)
        let driver = ProtocolDriver(engine: engine, run: run, endpointsByRole: pools, timeoutMilliseconds: timeout,
                                    exportDirectory: exports, storedJobs: storedJobs, loggedEvents: logged)
        let kind = config.proposerSolver != nil ? "proposer/solver" : "red-blue"
        let roles = config.protocolRoles.map { "\($0) -> \(pools[$0]!.map(\.name).joined(separator: ","))" }.joined(separator: "; ")
        return (driver, "\(kind) run \(run): \(roles); exports to \(exports.path)")
    }

    /// Queues jobs made by a driver, in the scheduler and the store.
    private mutating func submit(_ jobs: [Job]) {
        guard !jobs.isEmpty else { return }
        for job in jobs { scheduler.submit(job) }
        store.writer.enqueue(contentsOf: jobs.map { .submitted($0) })
    }

    /// Moves a driver's event lines to the store and its progress to the log.
    private mutating func drainDriver(_ run: RunID) {
        let events = drivers[run]!.takeEvents()
        if !events.isEmpty { store.writer.enqueue(contentsOf: events.map { .event($0) }) }
        if let line = drivers[run]!.takeProgressLine() { logger.info("\(run) \(line)") }
    }

    /// Marks finished runs durable and finished. Returns true when no run is left.
    private mutating func finishRunsIfDone() -> Bool {
        let done = activeRuns.filter { scheduler.isFinished($0) && drivers[$0]?.isFinished != false }
        guard !done.isEmpty else { return activeRuns.isEmpty }
        let at = Date().timeIntervalSince1970
        for run in done.sorted() {
            store.writer.enqueue(.runState(run.rawValue, .finished, at: at))
            record("run_finished", run: run.rawValue, detail: "\(scheduler.progress[run] ?? RunProgress())")
        }
        // Results first reach the disk here, so a finished run is a durable run.
        store.writer.flush()
        for run in done.sorted() {
            activeRuns.remove(run)
            let progress = scheduler.progress[run] ?? RunProgress()
            logger.info("run \(run) finished: \(progress.completed) results, \(progress.failed) failed")
            service.observer.runFinished(run, progress)
        }
        return activeRuns.isEmpty
    }

    private mutating func beginDrain(now: MonotonicTime) {
        guard drainDeadline == nil else { return }
        drainDeadline = now + settings.drainTimeoutMilliseconds
        logger.info("coordinator draining: waiting for \(scheduler.leasedCount) leased job(s)")
    }

    private mutating func sayGoodbye(reason: String) {
        let goodbye = WireCodec.encode(.disconnect(DisconnectMessage.with { $0.reason = reason }))
        for worker in scheduler.registeredWorkers { send(to: worker, goodbye, now: .now()) }
        store.writer.flush()
    }

    // MARK: Helpers

    private mutating func forget(_ worker: WorkerID) {
        if let routing = routes.removeValue(forKey: worker) { peers[routing] = nil }
        lastSentTo[worker] = nil
    }

    private mutating func send(to worker: WorkerID, _ payload: Data, now: MonotonicTime) {
        guard let routing = routes[worker] else { return }
        loop.send([routing, payload])
        lastSentTo[worker] = now
    }

    private func reply(_ routing: Data, _ payload: Data) {
        loop.send([routing, payload])
    }

    private func record(_ kind: String, run: String? = nil, job: JobID? = nil, worker: String? = nil, detail: String = "") {
        store.writer.enqueue(.event(EventRecord(
            at: Date().timeIntervalSince1970, run: run, kind: kind, job: job, worker: worker, detail: detail)))
    }

    private func progress() -> CoordinatorProgress {
        CoordinatorProgress(
            runs: scheduler.progress, workers: scheduler.workerCount, queued: scheduler.queuedCount,
            leased: scheduler.leasedCount, resultsApplied: resultsApplied,
            resultsDurable: store.writer.durableResults)
    }

    private func status(now: MonotonicTime) -> StatusReplyMessage {
        var reply = StatusReplyMessage()
        reply.coordinatorSession = service.session
        reply.uptimeMs = UInt64(max(0, now - started))
        reply.queued = UInt64(scheduler.queuedCount)
        reply.leased = UInt64(scheduler.leasedCount)
        reply.resultsApplied = resultsApplied
        reply.resultsDurable = store.writer.durableResults
        reply.workers = scheduler.registeredWorkers.map { id in
            var status = Coevo_Wire_V1_WorkerStatus()
            status.workerID = id.rawValue
            let slots = scheduler.slots(of: id)
            status.slots = UInt32(slots?.total ?? 0)
            status.leased = UInt32(slots?.leased ?? 0)
            return status
        }
        reply.runs = scheduler.progress.keys.sorted().map { run in
            let p = scheduler.progress[run]!
            var status = Coevo_Wire_V1_RunStatus()
            status.runID = run.rawValue
            status.total = UInt64(p.total)
            status.completed = UInt64(p.completed)
            status.failed = UInt64(p.failed)
            return status
        }
        return reply
    }

    /// Routing ids are usually "worker/session" text; show them as text when they are.
    static func printable(_ routing: Data) -> String {
        if let text = String(data: routing, encoding: .utf8), text.allSatisfy({ !$0.isASCII || ($0.isLetter || $0.isNumber || "-_./:".contains($0)) }) {
            return text
        }
        return "0x" + routing.map { String(format: "%02x", $0) }.joined()
    }
}
