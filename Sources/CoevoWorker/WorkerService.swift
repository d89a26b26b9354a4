import CoevoBackends
import CoevoCore
import CoevoWire
import Foundation
import Logging
import ServiceLifecycle

/// A worker process's shell: a DEALER socket to the coordinator, the executors that run
/// leased jobs, and the clock around a `WorkerStateMachine`, which decides everything
/// (registration, heartbeats, reconnects, which leases run, batching, drain). It keeps no
/// agent state between jobs, so losing it loses only time.
///
/// Everything happens on the socket loop's thread, in order; job tasks report back by
/// posting to it, so no state is shared between threads.
public final class WorkerService: Service, Sendable {
    /// What reaches the shell besides the socket's own events.
    enum Posted: Sendable {
        case start
        case finished(JobID, attempt: UInt32, JobOutcome)
        case flushResults
        case shutdown
    }

    public let settings: WorkerSettings
    let executors: ExecutorRegistry
    let logger: Logger

    public init(settings: WorkerSettings, executors: ExecutorRegistry? = nil, logger: Logger) {
        self.settings = settings
        self.executors = executors ?? .standard(workspaceRoot: URL(fileURLWithPath: settings.workspaceRoot), policy: settings.policy)
        self.logger = logger
    }

    public func run() async throws {
        let session = String(UInt64.random(in: .min ... .max), radix: 16)
        let loop = makeLoop(routingID: "\(settings.id.rawValue)/\(session)")
        try loop.start()
        let identity = WorkerStateMachine.Identity(session: session, kinds: executors.kinds,
                                                   hostname: ProcessInfo.processInfo.hostName, pid: UInt32(getpid()))
        let (settings, executors, logger) = (self.settings, self.executors, self.logger)
        loop.post(.start)
        await withGracefulShutdownHandler {
            var shell = WorkerShell(machine: WorkerStateMachine(settings: settings, identity: identity, now: .now()),
                                    executors: executors, loop: loop, logger: logger)
            await loop.serve { shell.handle($0) }
        } onGracefulShutdown: {
            loop.post(.shutdown)
        }
        loop.stop()
    }

    private func makeLoop(routingID: String) -> SocketLoop<Posted> {
        let endpoint = settings.coordinator
        let options = SocketOptions(maxMessageBytes: settings.maxMessageBytes, curve: settings.curve)
        return SocketLoop(name: "coevo-worker-zmq") {
            try ZMQSocket.dealer(connectingTo: endpoint, routingID: routingID, options: options)
        }
    }
}

/// Carries out the worker state machine's directives: sends, socket reopens, executor
/// tasks and their cancels. Runs on the socket loop's thread.
struct WorkerShell {
    var machine: WorkerStateMachine
    let executors: ExecutorRegistry
    let loop: SocketLoop<WorkerService.Posted>
    let logger: Logger
    /// Executor tasks by job, with the attempt each was started for.
    private var tasks: [JobID: (started: UInt32, task: Task<Void, Never>)] = [:]
    private var parentGone = false
    private var exiting = false

    init(machine: WorkerStateMachine, executors: ExecutorRegistry, loop: SocketLoop<WorkerService.Posted>, logger: Logger) {
        self.machine = machine
        self.executors = executors
        self.loop = loop
        self.logger = logger
    }

    /// Handles one event of the socket loop (the first posted is `.start`); false once the
    /// state machine has said to exit.
    mutating func handle(_ event: SocketLoop<WorkerService.Posted>.Event) -> Bool {
        switch event {
        case .messages(let batch):
            for message in batch { feed(Self.decode(message.frames)) }
        case .tick:
            if let parent = machine.settings.parentPID, !parentGone, getppid() != parent {
                parentGone = true
                feed(.shutdown(reason: "parent process \(parent) is gone; stopping"))
            }
            feed(.tick)
        case .transport(let event):
            feed(.socketProblem(event.description))
        case .socketError(let line):
            feed(.socketProblem(line))
        case .unroutable:
            break
        case .posted(.start):
            feed(.start)
        case .posted(.finished(let job, let started, let outcome)):
            if tasks[job]?.started == started { tasks[job] = nil }
            feed(.finished([(job, started, outcome)]))
        case .posted(.flushResults):
            feed(.flushResults)
        case .posted(.shutdown):
            feed(.shutdown(reason: nil))
        }
        return !exiting
    }

    /// The one place frames from the coordinator become typed messages.
    static func decode(_ frames: [Data]) -> WorkerStateMachine.Input {
        guard frames.count == 1 else { return .malformed("a \(frames.count)-frame message (expected 1 frame)") }
        do {
            return .received(try WireCodec.decode(frames[0]))
        } catch {
            return .malformed("\(error)")
        }
    }

    private mutating func feed(_ input: WorkerStateMachine.Input) {
        guard !exiting else { return }
        for directive in machine.handle(input, now: .now()) {
            switch directive {
            case .send(let body):
                loop.send([WireCodec.encode(body)])
            case .reopenSocket:
                loop.reopen()
            case .run(let leases):
                var immediate: [(job: JobID, started: UInt32, outcome: JobOutcome)] = []
                for lease in leases {
                    guard let executor = executors.executor(for: JobKind(lease.kind)) else { continue }  // the machine checked
                    if let outcome = executor.runImmediately(payload: lease.payload) {
                        immediate.append((lease.jobID, lease.attempt, outcome))
                    } else {
                        tasks[lease.jobID] = (lease.attempt, Self.spawn(lease, on: executor, reportingTo: loop))
                    }
                }
                if !immediate.isEmpty { feed(.finished(immediate)) }
            case .cancel(let jobs):
                for job in jobs { tasks.removeValue(forKey: job)?.task.cancel() }
            case .flushSoon:
                loop.post(.flushResults)
            case .log(let level, let message):
                logger.log(level: level, "\(message)")
            case .wake(let time):
                loop.wake(at: time)
            case .exit:
                exiting = true
            }
        }
    }

    /// Runs one lease on its executor under the lease's timeout; reports to `loop`.
    private static func spawn(_ lease: LeaseMessage, on executor: any JobExecutor,
                              reportingTo loop: SocketLoop<WorkerService.Posted>) -> Task<Void, Never> {
        let (id, attempt, payload) = (lease.jobID, lease.attempt, lease.payload)
        let timeout = Int64(clamping: lease.timeoutMs)
        return Task {
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
            loop.post(.finished(id, attempt: attempt, timed))
        }
    }
}
