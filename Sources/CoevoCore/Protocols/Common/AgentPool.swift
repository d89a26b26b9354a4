import Foundation

/// One role's agents in an LLM protocol (proposers, solvers, attackers, defenders): the
/// population with its per-niche statistics, the insights it holds, and the evolution
/// operators applied to it (CODREAM, heartbeats, lifecycle). All agents share one model;
/// an agent is its persona line, its insights and its record.
struct AgentPool: Sendable {
    let role: String
    let nicheNames: [String]
    let evolution: EvolutionSettings
    let personas: [String]
    private(set) var population: Population
    /// Insights per niche, for seeding new agents: the best `archiveLimit` are kept.
    private var archive: [Int: [Insight]] = [:]
    /// Past this many insights in a niche the worst go: a long run's archive stays bounded
    /// and seeds only ever draw the best.
    static let archiveLimit = 64
    /// Insights a prompt shows, most useful first.
    static let promptInsights = 4
    private var nextInsightID = 1
    private var nextEvent = 1
    /// Examples delivered so far (the channel apart from CODREAM; see `example`).
    private(set) var examplesRouted = 0
    private var heartbeats: PoolHeartbeats
    /// Interventions applied so far, by kind (reflect, consolidate, pivot, custom names).
    private(set) var interventions: [String: Int] = [:]
    /// Pivots since the engine last took them.
    private var pivotEvents: [ProtocolEvent] = []

    /// Personas given to the initial agents in turn: the population starts diverse.
    init(role: String, size: Int, nicheNames: [String], personas: [String], evolution: EvolutionSettings) {
        self.role = role
        self.nicheNames = nicheNames
        self.evolution = evolution
        self.personas = personas
        heartbeats = PoolHeartbeats(settings: evolution.heartbeats)
        population = Population(nicheCount: nicheNames.count)
        for i in 0..<size {
            population.add(role: role, pool: role, lineage: Agent.Lineage(parents: [], operator: .initial, reason: "initial", step: 0),
                           systemPrompt: personas[i % personas.count])
        }
    }

    var active: [Int] { population.activeIndices }
    func agent(_ index: Int) -> Agent { population.agents[index] }

    /// The agent's system prompt: the role's instructions, its persona, and the insights
    /// it holds on `niches` (all niches when nil), most useful first, at most `limit` of
    /// each channel, each channel under its own label.
    func systemPrompt(_ index: Int, base: String, niches: [Int]? = nil, limit: Int = AgentPool.promptInsights) -> String {
        let agent = population.agents[index]
        var held: [Insight] = []
        for niche in niches ?? Array(0..<nicheNames.count) { held += agent.insights[niche] ?? [] }
        return base + " " + agent.systemPrompt + Self.shown(held, limit: limit)
    }

    /// What a prompt shows of `held`: the `limit` most useful of each channel, each under
    /// its label, one per line ("" when nothing is held).
    static func shown(_ held: [Insight], limit: Int) -> String {
        let shown = held.shownIndices(limit: limit).map { held[$0] }
        var text = ""
        let lessons = shown.filter { $0.channel == .distilled }, examples = shown.filter { $0.channel == .example }
        if !lessons.isEmpty {
            text += "\nLessons shared by your team:\n" + lessons.map { "- \($0.text)" }.joined(separator: "\n")
        }
        if !examples.isEmpty {
            text += "\nWorked examples from your team's rounds:\n" + examples.map { "- \($0.text)" }.joined(separator: "\n")
        }
        return text
    }

    /// One evaluation of an agent on a niche. The lessons it held there share the
    /// outcome (their utility, which decides what is shown and what is evicted), and the
    /// heartbeats hear of it; `attempt` is the line its next reflection looks back on.
    mutating func record(_ index: Int, niche: Int, success: Bool, attempt: String? = nil, round: Int) {
        // The prompt showed the niche's most useful `promptInsights`: those take the credit.
        let predicted = population.stats(index, niche).competence
        population.record(index, niche: niche, success: success, alpha: evolution.ewmaAlpha)
        population.creditInsights(of: index, niche: niche, outcome: success ? 1 : 0, predicted: predicted,
                                  shown: Self.promptInsights)
        let id = population.agents[index].id
        let fired = heartbeats.evaluated(index, id: id, niche: niche, score: population.stats(index, niche).competence,
                                         attempt: attempt)
        for intervention in fired where intervention.kind == .pivot {
            pivot(index, niche: niche, round: round, why: intervention.prompt)
        }
    }

