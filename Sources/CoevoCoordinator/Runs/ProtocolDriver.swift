import CoevoCore
import CoevoStore
import Foundation

/// Runs a model-call protocol (proposer/solver, red-blue) over workers: each `AgentCall`
/// becomes an `llm.chat` job on the endpoint its role's pool gives the agent, each result
/// goes back to the engine. A call whose job fails for good, or whose output cannot be
/// read, reaches the engine as a failed reply (a format failure there): a bad worker or
/// endpoint costs that agent its reward, never the round.
///
/// Resuming after a coordinator restart replays the run (see `StoredReplay`): the engine
/// reads replies in call order (at the end of a phase, or as far as they are in), so
/// feeding it the stored replies (matched by call key) reaches the exact state the lost
/// engine had. The exports (JSON lines) are asked for after every round; once the engine
/// has finished and its last exports are written, the summary is logged as a
/// `protocol_summary` event.
struct ProtocolDriver: RunDriver {
    private var engine: any ProtocolEngine
    private let run: RunID
    private let endpointsByRole: [String: [LLMJob.Endpoint]]
    private let timeoutMilliseconds: Int64
    private let exportDirectory: URL
    private var pending: [JobID: String] = [:]
    private var replay: StoredReplay<String>
    private var log: EventLog
    private var summaryLogged = false

    init(engine: any ProtocolEngine, run: RunID, endpointsByRole: [String: [LLMJob.Endpoint]], timeoutMilliseconds: Int64,
         exportDirectory: URL, storedJobs: [CoevoStore.StoredJob] = [], loggedEvents: [EventKind: Int] = [:]) {
        self.engine = engine
        self.run = run
        self.endpointsByRole = endpointsByRole
        self.timeoutMilliseconds = timeoutMilliseconds
        self.exportDirectory = exportDirectory
        log = EventLog(run: run, alreadyLogged: loggedEvents)
        replay = StoredReplay(storedJobs) { job in (try? JSONDecoder().decode(LLMJob.self, from: job.payload))?.call }
    }

    var isFinished: Bool { engine.isFinished && pending.isEmpty && summaryLogged }
    var stage: RunStage? { engine.stage }

    mutating func start(ids: inout JobID, at: Double) -> DriverStep {
        let (requeued, fresh) = replay.resume(engine.start(), key: \.key) { call, answered in
            engine.complete(call.key, Self.reply(answered.result, failure: "failed in an earlier life of the run"))
        }
        var step = collect(at: at)
        for entry in requeued { pending[entry.job.id] = entry.request.key }
        replay.finish()
        step.requeued = requeued.map { ($0.job, $0.attempts) }
        step.jobs = jobs(fresh, ids: &ids)
        return step
    }

    /// The reply a job's result carries for the engine.
    private static func reply(_ result: AppliedResult?, failure: String) -> AgentReply {
        guard let result else { return .failed(failure) }
        guard result.outcome.status == .succeeded else { return .failed("\(result.outcome.status.rawValue): \(result.outcome.error)") }
        guard let output = result.llmOutput else { return .failed(result.llmOutputProblem ?? "no output") }
        return .text(output.text)
    }

    mutating func completed(_ result: AppliedResult, ids: inout JobID, at: Double) -> DriverStep {
        guard let key = pending.removeValue(forKey: result.job.id) else { return DriverStep() }
        let reply = Self.reply(result, failure: "")
        var noted: [EventRecord] = []
        if case .failed(let why) = reply { noted.append(log.note(.callFailed, job: result.job.id, "\(key): \(why)", at: at)) }
        return advance(key, reply, noted: noted, ids: &ids, at: at)
    }

    mutating func failed(_ job: JobID, reason: String, ids: inout JobID, at: Double) -> DriverStep {
        guard let key = pending.removeValue(forKey: job) else { return DriverStep() }
        let noted = [log.note(.callFailed, job: job, "\(key): \(reason)", at: at)]
        return advance(key, .failed(reason), noted: noted, ids: &ids, at: at)
    }

    /// After the last round's exports: where they are (or why not) and the summary.
    mutating func exportsWritten(failure: String?, at: Double) -> DriverStep {
        guard engine.isFinished, !summaryLogged else { return DriverStep() }
        summaryLogged = true
        var step = DriverStep()
        if let failure {
            step.events += log.record(.exportsFailed, failure, at: at)
        } else {
            step.events += log.record(.exportsWritten, exportDirectory.path, at: at)
        }
        step.events += log.record(.protocolSummary, RunSummary(engine.summary).json, at: at)
        return step
    }

    private mutating func advance(_ key: String, _ reply: AgentReply, noted: [EventRecord], ids: inout JobID, at: Double) -> DriverStep {
        let next = engine.complete(key, reply)
        var step = collect(at: at)
        step.events = noted + step.events
        step.jobs = jobs(next, ids: &ids)
        return step
    }

    /// The engine's events and progress. The exports are asked for after every round,
    /// so a run stopped early (a budget reached, Ctrl-C) still has the data of the rounds
    /// it finished.
    private mutating func collect(at: Double) -> DriverStep {
        var step = DriverStep()
        for event in engine.takeEvents() { step.events += log.record(event.kind, event.detail, at: at) }
        guard let line = engine.takeProgressLine() else { return step }
        step.progress = line
        step.exports = (exportDirectory, engine.exports())
        return step
    }

    private mutating func jobs(_ calls: [AgentCall], ids: inout JobID) -> [Job] {
        calls.map { call in
            let (endpoint, fallbacks) = LLMJob.Endpoint.assign(agent: call.agent.rawValue, pool: endpointsByRole[call.role] ?? [])
            var payload = LLMJob(endpoint: endpoint, system: call.system, prompt: call.prompt, maxTokens: call.maxTokens,
                                 temperature: call.temperature, seed: call.seed, call: call.key, fallbacks: fallbacks,
                                 role: call.role)
            (payload.agent, payload.round, payload.phase) = (call.agent.description, engine.stage.current, engine.stage.phase)
            let id = ids
            ids += 1
            pending[id] = call.key
            return Job(id: id, run: run, kind: .llm, payload: (try? JSONEncoder().encode(payload)) ?? Data(),
                       timeoutMilliseconds: timeoutMilliseconds)
        }
    }
}

extension RunKind {
    /// Proposer/solver and red-blue: the protocols that are model calls.
    static let experimentProtocol = RunKind { config, run in
        guard let engine = config.makeProtocolEngine() else { return nil }
        var pools: [String: [LLMJob.Endpoint]] = [:]
        for role in config.protocolRoles { pools[role] = config.endpoints(forRole: role) }
        let driver = ProtocolDriver(engine: engine, run: run.id, endpointsByRole: pools,
                                    timeoutMilliseconds: config.coordinator.jobTimeoutMilliseconds,
                                    exportDirectory: run.exportDirectory, storedJobs: run.storedJobs, loggedEvents: run.loggedEvents)
        let kind = config.proposerSolver != nil ? "proposer/solver" : "red-blue"
        let roles = config.protocolRoles.map { "\($0) -> \(pools[$0]!.map(\.name).joined(separator: ","))" }.joined(separator: "; ")
        return (driver, "\(kind) run \(run.id): \(roles); exports to \(run.exportDirectory.path)")
    }
}
