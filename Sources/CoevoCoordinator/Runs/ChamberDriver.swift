import CoevoCore
import CoevoStore
import CoevoWire
import Foundation

/// The chamber over workers: each agent turn the `ChamberEngine` asks for becomes a
/// `sim.turn` job (simulator backend) or an `llm.chat` job on the agent's endpoint (model
/// backend, see `ChamberTurnPrompt`). A turn whose job fails or whose output cannot be
/// read counts as an empty answer (wrong, and logged), so a bad worker costs accuracy,
/// never the step. The chamber writes no exports.
typealias ChamberDriver = EngineDriver<ChamberCodec>

struct ChamberCodec: EngineCodec {
    typealias Engine = ChamberEngine
    let settings: ChamberSettings
    let timeoutMilliseconds: Int64
    /// The `agent` pool, for the model backend: agent i calls endpoint i mod n.
    let endpoints: [LLMJob.Endpoint]

    func job(_ request: TurnRequest, id: JobID, run: RunID, stage: RunStage) -> Job {
        guard settings.backend == .model else {
            return Job(id: id, run: run, kind: .simTurn, payload: SimTurnCodec.encode(request, parameters: settings.simulator),
                       timeoutMilliseconds: timeoutMilliseconds, key: storedKey(of: request))
        }
        var call = ChamberTurnPrompt.job(for: request, settings: settings, pool: endpoints)
        (call.agent, call.round, call.phase) = (AgentID(request.agent).description, stage.current, request.action.rawValue)
        return Job(id: id, run: run, kind: .llm, payload: (try? JSONEncoder().encode(call)) ?? Data(),
                   timeoutMilliseconds: timeoutMilliseconds, key: storedKey(of: request))
    }

    /// A stored turn is known by the call name its job carries (llm.chat) or by the
    /// request its payload holds (sim.turn), both named by `ChamberTurnPrompt.callName`.
    func storedKey(of job: Job) -> String? {
        if job.kind == .simTurn, let (request, _) = try? SimTurnCodec.decodeRequest(job.payload) {
            return ChamberTurnPrompt.callName(request)
        }
        return (try? JSONDecoder().decode(LLMJob.self, from: job.payload))?.call
    }

    func storedKey(of request: TurnRequest) -> String { ChamberTurnPrompt.callName(request) }

    func reply(_ result: AppliedResult, to request: TurnRequest) -> (TurnResult, note: (EventKind, String)?) {
        let turn = turnResult(result, for: request)
        if result.outcome.status != .succeeded {
            return (.empty, (.turnFailed, "\(request.action.rawValue) by agent a\(request.agent): \(result.outcome.status.rawValue) \(result.outcome.error)"))
        }
        guard let turn else {
            return (.empty, (.turnUnreadable, "\(result.job.kind) output is not a turn result (\(result.outcome.output.count) bytes)"))
        }
        return (turn, nil)
    }

    func replayed(_ result: AppliedResult?, for request: TurnRequest) -> TurnResult {
        result.flatMap { turnResult($0, for: request) } ?? .empty
    }

    func failure(_ reason: String, of request: TurnRequest) -> (TurnResult, note: (EventKind, String)) {
        (.empty, (.turnFailed, "\(request.action.rawValue) by agent a\(request.agent): \(reason)"))
    }

    /// The turn result a succeeded job's output holds, or nil.
    private func turnResult(_ result: AppliedResult, for request: TurnRequest) -> TurnResult? {
        guard result.outcome.status == .succeeded else { return nil }
        guard settings.backend == .model else { return try? SimTurnCodec.decodeResult(result.outcome.output) }
        guard let output = result.llmOutput else { return nil }
        return ChamberTurnPrompt.result(for: request, reply: output.text, tokens: output.promptTokens + output.completionTokens)
    }
}

extension EngineDriver where Codec == ChamberCodec {
    init(settings: ChamberSettings, run: RunID, timeoutMilliseconds: Int64, endpoints: [LLMJob.Endpoint] = [],
         storedJobs: [CoevoStore.StoredJob] = [], loggedEvents: [EventKind: Int] = [:]) {
        self.init(engine: ChamberEngine(settings: settings),
                  codec: ChamberCodec(settings: settings, timeoutMilliseconds: timeoutMilliseconds, endpoints: endpoints),
                  run: run, exportDirectory: nil, storedJobs: storedJobs, loggedEvents: loggedEvents)
    }
}

extension RunKind {
    static let chamber = RunKind { config, run in
        guard let chamber = config.chamberSettings else { return nil }
        let agents = chamber.backend == .model ? config.endpoints(forRole: "agent") : []
        let driver = ChamberDriver(settings: chamber, run: run.id, timeoutMilliseconds: config.coordinator.jobTimeoutMilliseconds,
                                   endpoints: agents, storedJobs: run.storedJobs, loggedEvents: run.loggedEvents)
        return (driver, "chamber run \(run.id) on the \(chamber.backend.rawValue): \(chamber.steps) steps of \(chamber.tasksPerStep) tasks, \(chamber.agents) agents, \(chamber.niches) niches, routing \(chamber.evolution.codream.routing.rawValue)")
    }
}
