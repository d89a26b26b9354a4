import CoevoCore
import CoevoStore
import Foundation

/// A model-call protocol (proposer/solver, red-blue) over workers: each `AgentCall`
/// becomes an `llm.chat` job on the endpoint its role's pool gives the agent. A call
/// whose job fails for good, or whose output cannot be read, reaches the engine as a
/// failed reply (a format failure there).
typealias ProtocolDriver = EngineDriver<ProtocolCodec>

struct ProtocolCodec: EngineCodec {
    typealias Engine = AnyProtocolEngine
    let endpointsByRole: [String: [LLMJob.Endpoint]]
    let timeoutMilliseconds: Int64

    func job(_ call: AgentCall, id: JobID, run: RunID, stage: RunStage) -> Job {
        let (endpoint, fallbacks) = LLMJob.Endpoint.assign(agent: call.agent.rawValue, pool: endpointsByRole[call.role] ?? [])
        var payload = LLMJob(endpoint: endpoint, system: call.system, prompt: call.prompt, maxTokens: call.maxTokens,
                             temperature: call.temperature, seed: call.seed, call: call.key, fallbacks: fallbacks,
                             role: call.role)
        (payload.agent, payload.round, payload.phase) = (call.agent.description, stage.current, stage.phase)
        return Job(id: id, run: run, kind: .llm, payload: (try? JSONEncoder().encode(payload)) ?? Data(),
                   timeoutMilliseconds: timeoutMilliseconds, key: call.key)
    }

    func storedKey(of job: Job) -> String? { (try? JSONDecoder().decode(LLMJob.self, from: job.payload))?.call }
    func storedKey(of call: AgentCall) -> String { call.key }

    func reply(_ result: AppliedResult, to call: AgentCall) -> (AgentReply, note: (EventKind, String)?) {
        let reply = Self.reply(result, failure: "")
        guard case .failed(let why) = reply else { return (reply, nil) }
        return (reply, (.callFailed, "\(call.key): \(why)"))
    }

    func replayed(_ result: AppliedResult?, for call: AgentCall) -> AgentReply {
        Self.reply(result, failure: "failed in an earlier life of the run")
    }

    func failure(_ reason: String, of call: AgentCall) -> (AgentReply, note: (EventKind, String)) {
        (.failed(reason), (.callFailed, "\(call.key): \(reason)"))
    }

    /// The reply a job's result carries for the engine.
    private static func reply(_ result: AppliedResult?, failure: String) -> AgentReply {
        guard let result else { return .failed(failure) }
        guard result.outcome.status == .succeeded else { return .failed("\(result.outcome.status.rawValue): \(result.outcome.error)") }
        guard let output = result.llmOutput else { return .failed(result.llmOutputProblem ?? "no output") }
        return .text(output.text)
    }
}

extension EngineDriver where Codec == ProtocolCodec {
    init(engine: any ProtocolEngine, run: RunID, endpointsByRole: [String: [LLMJob.Endpoint]], timeoutMilliseconds: Int64,
         exportDirectory: URL, storedJobs: [CoevoStore.StoredJob] = [], loggedEvents: [EventKind: Int] = [:]) {
        self.init(engine: AnyProtocolEngine(engine), codec: ProtocolCodec(endpointsByRole: endpointsByRole, timeoutMilliseconds: timeoutMilliseconds),
                  run: run, exportDirectory: exportDirectory, storedJobs: storedJobs, loggedEvents: loggedEvents)
    }
}

/// Whichever protocol a config names, as one engine type (a protocol's existential is
/// not itself a `RunEngine`).
struct AnyProtocolEngine: ProtocolEngine {
    private var base: any ProtocolEngine
    init(_ base: any ProtocolEngine) { self.base = base }

    mutating func start() -> EngineStep<AgentCall> { base.start() }
    mutating func complete(_ key: String, _ reply: AgentReply, at: Double?) -> EngineStep<AgentCall> { base.complete(key, reply, at: at) }
    var isFinished: Bool { base.isFinished }
    var stage: RunStage { base.stage }
    var summary: [SummaryLine] { base.summary }
    func exports() -> [String: [String]] { base.exports() }
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
