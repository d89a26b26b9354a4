/// A round's figures as a two-pool protocol reports them; the shared `RoundEnd` fills in
/// what every protocol counts the same way.
protocol RoundFigures: EventReport {
    /// Reflections, consolidations and custom heartbeats asked of the model.
    var heartbeatCalls: Int { get set }
    /// CODREAM events (each a reflection per member and a distillation) and the insights
    /// they delivered.
    var codreamEvents: Int { get set }
    var insightsRouted: Int { get set }
    var lifecycleEvents: Int { get set }
    /// The two pools' active agents once the lifecycle has run.
    mutating func setPopulations(_ first: Int, _ second: Int)
    /// The progress line of this round, out of `rounds`.
    func progressLine(rounds: Int) -> String
}

/// How a pool's heartbeat calls are made: its base system prompt and temperature.
struct HeartbeatVoice: Sendable {
    var base: String
    var temperature: Double
}

/// The end of every round of a two-pool protocol (proposer/solver, red-blue), in one
/// piece. Once the round is scored: both pools' pivots are logged; the heartbeats that
/// fired become calls (CORAL's reflect / consolidate), and so do the round's CODREAM
/// events (`CodreamCase`): first every member's reflection, beside the heartbeats, then,
/// with the reflections in, the distiller's call. When all are answered their lessons and
/// insights are applied, the lifecycle runs on both pools, and the figures are logged and
/// close the round.
///
/// Contract: `init` right after scoring; `record` every reply until `isComplete`, making
/// the calls it returns; then `close` once, with the same pools, first and second in the
/// same order.
struct RoundEnd<Figures: RoundFigures>: Sendable {
    /// The calls in flight: heartbeats and reflections, then the distillations.
    private var batch: CallBatch
    /// The heartbeats' and reflections' stage once the distillations went out.
    private var firstStage: CallBatch?
    private var cases: [CodreamCase]
    private var reflectionOf: [String: (event: Int, member: Int)] = [:]
    /// One per event, its prompt written when the reflections are in.
    private var distillations: [AgentCall] = []
    private let maxInsights: Int
    private var figures: Figures
    let round: Int

    init(_ figures: Figures, round: Int, maxTokens: Int, seed: UInt64,
         _ first: inout AgentPool, _ firstVoice: HeartbeatVoice,
         _ second: inout AgentPool, _ secondVoice: HeartbeatVoice,
         codream: [CodreamCase] = [], outbox: inout Outbox) {
        outbox.post(contentsOf: first.takePivotEvents() + second.takePivotEvents())
        var calls = first.heartbeatCalls(round: round, base: firstVoice.base, maxTokens: maxTokens,
                                         temperature: firstVoice.temperature, seed: seed)
            + second.heartbeatCalls(round: round, base: secondVoice.base, maxTokens: maxTokens,
                                    temperature: secondVoice.temperature, seed: seed)
        self.figures = figures
        self.figures.heartbeatCalls = calls.count
        self.round = round
        maxInsights = first.evolution.codream.maxDistilled
        // `max_insights: 0` turns CODREAM off, as in the chamber.
        cases = maxInsights > 0 ? codream : []
        self.figures.codreamEvents = cases.count
        for (event, item) in cases.enumerated() {
            let (pool, voice) = item.role == first.role ? (first, firstVoice) : (second, secondVoice)
            func call(_ agent: Int, _ tail: String, tokens: Int, prompt: String) -> AgentCall {
                AgentCall(key: CodreamCase.key(round: round, role: item.role, index: event, tail), role: item.role,
                          agent: pool.agent(agent).id, system: pool.systemPrompt(agent, base: voice.base, niches: [item.niche]),
                          prompt: prompt, maxTokens: min(maxTokens, tokens), temperature: voice.temperature, runSeed: seed)
            }
            if pool.evolution.codream.reflect {
                for (m, member) in item.members.enumerated() {
                    let reflection = call(member.agent, "reflect.\(pool.agent(member.agent).id)",
                                          tokens: CodreamCase.reflectionTokens, prompt: item.reflectPrompt(for: member))
                    reflectionOf[reflection.key] = (event, m)
                    calls.append(reflection)
                }
            }
            distillations.append(call(item.producer, "distil", tokens: CodreamCase.distilTokens, prompt: ""))
        }
        batch = CallBatch(calls)
        if calls.isEmpty { startDistilling(first, second) }
    }