    /// A pivot: the agent stopped improving, so it drops its least useful lesson on the
    /// niche and takes the next persona (its specialty stays).
    private mutating func pivot(_ index: Int, niche: Int, round: Int, why: String) {
        let dropped = population.dropLeastUsefulInsight(of: index, niche: niche)?.text
        population.updateAgent(index) { agent in
            let parts = agent.systemPrompt.components(separatedBy: " You specialise in")
            let next = personas[((personas.firstIndex(of: parts[0]) ?? -1) + 1) % personas.count]
            agent.systemPrompt = parts.count > 1 ? next + " You specialise in" + parts[1] : next
        }
        let agent = population.agents[index]
        interventions["pivot", default: 0] += 1
        pivotEvents.append(ProtocolEvent(.pool(role, "pivot"), "round \(round) \(nicheNames[niche]): \(agent.id) \(why) New persona: \(agent.systemPrompt)"
            + (dropped.map { "; dropped lesson: \($0)" } ?? "")))
    }

    /// Pivot events since the last call.
    mutating func takePivotEvents() -> [ProtocolEvent] {
        defer { pivotEvents.removeAll() }
        return pivotEvents
    }

    /// The round's reflect, consolidate and custom heartbeat calls (see `PoolHeartbeats`).
    mutating func heartbeatCalls(round: Int, base: String, maxTokens: Int, temperature: Double, seed: UInt64) -> [AgentCall] {
        var beats = heartbeats
        let calls = beats.calls(round: round, pool: self, base: base, maxTokens: maxTokens, temperature: temperature, seed: seed)
        heartbeats = beats
        return calls
    }

    /// Applies a heartbeat call's reply: a reflection's lesson becomes the agent's own
    /// note, a consolidation's skills go to every active agent. Returns the event line,
    /// or nil when `call` is not one of this pool's heartbeat calls.
    mutating func heartbeatReplied(_ call: AgentCall, _ reply: AgentReply, round: Int) -> ProtocolEvent? {
        guard let pending = heartbeats.take(call.key) else { return nil }
        let kind = EventKind.pool(role, pending.ask.name)
        let texts = reply.text.map { pending.forPool ? PoolHeartbeats.skills(in: $0) : PoolHeartbeats.lesson(in: $0).map { [$0] } ?? [] } ?? []
        guard !texts.isEmpty else {
            let why = reply.text == nil ? "the call failed" : "no lesson in the reply"
            return ProtocolEvent(.heartbeatFailure, "round \(round) \(call.key): \(why)")
        }
        let niche = pending.niche
        let producer = population.agents[pending.agent].id
        let event = nextEvent
        nextEvent += 1
        var given: [Insight] = []
        for text in texts {
            given.append(Insight(id: nextInsightID, text: text, niche: niche, producer: producer, event: event))
            nextInsightID += 1
        }
        keep(given, niche: niche)
        let recipients = pending.forPool ? active : [pending.agent]
        for recipient in recipients {
            Codream.deliver(given, to: recipient, niche: niche, limit: evolution.codream.maxInsightsPerNiche, population: &population)
        }
        interventions[pending.ask.name, default: 0] += 1
        let to = pending.forPool ? "all \(recipients.count) \(role)s" : "itself"
        return ProtocolEvent(kind, "round \(round) \(nicheNames[niche]): \(producer) -> \(to): " + texts.joined(separator: " | "))
    }

    /// A complete heartbeat phase of a protocol with two pools: each reply, in call
    /// order, applied to the pool whose call it answers. Returns the event lines.
    static func applyHeartbeats(_ batch: CallBatch, round: Int, to first: inout AgentPool, _ second: inout AgentPool) -> [ProtocolEvent] {
        batch.answered.compactMap { call, reply in
            call.role == first.role
                ? first.heartbeatReplied(call, reply, round: round) : second.heartbeatReplied(call, reply, round: round)
        }
    }

    /// The examples channel: a worked example, a kept task, an attack that got through,
    /// a defence that held, written by the protocol (no model call) and routed like an
    /// insight under the run's routing mode. Not CODREAM: nothing is distilled. Returns
    /// the event line, or nil when examples are off or nobody needed it.
    mutating func example(_ text: String, niche: Int, producer: Int, round: Int) -> ProtocolEvent? {
        guard evolution.examples else { return nil }
        let (recipients, delivered) = route([text], niche: niche, producer: producer, channel: .example)
        guard delivered > 0 else { return nil }
        examplesRouted += delivered
        return ProtocolEvent(.pool(role, "example"),
                             "round \(round) \(nicheNames[niche]): \(population.agents[producer].id) -> \(recipients.joined(separator: ",")): \(text)")
    }

