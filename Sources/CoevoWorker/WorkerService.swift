import CZeroMQ
import CoevoBackends
import CoevoCore
import CoevoWire
import Foundation
import Logging
import ServiceLifecycle

/// A worker process's service: a DEALER socket to the coordinator, the `CoordinatorLink`
/// state machine for registration, heartbeats and reconnects, and the executors that run
/// leased jobs. It keeps no agent state between jobs, so losing it loses only time.
///
/// Everything happens on one task that consumes `Input`s in order; job tasks report back
/// through the same stream, so no state is shared between threads.
public final class WorkerService: Service, Sendable {
    enum Input: Sendable {
        case loop(SocketLoop.Event)
        case finished(JobID, attempt: UInt32, JobOutcome)
        case flushResults
        case shutdown
    }

    public let settings: WorkerSettings
    let executors: ExecutorRegistry
    let logger: Logger

    public init(settings: WorkerSettings, executors: ExecutorRegistry? = nil, logger: Logger) {
        self.settings = settings
        self.executors = executors ?? .standard(workspaceRoot: URL(fileURLWithPath: settings.workspaceRoot))
        self.logger = logger
    }

    public func run() async throws {
        let (inputs, sink) = AsyncStream.makeStream(of: Input.self, bufferingPolicy: .unbounded)
        let session = String(UInt64.random(in: .min ... .max), radix: 16)
        let loop = makeLoop(routingID: "\(settings.id.rawValue)/\(session)")
        try loop.start()
        let forward = Task {
            for await event in loop.events { sink.yield(.loop(event)) }
        }
        var state = WorkerLoopState(service: self, loop: loop, sink: sink, session: session)
        await withGracefulShutdownHandler {
            await state.run(inputs)
        } onGracefulShutdown: {
            sink.yield(.shutdown)
        }
        loop.stop()
        forward.cancel()
    }

    private func makeLoop(routingID: String) -> SocketLoop {
        let endpoint = settings.coordinator
        let maxBytes = settings.maxMessageBytes
        return SocketLoop(name: "coevo-worker-zmq") {
            let socket = try ZMQSocket(type: ZMQ_DEALER)
            try socket.set(ZMQ_ROUTING_ID, bytes: Array(routingID.utf8))
            try socket.set(ZMQ_LINGER, Int32(1000))
            try socket.set(ZMQ_MAXMSGSIZE, maxBytes)
            try socket.set(ZMQ_SNDHWM, Int32(100_000))
            try socket.set(ZMQ_RCVHWM, Int32(100_000))
            try socket.connect(endpoint)
            return socket
        }
    }
}

/// The worker's mutable state, owned by the one task that runs `run(_:)`.
struct WorkerLoopState {
    let service: WorkerService
    let loop: SocketLoop
    let sink: AsyncStream<WorkerService.Input>.Continuation
    let session: String
    var link: CoordinatorLink
    var settings: WorkerSettings { service.settings }
    var logger: Logger { service.logger }

    /// Running jobs, by id: the attempt the result will answer, and the attempt the task
    /// was started for (which tells a cancelled task's late finish from the current one's).
    var running: [JobID: (attempt: UInt32, started: UInt32, task: Task<Void, Never>)] = [:]
    var pendingResults: [ResultMessage] = []
    var flushScheduled = false
    /// The socket made at start is already connected; later connects reopen it.
    var socketIsFresh = true
    var armedDeadline: MonotonicTime?
    var coordinatorSession = ""
    var drainDeadline: MonotonicTime?

    init(service: WorkerService, loop: SocketLoop, sink: AsyncStream<WorkerService.Input>.Continuation, session: String) {
        self.service = service
        self.loop = loop
        self.sink = sink
        self.session = session
        self.link = CoordinatorLink(
            heartbeatIntervalMilliseconds: service.settings.heartbeatIntervalMilliseconds,
            liveness: service.settings.liveness, backoff: service.settings.backoff, now: .now())
    }