    /// The calls to make now (none: close at once).
    var calls: [AgentCall] { batch.calls }
    var isComplete: Bool { firstStage != nil && batch.isComplete }

    /// Records a reply; returns the calls that became due (the distillations, when this
    /// reply completed the first stage), or nil when `key` is not one of this ending's.
    mutating func record(_ key: String, _ reply: AgentReply, _ first: AgentPool, _ second: AgentPool) -> [AgentCall]? {
        guard batch.record(key, reply) else { return nil }
        guard firstStage == nil, batch.isComplete else { return [] }
        for (call, reply) in batch.answered {
            guard let (event, member) = reflectionOf[call.key] else { continue }
            cases[event].members[member].reflection = reply.text.flatMap(CodreamCase.reflection)
        }
        startDistilling(first, second)
        return batch.calls
    }

    /// The distillers' calls, each with its event's answers, outcome and reflections.
    private mutating func startDistilling(_ first: AgentPool, _ second: AgentPool) {
        firstStage = batch
        for (event, item) in cases.enumerated() {
            let pool = item.role == first.role ? first : second
            distillations[event].prompt = item.distilPrompt(maxInsights: maxInsights) { pool.agent($0).id.description }
        }
        batch = CallBatch(distillations)
    }

    /// Applies the heartbeat replies and the distilled insights (routed, each event kept
    /// in `records`), runs the lifecycle on both pools, logs the figures and the progress
    /// line; returns the figures complete.
    func close(rounds: Int, tasksSeen: [Int], _ first: inout AgentPool, _ second: inout AgentPool,
               records: inout [CodreamRecord], outbox: inout Outbox) -> Figures {
        var report = figures
        outbox.post(contentsOf: AgentPool.applyHeartbeats(firstStage ?? CallBatch([]), round: round, to: &first, &second))
        for ((call, reply), item) in zip(batch.answered, cases) {
            let lines = reply.text.map { CodreamCase.insights(in: $0, limit: maxInsights) } ?? []
            var insights: [String] = []
            for line in lines {
                if let why = InsightVetting.problem(line, task: item.task, answers: item.members.flatMap { $0.answer.components(separatedBy: " / ") }) {
                    outbox.post(ProtocolEvent(.pool(item.role, "insight_refused"), "round \(round) \(call.key): '\(line)': \(why)"))
                } else {
                    insights.append(line)
                }
            }
            guard !insights.isEmpty else {
                let why = reply.text == nil ? "the call failed"
                    : lines.isEmpty ? "no INSIGHT: line or list item in the reply" : "every insight in the reply was refused"
                outbox.post(ProtocolEvent(.distilFailure, "round \(round) \(call.key): \(why)"))
                var record = (item.role == first.role ? first : second).record(of: item, round: round)
                (record.failure, record.reply) = (why, reply.text)
                records.append(record)
                continue
            }
            let (event, record, delivered, flow) = item.role == first.role
                ? first.codream(insights, from: item, round: round) : second.codream(insights, from: item, round: round)
            outbox.post(event)
            outbox.post(flow)
            records.append(record)
            report.insightsRouted += delivered
        }
        let lifecycle = first.evolve(round: round, tasksSeenPerNiche: tasksSeen)
            + second.evolve(round: round, tasksSeenPerNiche: tasksSeen)
        outbox.post(contentsOf: lifecycle)
        outbox.post(first.snapshot(round: round))
        outbox.post(second.snapshot(round: round))
        report.lifecycleEvents = lifecycle.count
        report.setPopulations(first.active.count, second.active.count)
        outbox.post(report.event)
        outbox.progress(report.progressLine(rounds: rounds))
        return report
    }
}
