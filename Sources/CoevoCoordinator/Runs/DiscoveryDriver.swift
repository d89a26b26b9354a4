import CoevoCore
import CoevoStore
import Foundation

/// Runs a discovery pool over workers: each step and grade the pool asks for becomes a
/// `discovery.step` or `discovery.grade` job, each result goes back to the pool, and the
/// shared memory the pool writes (attempts, notes, skills) is stored with the result that
/// completed it. A job that fails for good, or whose output does not decode, reaches the
/// pool as a failed step (no attempt) or a crashed grade.
///
/// Resuming replays the stored results into a fresh pool, matched by key, as
/// `ProtocolDriver` does: the pool reads a round's results in agent order, so it reaches
/// the state it had, heartbeat counters included. The memory rows it says again are
/// stored with "insert or ignore" on their keys, so each is written once across lives.
struct DiscoveryDriver: RunDriver {
    private var pool: DiscoveryPool
    private let run: RunID
    private let exportDirectory: URL
    /// The request each job was made for: its key, and the agent when it is a step.
    private var pending: [JobID: (key: String, agent: String?)] = [:]
    /// The worker of each agent's last step: its next step is offered there first (the
    /// agent's CLI session and the run's cache are on it). Kept out of the pool, whose
    /// course must not depend on which worker ran what.
    private var lastWorker: [String: WorkerID] = [:]
    private var replay: StoredReplay<String>
    private var log: EventLog
    private var summaryLogged = false

    init(pool: DiscoveryPool, run: RunID, exportDirectory: URL, storedJobs: [CoevoStore.StoredJob] = [],
         loggedEvents: [EventKind: Int] = [:]) {
        self.pool = pool
        self.run = run
        self.exportDirectory = exportDirectory
        log = EventLog(run: run, alreadyLogged: loggedEvents)
        replay = StoredReplay(storedJobs) { job in Self.key(of: job) }
    }

    var isFinished: Bool { pool.isFinished && pending.isEmpty && summaryLogged }
    var stage: RunStage? { pool.stage }

    private static func key(of job: Job) -> String? {
        switch job.kind {
        case .discoveryStep: (try? JSONDecoder().decode(DiscoveryStepJob.self, from: job.payload))?.key
        case .discoveryGrade: (try? JSONDecoder().decode(DiscoveryGradeJob.self, from: job.payload))?.key
        default: nil
        }
    }

    mutating func start(ids: inout JobID, at: Double) -> DriverStep {
        let (requeued, fresh) = replay.resume(pool.start(), key: \.key) { request, answered in
            pool.complete(request.key, Self.reply(answered.result, failure: "failed in an earlier life of the run"), at: answered.completedAt)
        }
        var step = collect(at: at)
        for entry in requeued { pending[entry.job.id] = Self.pending(entry.request) }
        replay.finish()
        // The store holds these jobs without their commits and task files: they go out as
        // the pool makes them again.
        step.requeued = requeued.map { (job($0.request, id: $0.job.id), $0.attempts) }
        step.jobs = jobs(fresh, ids: &ids)
        return step
    }

    /// What a job's result says to the pool, decoded once here.
    private static func reply(_ result: AppliedResult?, failure: String) -> DiscoveryPool.Reply {
        guard let result else { return .failed(failure) }
        guard result.outcome.status == .succeeded else { return .failed("\(result.outcome.status.rawValue): \(result.outcome.error)") }
        let decoder = JSONDecoder()
        switch result.job.kind {
        case .discoveryStep:
            guard let output = try? decoder.decode(DiscoveryStepOutput.self, from: result.outcome.output) else {
                return .failed("the step's output is not a DiscoveryStepOutput (\(result.outcome.output.count) bytes)")
            }
            return .step(output)
        default:
            guard let output = try? decoder.decode(DiscoveryGradeOutput.self, from: result.outcome.output) else {
                return .failed("the grade's output is not a DiscoveryGradeOutput (\(result.outcome.output.count) bytes)")
            }
            return .grade(output)
        }
    }