    mutating func run(_ inputs: AsyncStream<WorkerService.Input>) async {
        logger.info("worker \(settings.id) starting: coordinator \(settings.coordinator), \(settings.slots) slots, kinds \(service.executors.kinds.joined(separator: ","))")
        perform(link.tick(now: .now()))
        rearm(force: true)
        for await input in inputs {
            let now = MonotonicTime.now()
            switch input {
            case .loop(.messages(let batch)):
                for frames in batch { handle(frames, now: now) }
            case .loop(.tick(let at)):
                armedDeadline = nil
                perform(link.tick(now: at))
                if let parent = settings.parentPID, getppid() != parent {
                    logger.warning("parent process \(parent) is gone; stopping")
                    beginDrain(now: at)
                }
                if let deadline = drainDeadline, at >= deadline {
                    logger.warning("drain timeout: giving back \(running.count) unfinished job(s)")
                    for entry in running.values { entry.task.cancel() }
                    running.removeAll()
                }
            case .loop(.transport(let line)), .loop(.socketError(let line)):
                logger.warning("\(line)")
            case .loop(.unroutable):
                break
            case .finished(let job, let started, let outcome):
                guard let entry = running[job], entry.started == started else { break }  // cancelled meanwhile
                running[job] = nil
                addResult(job, entry.attempt, outcome)
            case .flushResults:
                flushScheduled = false
                sendResults(now: now)
            case .shutdown:
                beginDrain(now: now)
            }
            if drainDeadline != nil && running.isEmpty {
                sendResults(now: now)
                send(.disconnect(DisconnectMessage.with { $0.reason = "worker shutting down" }), now: now)
                logger.info("worker \(settings.id) drained and disconnected")
                return
            }
            rearm(force: false)
        }
    }

    // MARK: Messages from the coordinator

    private mutating func handle(_ frames: [Data], now: MonotonicTime) {
        guard frames.count == 1 else {
            logger.warning("ignoring a \(frames.count)-frame message from the coordinator (expected 1 frame)")
            return
        }
        let body: Envelope.OneOf_Body
        do {
            body = try WireCodec.decode(frames[0])
        } catch {
            logger.warning("ignoring message from coordinator: \(error)")
            return
        }
        var isWelcome = false
        if case .welcome = body { isWelcome = true }
        link.received(now: now, isWelcome: isWelcome)
        switch body {
        case .welcome(let welcome):
            if welcome.coordinatorSession != coordinatorSession {
                logger.info("registered with coordinator \(welcome.coordinatorSession) at \(settings.coordinator)")
                coordinatorSession = welcome.coordinatorSession
            }
        case .heartbeat:
            break
        case .jobs(let batch):
            for lease in batch.leases { start(lease, now: now) }
        case .cancel(let cancel):
            for id in cancel.jobIds {
                if let entry = running.removeValue(forKey: id) { entry.task.cancel() }
            }
            logger.info("coordinator cancelled \(cancel.jobIds.count) job(s): \(cancel.reason)")
        case .disconnect(let goodbye):
            logger.info("coordinator disconnected: \(goodbye.reason)")
            perform(link.lost(now: now))
        case .error(let error):
            handleError(error, now: now)
        default:
            logger.warning("ignoring unexpected message from coordinator: \(body)")
        }
    }

    private mutating func handleError(_ error: ErrorMessage, now: MonotonicTime) {
        switch error.code {
        case .unknownWorker:
            // The coordinator restarted or expired us: register again at once.
            logger.info("coordinator does not know this worker (\(error.message)); registering again")
            perform(link.forgotten(now: now))
        case .duplicateWorker:
            logger.error("coordinator refused registration: \(error.message)")
            perform(link.lost(now: now))
        default:
            logger.warning("coordinator reported \(error.code): \(error.message)")
        }
    }

    // MARK: Jobs

