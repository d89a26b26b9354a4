import CoevoCore
import CoevoStore
import Foundation

/// A discovery pool over workers: each step and grade the pool asks for becomes a
/// `discovery.step` or `discovery.grade` job, and the shared memory the pool writes
/// (attempts, notes, skills) is stored with the result that completed it. A job that
/// fails for good, or whose output does not decode, reaches the pool as a failed step
/// (no attempt) or a crashed grade. On resume the memory rows the pool says again are
/// stored with "insert or ignore" on their keys, so each is written once across lives.
typealias DiscoveryDriver = EngineDriver<DiscoveryCodec>

struct DiscoveryCodec: EngineCodec {
    typealias Engine = DiscoveryPool
    /// The worker of each agent's last step: its next step is offered there first (the
    /// agent's CLI session and the run's cache are on it). Kept out of the pool, whose
    /// course must not depend on which worker ran what.
    private var lastWorker: [String: WorkerID] = [:]

    /// The job of a request: the whole of it for the worker, its `stored` form for the store.
    func job(_ request: DiscoveryPool.Request, id: JobID, run: RunID, stage: RunStage) -> Job {
        let encoder = JSONEncoder()
        switch request {
        case .step(let step):
            // The step's own watchdogs end it; the lease outlives them a little.
            return Job(id: id, run: run, kind: .discoveryStep, payload: (try? encoder.encode(step)) ?? Data(),
                       timeoutMilliseconds: Int64(step.timeoutMilliseconds) + 30_000, preferredWorker: lastWorker[step.agent],
                       storedPayload: (try? encoder.encode(step.stored)) ?? Data(), key: step.key)
        case .grade(let grade):
            return Job(id: id, run: run, kind: .discoveryGrade, payload: (try? encoder.encode(grade)) ?? Data(),
                       timeoutMilliseconds: Int64(grade.timeoutMilliseconds) + 30_000,
                       storedPayload: (try? encoder.encode(grade.stored)) ?? Data(), key: grade.key)
        }
    }

    /// The store holds these jobs without their commits and task files: they go out as
    /// the pool makes them again.
    func requeued(_ stored: Job, for request: DiscoveryPool.Request, run: RunID, stage: RunStage) -> Job {
        job(request, id: stored.id, run: run, stage: stage)
    }

    func storedKey(of job: Job) -> String? {
        switch job.kind {
        case .discoveryStep: (try? JSONDecoder().decode(DiscoveryStepJob.self, from: job.payload))?.key
        case .discoveryGrade: (try? JSONDecoder().decode(DiscoveryGradeJob.self, from: job.payload))?.key
        default: nil
        }
    }

    func storedKey(of request: DiscoveryPool.Request) -> String { request.key }

    mutating func reply(_ result: AppliedResult, to request: DiscoveryPool.Request) -> (DiscoveryPool.Reply, note: (EventKind, String)?) {
        let reply = Self.reply(result, failure: "")
        if case .step = reply, case .step(let step) = request, let worker = result.worker { lastWorker[step.agent] = worker }
        guard case .failed(let why) = reply else { return (reply, nil) }
        return (reply, (.callFailed, "\(request.key): \(why)"))
    }

    func replayed(_ result: AppliedResult?, for request: DiscoveryPool.Request) -> DiscoveryPool.Reply {
        Self.reply(result, failure: "failed in an earlier life of the run")
    }

    func failure(_ reason: String, of request: DiscoveryPool.Request) -> (DiscoveryPool.Reply, note: (EventKind, String)) {
        (.failed(reason), (.callFailed, "\(request.key): \(reason)"))
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
}

extension EngineDriver where Codec == DiscoveryCodec {
    init(pool: DiscoveryPool, run: RunID, exportDirectory: URL, storedJobs: [CoevoStore.StoredJob] = [],
         loggedEvents: [EventKind: Int] = [:]) {
        self.init(engine: pool, codec: DiscoveryCodec(), run: run, exportDirectory: exportDirectory, storedJobs: storedJobs,
                  loggedEvents: loggedEvents)
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
