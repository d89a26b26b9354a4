import CoevoCore
import CoevoWire
import Foundation

/// How a chamber turn travels on one backend: the job kind and payload that ask for it,
/// the stored key a resumed run knows its job by, and the turn a succeeded job's output
/// holds. The counterpart of the engine's `ChamberBackend`.
protocol ChamberTurnJobs: Sendable {
    func job(_ request: TurnRequest, stage: RunStage) -> (JobKind, Data)
    /// The call name (`ChamberTurnPrompt.callName`) of a stored job, or nil.
    func storedKey(of job: Job) -> String?
    /// The turn in a succeeded job's output, or nil when it holds none.
    func turn(_ result: AppliedResult, for request: TurnRequest) -> TurnResult?
}

extension ChamberSettings.Backend {
    /// `endpoints` is the `agent` pool (the model backend calls endpoint i mod n for agent i).
    func turnJobs(settings: ChamberSettings, endpoints: [LLMJob.Endpoint]) -> any ChamberTurnJobs {
        switch self {
        case .simulator: SimulatorTurnJobs(parameters: settings.simulator)
        case .model: ModelTurnJobs(settings: settings, endpoints: endpoints)
        }
    }
}

/// `sim.turn` jobs: the request itself, read back by the simulator executor.
struct SimulatorTurnJobs: ChamberTurnJobs {
    let parameters: SimulatedWorld.Parameters

    func job(_ request: TurnRequest, stage: RunStage) -> (JobKind, Data) {
        (.simTurn, SimTurnCodec.encode(request, parameters: parameters))
    }

    func storedKey(of job: Job) -> String? {
        guard job.kind == .simTurn, let (request, _) = try? SimTurnCodec.decodeRequest(job.payload) else { return nil }
        return ChamberTurnPrompt.callName(request)
    }

    func turn(_ result: AppliedResult, for request: TurnRequest) -> TurnResult? {
        try? SimTurnCodec.decodeResult(result.outcome.output)
    }
}

/// `llm.chat` jobs on the agent's endpoint, prompted by `ChamberTurnPrompt`.
struct ModelTurnJobs: ChamberTurnJobs {
    let settings: ChamberSettings
    let endpoints: [LLMJob.Endpoint]

    func job(_ request: TurnRequest, stage: RunStage) -> (JobKind, Data) {
        var call = ChamberTurnPrompt.job(for: request, settings: settings, pool: endpoints)
        (call.agent, call.round, call.phase) = (AgentID(request.agent).description, stage.current, request.action.rawValue)
        return (.llm, (try? JSONEncoder().encode(call)) ?? Data())
    }

    func storedKey(of job: Job) -> String? {
        (try? JSONDecoder().decode(LLMJob.self, from: job.payload))?.call
    }

    func turn(_ result: AppliedResult, for request: TurnRequest) -> TurnResult? {
        guard let output = result.llmOutput else { return nil }
        return ChamberTurnPrompt.result(for: request, reply: output.text, tokens: output.promptTokens + output.completionTokens)
    }
}