    private mutating func start(_ lease: LeaseMessage, now: MonotonicTime) {
        if let entry = running[lease.jobID] {
            // A restarted coordinator leased again a job this worker is still running for
            // the coordinator before it: the running attempt answers the new lease, instead
            // of its result being discarded as stale and the new lease never run.
            if lease.attempt > entry.attempt {
                running[lease.jobID]!.attempt = lease.attempt
                logger.info("job \(lease.jobID) is already running here (attempt \(entry.started)); its result answers attempt \(lease.attempt)")
            }
            return
        }
        guard let executor = service.executors.executor(for: lease.kind) else {
            addResult(lease.jobID, lease.attempt, JobOutcome(
                status: .unsupported,
                error: "worker \(settings.id) has no executor for kind '\(lease.kind)' (it has: \(service.executors.kinds.joined(separator: ", ")))"))
            return
        }
        if let outcome = executor.runImmediately(payload: lease.payload) {
            addResult(lease.jobID, lease.attempt, outcome)
            return
        }
        let sink = self.sink
        let (id, attempt, payload) = (lease.jobID, lease.attempt, lease.payload)
        let timeout = Int64(clamping: lease.timeoutMs)
        let task = Task {
            let clock = ContinuousClock()
            let started = clock.now
            let outcome = await withTaskGroup(of: JobOutcome?.self) { group in
                group.addTask { await executor.run(payload: payload) }
                group.addTask {
                    try? await Task.sleep(for: .milliseconds(timeout))
                    return nil
                }
                let first = await group.next() ?? nil
                group.cancelAll()
                return first ?? JobOutcome(status: .timedOut, error: "job exceeded its timeout of \(timeout) ms")
            }
            var timed = outcome
            let elapsed = clock.now - started
            timed.durationMicroseconds = UInt64(max(0, elapsed.components.seconds * 1_000_000 + elapsed.components.attoseconds / 1_000_000_000_000))
            sink.yield(.finished(id, attempt: attempt, timed))
        }
        running[id] = (attempt, attempt, task)
    }

    private mutating func addResult(_ job: JobID, _ attempt: UInt32, _ outcome: JobOutcome) {
        pendingResults.append(ResultMessage(job: job, attempt: attempt, outcome: outcome))
        // Results that finish close together share one message: the flush request queues
        // behind the completions already waiting in the stream.
        if !flushScheduled {
            flushScheduled = true
            sink.yield(.flushResults)
        }
    }

    private mutating func sendResults(now: MonotonicTime) {
        guard !pendingResults.isEmpty else { return }
        var start = 0
        while start < pendingResults.count {
            let end = min(pendingResults.count, start + 4096)
            var batch = ResultBatchMessage()
            batch.results = Array(pendingResults[start..<end])
            send(.results(batch), now: now)
            start = end
        }
        pendingResults.removeAll(keepingCapacity: true)
    }

    // MARK: Link actions

    private mutating func perform(_ actions: [CoordinatorLink.Action]) {
        let now = MonotonicTime.now()
        for action in actions {
            switch action {
            case .connectAndRegister:
                if socketIsFresh {
                    socketIsFresh = false
                } else {
                    logger.info("reconnecting to \(settings.coordinator)")
                    loop.reopen()
                }
                sendReady(now: now)
            case .register:
                sendReady(now: now)
            case .sendHeartbeat:
                send(.heartbeat(HeartbeatMessage.with { $0.activeJobs = UInt32(running.count) }), now: now)
            case .disconnect(let silent, let retry):
                if silent >= settings.heartbeatIntervalMilliseconds {
                    logger.warning("coordinator silent for \(silent) ms; reconnecting in \(retry) ms")
                } else {
                    logger.info("coordinator gone; reconnecting in \(retry) ms")
                }
            }
        }
    }

    private mutating func sendReady(now: MonotonicTime) {
        var ready = ReadyMessage()
        ready.workerID = settings.id.rawValue
        ready.session = session
        ready.slots = drainDeadline == nil ? UInt32(settings.slots) : 0
        ready.capabilities = service.executors.kinds
        ready.heartbeatIntervalMs = UInt32(settings.heartbeatIntervalMilliseconds)
        ready.hostname = ProcessInfo.processInfo.hostName
        ready.pid = UInt32(getpid())
        send(.ready(ready), now: now)
    }

    private mutating func send(_ body: Envelope.OneOf_Body, now: MonotonicTime) {
        loop.send([WireCodec.encode(body)])
        link.sent(now: now)
    }

    /// Stops taking jobs (READY with zero slots), lets running ones finish up to the drain
    /// timeout, then says DISCONNECT.
    private mutating func beginDrain(now: MonotonicTime) {
        guard drainDeadline == nil else { return }
        drainDeadline = now + settings.drainTimeoutMilliseconds
        logger.info("worker \(settings.id) draining: \(running.count) job(s) running")
        if link.state == .connected { sendReady(now: now) }
    }

    /// Asks the loop for a tick at the link's next deadline. An earlier tick is harmless
    /// (the link does nothing and we re-arm), so only an earlier deadline needs a wakeup.
    private mutating func rearm(force: Bool) {
        let next = min(link.nextDeadline, MonotonicTime.now() + 250)
        if force || armedDeadline == nil || next < armedDeadline! {
            armedDeadline = next
            loop.wake(at: next)
        }
    }
}
