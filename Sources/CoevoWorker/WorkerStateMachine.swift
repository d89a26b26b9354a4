import CoevoCore
import CoevoWire
import Foundation
import Logging

/// A worker's decisions as a pure state machine (the coordinator's counterpart is
/// `CoordinatorStateMachine`): registration and reconnects (through `CoordinatorLink`),
/// which leases to run, re-leases of a job already running, cancels, result batching,
/// drain and exit. `handle` takes one input with the time and returns directives; the
/// shell (`WorkerService`) owns the socket and the executor tasks and carries them out.
///
/// Contract: one owner calls `handle`, from one task, `.start` first; nothing is
/// returned once `.exit` has been.
public struct WorkerStateMachine {
    public enum Input: Sendable {
        case start
        /// A message from the coordinator, decoded by the shell.
        case received(Envelope.OneOf_Body)
        /// Frames that were not a message (wrong frame count, bad envelope): logged.
        case malformed(String)
        /// The deadline of the last `.wake` passed.
        case tick
        /// Jobs finished: the attempt each task was started for, and what it produced.
        case finished([(job: JobID, started: UInt32, outcome: JobOutcome)])
        /// The `.flushSoon` asked for is due: send the results gathered so far.
        case flushResults
        /// SIGTERM, Ctrl-C, or the parent process is gone: drain.
        case shutdown(reason: String?)
        case socketProblem(String)
    }

    public enum Directive: Sendable {
        case send(Envelope.OneOf_Body)
        /// Close the socket and connect a fresh one (a reconnect).
        case reopenSocket
        /// Run these leases on their executors; report each with `.finished`.
        case run([LeaseMessage])
        /// Stop these jobs' tasks; their results are no longer wanted.
        case cancel([JobID])
        /// Deliver `.flushResults` after the completions already queued.
        case flushSoon
        case log(Logger.Level, String)
        case wake(at: MonotonicTime)
        case exit
    }

    /// What READY says about this process.
    public struct Identity: Sendable {
        public var session: String
        public var kinds: [String]
        public var hostname: String
        public var pid: UInt32

        public init(session: String, kinds: [String], hostname: String, pid: UInt32) {
            self.session = session
            self.kinds = kinds
            self.hostname = hostname
            self.pid = pid
        }
    }

    public let settings: WorkerSettings
    public let identity: Identity
    private let kinds: Set<String>
    public private(set) var link: CoordinatorLink
    /// Running jobs: the attempt the result will answer, and the attempt the task was
    /// started for (which tells a cancelled task's late finish from the current one's).
    private var running: [JobID: (attempt: UInt32, started: UInt32)] = [:]
    private var pendingResults: [ResultMessage] = []
    private var flushScheduled = false
    /// The socket made at start is already connected; later connects reopen it.
    private var socketIsFresh = true
    private var armedDeadline: MonotonicTime?
    private var coordinatorSession = ""
    public private(set) var drainDeadline: MonotonicTime?
    private var exited = false
    private var now = MonotonicTime.zero
    private var out: [Directive] = []

    public init(settings: WorkerSettings, identity: Identity, now: MonotonicTime) {
        self.settings = settings
        self.identity = identity
        kinds = Set(identity.kinds)
        link = CoordinatorLink(heartbeatIntervalMilliseconds: settings.heartbeatIntervalMilliseconds,
                               liveness: settings.liveness, backoff: settings.backoff, now: now)
    }

    public var runningCount: Int { running.count }

    public mutating func handle(_ input: Input, now time: MonotonicTime) -> [Directive] {
        guard !exited else { return [] }
        now = time
        var forceWake = false
        switch input {
        case .start:
            log(.info, "worker \(settings.id) starting: coordinator \(settings.coordinator), \(settings.slots) slots, kinds \(identity.kinds.joined(separator: ","))")
            perform(link.tick(now: now))
            forceWake = true
        case .received(let body):
            received(body)
        case .malformed(let why):
            log(.warning, "ignoring message from coordinator: \(why)")
        case .tick:
            armedDeadline = nil
            perform(link.tick(now: now))
            if let deadline = drainDeadline, now >= deadline {
                log(.warning, "drain timeout: giving back \(running.count) unfinished job(s)")
                out.append(.cancel(running.keys.sorted()))
                running.removeAll()
            }
        case .finished(let finished):
            for (job, started, outcome) in finished {
                guard let entry = running[job], entry.started == started else { continue }  // cancelled meanwhile
                running[job] = nil
                addResult(job, entry.attempt, outcome)
            }
        case .flushResults:
            flushScheduled = false
            sendResults()
        case .shutdown(let reason):
            if let reason { log(.warning, reason) }
            beginDrain()
        case .socketProblem(let line):
            log(.warning, line)
        }
        if drainDeadline != nil && running.isEmpty {
            sendResults()
            send(.disconnect(DisconnectMessage.with { $0.reason = "worker shutting down" }))
            log(.info, "worker \(settings.id) drained and disconnected")
            exited = true
            out.append(.exit)
        } else {
            rearm(force: forceWake)
        }
        defer { out = [] }
        return out
    }

    // MARK: Messages from the coordinator

