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
    /// How turns become jobs and results turns on the configured backend.
    let turns: any ChamberTurnJobs
    let timeoutMilliseconds: Int64

    func job(_ request: TurnRequest, id: JobID, run: RunID, stage: RunStage) -> Job {
        let (kind, payload) = turns.job(request, stage: stage)
        return Job(id: id, run: run, kind: kind, payload: payload, timeoutMilliseconds: timeoutMilliseconds, key: storedKey(of: request))
    }

    func storedKey(of job: Job) -> String? { turns.storedKey(of: job) }

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
        return turns.turn(result, for: request)
    }
}

extension EngineDriver where Codec == ChamberCodec {
    init(settings: ChamberSettings, run: RunID, timeoutMilliseconds: Int64, endpoints: [LLMJob.Endpoint] = [],
         storedJobs: [CoevoStore.StoredJob] = [], loggedEvents: [EventKind: Int] = [:]) {
        self.init(engine: ChamberEngine(settings: settings),
                  codec: ChamberCodec(turns: settings.backend.turnJobs(settings: settings, endpoints: endpoints),
                                      timeoutMilliseconds: timeoutMilliseconds),
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
