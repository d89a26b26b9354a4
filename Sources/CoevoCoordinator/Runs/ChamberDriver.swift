import CoevoCore
import CoevoStore
import CoevoWire
import Foundation

/// Runs the chamber protocol over workers: each agent turn the `ChamberEngine` asks for
/// becomes a `sim.turn` job (simulator backend) or an `llm.chat` job on the agent's
/// endpoint (model backend, see `ChamberTurnPrompt`), each result goes back into the
/// engine. A turn whose job fails or whose output cannot be read counts as an empty
/// answer (wrong, and logged), so a bad worker costs accuracy, never the step.
///
/// Resuming after a coordinator restart replays the run (see `StoredReplay`): the engine
/// is deterministic given its turn results, so a fresh engine fed the stored results
/// (matched by turn) reaches the exact state the lost one had.
struct ChamberDriver: RunDriver {
    private var engine: ChamberEngine
    private let run: RunID
    private let timeoutMilliseconds: Int64
    /// The `agent` pool, for the model backend: agent i calls endpoint i mod n.
    private let endpoints: [LLMJob.Endpoint]
    private var pending: [JobID: TurnRequest] = [:]
    private var replay: StoredReplay<String>
    private var log: EventLog

    init(settings: ChamberSettings, run: RunID, timeoutMilliseconds: Int64, endpoints: [LLMJob.Endpoint] = [],
         storedJobs: [CoevoStore.StoredJob] = [], loggedEvents: [EventKind: Int] = [:]) {
        engine = ChamberEngine(settings: settings)
        self.run = run
        self.timeoutMilliseconds = timeoutMilliseconds
        self.endpoints = endpoints
        log = EventLog(run: run, alreadyLogged: loggedEvents)
        // A stored turn is known by the call name its job carries (llm.chat) or by the
        // request its payload holds (sim.turn), both named by `ChamberTurnPrompt.callName`.
        replay = StoredReplay(storedJobs) { job in
            if job.kind == .simTurn, let (request, _) = try? SimTurnCodec.decodeRequest(job.payload) {
                return ChamberTurnPrompt.callName(request)
            }
            return (try? JSONDecoder().decode(LLMJob.self, from: job.payload))?.call
        }
    }

    var isFinished: Bool { engine.isFinished && pending.isEmpty }
    var stage: RunStage? { engine.stage }

    mutating func start(ids: inout JobID, at: Double) -> DriverStep {
        guard !engine.isFinished else { return DriverStep() }
        let (requeued, fresh) = replay.resume(engine.beginStep(), key: ChamberTurnPrompt.callName) { request, answered in
            var due = engine.complete(request, answered.result.flatMap { turnResult($0, for: request) } ?? TurnResult.empty)
            if !engine.isStepOpen && !engine.isFinished { due += engine.beginStep() }
            return due
        }
        var step = collect(at: at)
        for entry in requeued { pending[entry.job.id] = entry.request }
        replay.finish()
        step.requeued = requeued.map { ($0.job, $0.attempts) }
        step.jobs = jobs(fresh, ids: &ids)
        return step
    }

    /// The turn result a succeeded job's output holds, or nil.
    private func turnResult(_ result: AppliedResult, for request: TurnRequest) -> TurnResult? {
        guard result.outcome.status == .succeeded else { return nil }
        guard engine.settings.backend == .model else { return try? SimTurnCodec.decodeResult(result.outcome.output) }
        guard let output = result.llmOutput else { return nil }
        return ChamberTurnPrompt.result(for: request, reply: output.text, tokens: output.promptTokens + output.completionTokens)
    }

    mutating func completed(_ result: AppliedResult, ids: inout JobID, at: Double) -> DriverStep {
        guard let request = pending.removeValue(forKey: result.job.id) else { return DriverStep() }
        let turn = turnResult(result, for: request)
        var noted: [EventRecord] = []
        if result.outcome.status != .succeeded {
            noted.append(log.note(.turnFailed, job: result.job.id,
                                  "\(request.action.rawValue) by agent a\(request.agent): \(result.outcome.status.rawValue) \(result.outcome.error)", at: at))
        } else if turn == nil {
            noted.append(log.note(.turnUnreadable, job: result.job.id,
                                  "\(result.job.kind) output is not a turn result (\(result.outcome.output.count) bytes)", at: at))
        }
        return advance(request, turn ?? TurnResult.empty, noted: noted, ids: &ids, at: at)
    }

    mutating func failed(_ job: JobID, reason: String, ids: inout JobID, at: Double) -> DriverStep {
        guard let request = pending.removeValue(forKey: job) else { return DriverStep() }
        let noted = [log.note(.turnFailed, job: job, "\(request.action.rawValue) by agent a\(request.agent): \(reason)", at: at)]
        return advance(request, TurnResult.empty, noted: noted, ids: &ids, at: at)
    }

    private mutating func advance(_ request: TurnRequest, _ result: TurnResult, noted: [EventRecord], ids: inout JobID, at: Double) -> DriverStep {
        var next = engine.complete(request, result)
        var step = collect(at: at)
        step.events = noted + step.events
        if !engine.isStepOpen && !engine.isFinished { next += engine.beginStep() }
        step.jobs = jobs(next, ids: &ids)
        return step
    }

    /// The engine's event lines and its latest step's progress line.
    private mutating func collect(at: Double) -> DriverStep {
        var step = DriverStep()
        for event in engine.takeEvents() { step.events += log.record(event.kind, event.detail, at: at) }
        step.progress = engine.takeProgressLine()
        return step
    }

    private mutating func jobs(_ requests: [TurnRequest], ids: inout JobID) -> [Job] {
        requests.map { request in
            let id = ids
            ids += 1
            pending[id] = request
            guard engine.settings.backend == .model else {
                return Job(id: id, run: run, kind: .simTurn,
                           payload: SimTurnCodec.encode(request, parameters: engine.settings.simulator),
                           timeoutMilliseconds: timeoutMilliseconds)
            }
            var call = ChamberTurnPrompt.job(for: request, settings: engine.settings, pool: endpoints)
            (call.agent, call.round, call.phase) = (AgentID(request.agent).description, engine.stage.current, request.action.rawValue)
            return Job(id: id, run: run, kind: .llm, payload: (try? JSONEncoder().encode(call)) ?? Data(),
                       timeoutMilliseconds: timeoutMilliseconds)
        }
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