    private mutating func received(_ body: Envelope.OneOf_Body) {
        var isWelcome = false
        if case .welcome = body { isWelcome = true }
        link.received(now: now, isWelcome: isWelcome)
        switch body {
        case .welcome(let welcome):
            if welcome.coordinatorSession != coordinatorSession {
                log(.info, "registered with coordinator \(welcome.coordinatorSession) at \(settings.coordinator)")
                coordinatorSession = welcome.coordinatorSession
            }
        case .heartbeat:
            break
        case .jobs(let batch):
            start(batch.leases)
        case .cancel(let cancel):
            let stopped = cancel.jobIds.filter { running.removeValue(forKey: $0) != nil }
            if !stopped.isEmpty { out.append(.cancel(stopped)) }
            log(.info, "coordinator cancelled \(cancel.jobIds.count) job(s): \(cancel.reason)")
        case .disconnect(let goodbye):
            log(.info, "coordinator disconnected: \(goodbye.reason)")
            perform(link.lost(now: now))
        case .error(let error):
            switch error.code {
            case .unknownWorker:
                // The coordinator restarted or expired us: register again at once.
                log(.info, "coordinator does not know this worker (\(error.message)); registering again")
                perform(link.forgotten(now: now))
            case .duplicateWorker:
                log(.error, "coordinator refused registration: \(error.message)")
                perform(link.lost(now: now))
            default:
                log(.warning, "coordinator reported \(error.code): \(error.message)")
            }
        default:
            log(.warning, "ignoring unexpected message from coordinator: \(body)")
        }
    }

    // MARK: Jobs

    private mutating func start(_ leases: [LeaseMessage]) {
        var runnable: [LeaseMessage] = []
        runnable.reserveCapacity(leases.count)
        for lease in leases {
            if let entry = running[lease.jobID] {
                // A restarted coordinator leased again a job this worker is still running for
                // the coordinator before it: the running attempt answers the new lease, instead
                // of its result being discarded as stale and the new lease never run.
                if lease.attempt > entry.attempt {
                    running[lease.jobID]!.attempt = lease.attempt
                    log(.info, "job \(lease.jobID) is already running here (attempt \(entry.started)); its result answers attempt \(lease.attempt)")
                }
                continue
            }
            guard kinds.contains(lease.kind) else {
                addResult(lease.jobID, lease.attempt, JobOutcome(
                    status: .unsupported,
                    error: "worker \(settings.id) has no executor for kind '\(lease.kind)' (it has: \(identity.kinds.joined(separator: ", ")))"))
                continue
            }
            running[lease.jobID] = (lease.attempt, lease.attempt)
            runnable.append(lease)
        }
        if !runnable.isEmpty { out.append(.run(runnable)) }
    }

    private mutating func addResult(_ job: JobID, _ attempt: UInt32, _ outcome: JobOutcome) {
        pendingResults.append(ResultMessage(job: job, attempt: attempt, outcome: outcome))
        // Results that finish close together share one message: the flush request queues
        // behind the completions already waiting.
        if !flushScheduled {
            flushScheduled = true
            out.append(.flushSoon)
        }
    }

    private mutating func sendResults() {
        guard !pendingResults.isEmpty else { return }
        var start = 0
        while start < pendingResults.count {
            let end = min(pendingResults.count, start + 4096)
            var batch = ResultBatchMessage()
            batch.results = Array(pendingResults[start..<end])
            send(.results(batch))
            start = end
        }
        pendingResults.removeAll(keepingCapacity: true)
    }

    // MARK: Link actions

    private mutating func perform(_ actions: [CoordinatorLink.Action]) {
        for action in actions {
            switch action {
            case .connectAndRegister:
                if socketIsFresh {
                    socketIsFresh = false
                } else {
                    log(.info, "reconnecting to \(settings.coordinator)")
                    out.append(.reopenSocket)
                }
                sendReady()
            case .register:
                sendReady()
            case .sendHeartbeat:
                send(.heartbeat(HeartbeatMessage.with { $0.activeJobs = UInt32(running.count) }))
            case .disconnect(let silent, let retry):
                if silent >= settings.heartbeatIntervalMilliseconds {
                    log(.warning, "coordinator silent for \(silent) ms; reconnecting in \(retry) ms")
                } else {
                    log(.info, "coordinator gone; reconnecting in \(retry) ms")
                }
            }
        }
    }

    private mutating func sendReady() {
        var ready = ReadyMessage()
        ready.workerID = settings.id.rawValue
        ready.session = identity.session
        ready.slots = drainDeadline == nil ? UInt32(settings.slots) : 0
        ready.capabilities = identity.kinds
        ready.heartbeatIntervalMs = UInt32(settings.heartbeatIntervalMilliseconds)
        ready.hostname = identity.hostname
        ready.pid = identity.pid
        send(.ready(ready))
    }

    private mutating func send(_ body: Envelope.OneOf_Body) {
        out.append(.send(body))
        link.sent(now: now)
    }

    /// Stops taking jobs (READY with zero slots), lets running ones finish up to the drain
    /// timeout, then says DISCONNECT.
    private mutating func beginDrain() {
        guard drainDeadline == nil else { return }
        drainDeadline = now + settings.drainTimeoutMilliseconds
        log(.info, "worker \(settings.id) draining: \(running.count) job(s) running")
        if link.state == .connected { sendReady() }
    }

    /// Asks for a tick at the link's next deadline. An earlier tick is harmless (the link
    /// does nothing and we re-arm), so only an earlier deadline needs a wakeup.
    private mutating func rearm(force: Bool) {
        let next = min(link.nextDeadline, now + 250)
        if force || armedDeadline == nil || next < armedDeadline! {
            armedDeadline = next
            out.append(.wake(at: next))
        }
    }

    private mutating func log(_ level: Logger.Level, _ message: String) {
        out.append(.log(level, message))
    }
}