    /// CODREAM's last step: the insights `from.producer` distilled go to the agents the
    /// routing mode picks (by default those weak on the niche). Returns the event line,
    /// the event as the run keeps it, and the deliveries made.
    mutating func codream(_ insights: [String], from event: CodreamCase, round: Int)
        -> (event: ProtocolEvent, record: CodreamRecord, delivered: Int, flow: ProtocolEvent) {
        let (recipients, delivered) = route(insights, niche: event.niche, producer: event.producer)
        let producer = population.agents[event.producer].id
        var record = self.record(of: event, round: round)
        (record.insights, record.recipients) = (insights, recipients)
        let line = "round \(round) \(nicheNames[event.niche]): \(producer) -> \(recipients.joined(separator: ",").nilIfEmpty ?? "nobody"): "
            + insights.joined(separator: " | ")
        let flow = InsightFlow(round: round, role: role, niche: nicheNames[event.niche], from: producer.description,
                               to: recipients, insights: insights.count)
        return (ProtocolEvent(.pool(role, "codream"), line), record, delivered, flow.event)
    }

    /// A CODREAM event as the run keeps it, before anything was distilled or routed: a
    /// distillation that yielded nothing is kept like this, with the distiller's words.
    func record(of event: CodreamCase, round: Int) -> CodreamRecord {
        CodreamRecord(
            round: round, role: role, niche: nicheNames[event.niche], task: event.task, outcome: event.outcome,
            members: event.members.map {
                CodreamRecord.Member(agent: population.agents[$0.agent].id.description, answer: $0.answer,
                                     verdict: $0.verdict, reflection: $0.reflection)
            },
            distiller: population.agents[event.producer].id.description, insights: [], recipients: [])
    }

    /// Archives `texts` as insights of one event by `producer` and delivers them where
    /// the routing mode says; returns the recipients' ids and the insights delivered.
    private mutating func route(_ texts: [String], niche: Int, producer: Int,
                                channel: Insight.Channel = .distilled) -> (recipients: [String], delivered: Int) {
        let event = nextEvent
        nextEvent += 1
        let insights = texts.map { text in
            defer { nextInsightID += 1 }
            return Insight(id: nextInsightID, text: text, niche: niche, producer: population.agents[producer].id, event: event, channel: channel)
        }
        keep(insights, niche: niche)
        let snapshot = NicheSnapshot(population: population, niche: niche)
        let deliveries = Codream.route(insights, producer: producer, snapshot: snapshot, population: population,
                                       settings: evolution.codream)
        var delivered = 0
        for (recipient, given) in deliveries {
            Codream.deliver(given, to: recipient, niche: niche, limit: evolution.codream.maxInsightsPerNiche, population: &population)
            delivered += given.count
        }
        return (deliveries.map { population.agents[$0.recipient].id.description }, delivered)
    }

    /// The lifecycle check: prune, merge, fork, seed, each with its reason. New agents
    /// get a persona naming their niche (the operators speak in niche numbers).
    mutating func evolve(round: Int, tasksSeenPerNiche: [Int]) -> [ProtocolEvent] {
        Lifecycle.observe(&population, settings: evolution.lifecycle)
        let decisions = Lifecycle.decide(population: population, settings: evolution.lifecycle, archive: archive,
                                         tasksSeenPerNiche: tasksSeenPerNiche,
                                         duplicateThreshold: evolution.codream.duplicateThreshold)
        var events: [ProtocolEvent] = []
        for decision in decisions {
            let applied = Lifecycle.apply(decision, population: &population, archive: &archive,
                                          keepPerNiche: evolution.codream.maxInsightsPerNiche, step: round)
            if let child = applied.child {
                let names = nicheNames
                Lifecycle.nameSpecialty(of: child, in: &population, names: { names[$0] }, seedPersona: "")
            }
            events.append(ProtocolEvent(.pool(role, decision.kind), "round \(round): \(applied.describe(population))"))
        }
        for niche in archive.keys { keep([], niche: niche) }
        return events
    }

    /// The pool as the dashboard draws it.
    func snapshot(round: Int) -> ProtocolEvent {
        PopulationSnapshot(population, role: role, niches: nicheNames, round: round).event
    }

    /// A niche's archived insights (best first after a cut).
    func archived(niche: Int) -> [Insight] { archive[niche] ?? [] }

    /// Adds insights to a niche's archive, keeping the best `archiveLimit` (or up to twice
    /// as many between cuts).
    private mutating func keep(_ insights: [Insight], niche: Int) {
        Lifecycle.archive(insights, niche: niche, into: &archive, limit: Self.archiveLimit)
    }
}
