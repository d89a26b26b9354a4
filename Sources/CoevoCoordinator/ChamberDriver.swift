import CoevoCore
import CoevoStore
import CoevoWire
import Foundation

/// Runs the chamber protocol over workers: each agent turn the `ChamberEngine` asks for
/// becomes a `sim.turn` job (simulator backend) or an `llm.chat` job on the agent's
/// endpoint (model backend, see `ChamberTurnPrompt`), each result goes back into the
/// engine. A turn whose job fails
/// or whose output cannot be read counts as an empty answer (wrong, and logged), so a bad
/// worker costs accuracy, never the step.
///
/// Resuming after a coordinator restart replays the run: the engine is deterministic
/// given its turn results, so a fresh engine fed the stored results (matched by task,
/// round and member) reaches the exact state the lost one had; the turns without a stored
/// result are queued again under their old job ids, and only the event lines the store
/// lacks are logged.
struct ChamberDriver: RunDriver {
    struct TurnKey: Hashable { var task: Int, round: Int, member: Int }

    private var engine: ChamberEngine
    private let run: RunID
    private let timeoutMilliseconds: Int64
    /// The `agent` pool, for the model backend: agent i calls endpoint i mod n.
    private let endpoints: [LLMJob.Endpoint]
    private var pending: [JobID: TurnRequest] = [:]
    private var outbox = Outbox<EventRecord>()
    private var eventsSeen = 0
    private var reportsSeen = 0

    /// What a resumed run had stored: turns by key, and event lines already logged.
    private var stored: [TurnKey: CoevoStore.StoredJob] = [:]

    init(settings: ChamberSettings, run: RunID, timeoutMilliseconds: Int64, endpoints: [LLMJob.Endpoint] = [],
         storedJobs: [CoevoStore.StoredJob] = [], loggedEvents: [String: Int] = [:]) {
        engine = ChamberEngine(settings: settings)
        self.run = run
        self.timeoutMilliseconds = timeoutMilliseconds
        self.endpoints = endpoints
        for entry in storedJobs {
            if let key = Self.turnKey(ofJob: entry.job) { stored[key] = entry }
        }
        reportsSeen = loggedEvents["chamber_step"] ?? 0
        eventsSeen = loggedEvents.filter { $0.key.hasPrefix("chamber_") && $0.key != "chamber_step" }.values.reduce(0, +)
    }

    var isFinished: Bool { engine.isFinished && pending.isEmpty }

    mutating func start(ids: inout JobID) -> (new: [Job], stored: [(job: Job, attempts: UInt32)]) {
        guard !engine.isFinished else { return ([], []) }
        var queue = engine.beginStep()
        var live: [TurnRequest] = []
        var cursor = 0
        while cursor < queue.count {
            let request = queue[cursor]
            cursor += 1
            let key = TurnKey(task: request.task, round: request.round, member: request.member)
            guard let entry = stored[key], entry.outcome != nil || entry.failed else {
                live.append(request)
                continue
            }
            queue += engine.complete(request, turnResult(entry.outcome, for: request) ?? Self.emptyTurn)
            if !engine.isStepOpen && !engine.isFinished { queue += engine.beginStep() }
        }
        collect()
        var resubmitted: [(Job, UInt32)] = []
        var fresh: [TurnRequest] = []
        for request in live {
            if let entry = stored[TurnKey(task: request.task, round: request.round, member: request.member)] {
                pending[entry.job.id] = request
                resubmitted.append((entry.job, entry.attempts))
            } else {
                fresh.append(request)
            }
        }
        stored = [:]
        return (jobs(fresh, ids: &ids), resubmitted)
    }

    /// What a failed or unreadable turn counts as: an empty (so wrong) answer.
    private static let emptyTurn = TurnResult(text: "", tokens: 0)

    /// The turn result a succeeded job's output holds, or nil.
    private func turnResult(_ outcome: JobOutcome?, for request: TurnRequest) -> TurnResult? {
        guard let outcome, outcome.status == .succeeded else { return nil }
        guard engine.settings.backend == .model else { return try? SimTurnCodec.decodeResult(outcome.output) }
        guard let output = try? JSONDecoder().decode(LLMJobOutput.self, from: outcome.output) else { return nil }
        return ChamberTurnPrompt.result(for: request, reply: output.text, tokens: output.promptTokens + output.completionTokens)
    }