    mutating func completed(_ result: AppliedResult, ids: inout JobID, at: Double) -> DriverStep {
        guard let (key, agent) = pending.removeValue(forKey: result.job.id) else { return DriverStep() }
        let reply = Self.reply(result, failure: "")
        if case .step = reply, let agent, let worker = result.worker { lastWorker[agent] = worker }
        var noted: [EventRecord] = []
        if case .failed(let why) = reply { noted.append(log.note(.callFailed, job: result.job.id, "\(key): \(why)", at: at)) }
        return advance(key, reply, noted: noted, ids: &ids, at: at)
    }

    mutating func failed(_ job: JobID, reason: String, ids: inout JobID, at: Double) -> DriverStep {
        guard let (key, _) = pending.removeValue(forKey: job) else { return DriverStep() }
        return advance(key, .failed(reason), noted: [log.note(.callFailed, job: job, "\(key): \(reason)", at: at)], ids: &ids, at: at)
    }

    mutating func exportsWritten(failure: String?, at: Double) -> DriverStep {
        guard pool.isFinished, !summaryLogged else { return DriverStep() }
        summaryLogged = true
        var step = DriverStep()
        step.events += log.record(failure == nil ? .exportsWritten : .exportsFailed, failure ?? exportDirectory.path, at: at)
        step.events += log.record(.protocolSummary, RunSummary(pool.summary).json, at: at)
        return step
    }

    private mutating func advance(_ key: String, _ reply: DiscoveryPool.Reply, noted: [EventRecord], ids: inout JobID,
                                  at: Double) -> DriverStep {
        let next = pool.complete(key, reply, at: at)
        var step = collect(at: at)
        step.events = noted + step.events
        step.jobs = jobs(next, ids: &ids)
        return step
    }

    /// The pool's events, memory rows and progress; the exports after every round.
    private mutating func collect(at: Double) -> DriverStep {
        var step = DriverStep()
        for event in pool.takeEvents() { step.events += log.record(event.kind, event.detail, at: at) }
        step.memory = pool.takeMemory()
        guard let line = pool.takeProgressLine() else { return step }
        step.progress = line
        step.exports = (exportDirectory, pool.exports())
        return step
    }

    private static func pending(_ request: DiscoveryPool.Request) -> (key: String, agent: String?) {
        if case .step(let step) = request { return (step.key, step.agent) }
        return (request.key, nil)
    }

    private mutating func jobs(_ requests: [DiscoveryPool.Request], ids: inout JobID) -> [Job] {
        requests.map { request in
            let id = ids
            ids += 1
            pending[id] = Self.pending(request)
            return job(request, id: id)
        }
    }

    /// The job of a request: the whole of it for the worker, its `stored` form for the store.
    private func job(_ request: DiscoveryPool.Request, id: JobID) -> Job {
        let encoder = JSONEncoder()
        switch request {
        case .step(let step):
            // The step's own watchdogs end it; the lease outlives them a little.
            return Job(id: id, run: run, kind: .discoveryStep, payload: (try? encoder.encode(step)) ?? Data(),
                       timeoutMilliseconds: Int64(step.timeoutMilliseconds) + 30_000, preferredWorker: lastWorker[step.agent],
                       storedPayload: (try? encoder.encode(step.stored)) ?? Data())
        case .grade(let grade):
            return Job(id: id, run: run, kind: .discoveryGrade, payload: (try? encoder.encode(grade)) ?? Data(),
                       timeoutMilliseconds: Int64(grade.timeoutMilliseconds) + 30_000,
                       storedPayload: (try? encoder.encode(grade.stored)) ?? Data())
        }
    }
}

extension RunKind {
    static let discovery = RunKind { config, run in
        guard let discovery = config.discoverySettings else { return nil }
        let pool = DiscoveryPool(settings: discovery, run: run.id.rawValue, startedAt: run.createdAt)
        let runtimes = discovery.agents.map { "\($0.count) \($0.runtime.rawValue)" }.joined(separator: ", ")
        let driver = DiscoveryDriver(pool: pool, run: run.id, exportDirectory: run.exportDirectory, storedJobs: run.storedJobs,
                                     loggedEvents: run.loggedEvents)
        return (driver, "discovery run \(run.id): \(runtimes) agent(s), \(discovery.rounds) rounds, \(discovery.task.graders) grader(s) at once; exports to \(run.exportDirectory.path)")
    }
}