    /// Which turn a stored job was: from its sim.turn request, or its llm.chat call key.
    private static func turnKey(ofJob job: Job) -> TurnKey? {
        if let (request, _) = try? SimTurnCodec.decodeRequest(job.payload) {
            return TurnKey(task: request.task, round: request.round, member: request.member)
        }
        guard let call = (try? JSONDecoder().decode(LLMJob.self, from: job.payload))?.call else { return nil }
        let parts = call.split(separator: ".").map { Int($0.dropFirst()) }
        guard parts.count == 3, let task = parts[0], let round = parts[1], let member = parts[2] else { return nil }
        return TurnKey(task: task, round: round, member: member)
    }

    mutating func completed(_ lease: Lease, outcome: JobOutcome, ids: inout JobID) -> [Job] {
        guard let request = pending.removeValue(forKey: lease.job.id) else { return [] }
        let result = turnResult(outcome, for: request)
        if outcome.status != .succeeded {
            note("turn_failed", job: lease.job.id, "\(request.action.rawValue) by agent a\(request.agent): \(outcome.status.rawValue) \(outcome.error)")
        } else if result == nil {
            note("turn_unreadable", job: lease.job.id, "\(lease.job.kind) output is not a turn result (\(outcome.output.count) bytes)")
        }
        return advance(request, result ?? Self.emptyTurn, ids: &ids)
    }

    mutating func failed(_ job: JobID, reason: String, ids: inout JobID) -> [Job] {
        guard let request = pending.removeValue(forKey: job) else { return [] }
        note("turn_failed", job: job, "\(request.action.rawValue) by agent a\(request.agent): \(reason)")
        return advance(request, Self.emptyTurn, ids: &ids)
    }

    mutating func takeEvents() -> [EventRecord] { outbox.takeEvents() }
    mutating func takeProgressLine() -> String? { outbox.takeProgressLine() }

    private mutating func advance(_ request: TurnRequest, _ result: TurnResult, ids: inout JobID) -> [Job] {
        var next = engine.complete(request, result)
        collect()
        if !engine.isStepOpen && !engine.isFinished { next += engine.beginStep() }
        return jobs(next, ids: &ids)
    }

    /// Moves new engine events and step reports into the event log.
    private mutating func collect() {
        let now = Date().timeIntervalSince1970
        for event in engine.events.dropFirst(eventsSeen) {
            outbox.post(EventRecord(at: now, run: run.rawValue, kind: "chamber_\(event.kind)", detail: "step \(event.step): \(event.detail)"))
        }
        eventsSeen = engine.events.count
        for report in engine.reports.dropFirst(reportsSeen) {
            let json = (try? JSONEncoder().encode(report)).map { String(decoding: $0, as: UTF8.self) } ?? ""
            outbox.post(EventRecord(at: now, run: run.rawValue, kind: "chamber_step", detail: json))
            outbox.progress(String(format: "step %d/%d: accuracy %.3f, population %d, insights routed %d, specialists %d, %d agent turns",
                                  report.step, engine.settings.steps, report.accuracy, report.population,
                                  report.insightsRouted, report.specialists, report.agentTurns))
        }
        reportsSeen = engine.reports.count
    }

    private mutating func jobs(_ requests: [TurnRequest], ids: inout JobID) -> [Job] {
        requests.map { request in
            let id = ids
            ids += 1
            pending[id] = request
            guard engine.settings.backend == .model else {
                return Job(id: id, run: run, kind: SimTurnCodec.kind,
                           payload: SimTurnCodec.encode(request, parameters: engine.settings.simulator),
                           timeoutMilliseconds: timeoutMilliseconds)
            }
            let key = "t\(request.task).r\(request.round).m\(request.member)"
            let (system, prompt) = ChamberTurnPrompt.call(for: request)
            let (endpoint, fallbacks) = LLMJob.Endpoint.assign(agent: request.agent, pool: endpoints)
            let call = LLMJob(endpoint: endpoint, system: system, prompt: prompt,
                              maxTokens: engine.settings.maxTokens, temperature: engine.settings.temperature,
                              seed: AgentCall.seed(runSeed: engine.settings.seed, key: key), call: key, fallbacks: fallbacks)
            return Job(id: id, run: run, kind: JobKind.llm.rawValue, payload: (try? JSONEncoder().encode(call)) ?? Data(),
                       timeoutMilliseconds: timeoutMilliseconds)
        }
    }

    private mutating func note(_ kind: String, job: JobID, _ detail: String) {
        outbox.post(EventRecord(at: Date().timeIntervalSince1970, run: run.rawValue, kind: kind, job: job, detail: detail))
    }
}
