import Foundation

/// One role's agents in an LLM protocol (proposers, solvers, attackers, defenders): the
/// population with its per-niche statistics, the insights it holds, and the evolution
/// operators applied to it. All agents share one model; an agent is its persona line,
/// its insights and its record.
struct AgentPool: Sendable {
    let role: String
    let nicheNames: [String]
    let evolution: EvolutionSettings
    private(set) var population: Population
    private var archive: [Int: [Insight]] = [:]
    private var nextInsightID = 1
    private var nextEvent = 1
    private(set) var insightsRouted = 0

    /// Personas given to the initial agents in turn: the population starts diverse.
    init(role: String, size: Int, nicheNames: [String], personas: [String], evolution: EvolutionSettings) {
        self.role = role
        self.nicheNames = nicheNames
        self.evolution = evolution
        population = Population(nicheCount: nicheNames.count)
        for i in 0..<size {
            population.add(role: role, pool: role, lineage: Agent.Lineage(parents: [], operator: .initial, reason: "initial", step: 0),
                           systemPrompt: personas[i % personas.count])
        }
    }

    var active: [Int] { population.activeIndices }
    func agent(_ index: Int) -> Agent { population.agents[index] }

    /// The agent's system prompt: the role's instructions, its persona, and the insights
    /// it holds on `niches` (all niches when nil), most useful first, at most `limit`.
    func systemPrompt(_ index: Int, base: String, niches: [Int]? = nil, limit: Int = 4) -> String {
        let agent = population.agents[index]
        var held: [Insight] = []
        for niche in niches ?? Array(0..<nicheNames.count) { held += agent.insights[niche] ?? [] }
        held.sort { a, b in a.utility != b.utility ? a.utility > b.utility : a.id > b.id }
        held = Array(held.prefix(limit))
        var text = base + " " + agent.systemPrompt
        if !held.isEmpty {
            text += "\nLessons shared by your team:\n" + held.map { "- \($0.text)" }.joined(separator: "\n")
        }
        return text
    }

    mutating func record(_ index: Int, niche: Int, success: Bool) {
        population.record(index, niche: niche, success: success, alpha: evolution.ewmaAlpha)
    }

    /// CODREAM: `producer`'s lesson on `niche` goes to the agents the routing mode picks
    /// (by default those weak on the niche). Returns the event line, or nil when routing
    /// is off or nobody needed it.
    mutating func share(_ text: String, niche: Int, producer: Int, round: Int) -> ProtocolEvent? {
        let event = nextEvent
        nextEvent += 1
        let insight = Insight(id: nextInsightID, text: text, niche: niche, producer: population.agents[producer].id, event: event)
        nextInsightID += 1
        archive[niche, default: []].append(insight)
        let snapshot = NicheSnapshot(population: population, niche: niche)
        let deliveries = Codream.route([insight], producer: producer, snapshot: snapshot, population: population,
                                       settings: evolution.codream)
        guard !deliveries.isEmpty else { return nil }
        for (recipient, given) in deliveries {
            Codream.deliver(given, to: recipient, niche: niche, limit: evolution.codream.maxInsightsPerNiche, population: &population)
            insightsRouted += given.count
        }
        let recipients = deliveries.map { population.agents[$0.recipient].id.description }.joined(separator: ",")
        return ProtocolEvent("\(role)_codream", "round \(round) \(nicheNames[niche]): \(population.agents[producer].id) -> \(recipients): \(text)")
    }

    /// The lifecycle check: prune, merge, fork, seed, each with its reason. New agents
    /// get a persona naming their niche (the operators speak in niche numbers).
    mutating func evolve(round: Int, tasksSeenPerNiche: [Int]) -> [ProtocolEvent] {
        let decisions = Lifecycle.decide(population: population, settings: evolution.lifecycle, archive: archive,
                                         tasksSeenPerNiche: tasksSeenPerNiche)
        var events: [ProtocolEvent] = []
        for decision in decisions {
            let applied = Lifecycle.apply(decision, population: &population, archive: &archive,
                                          keepPerNiche: evolution.codream.maxInsightsPerNiche, step: round)
            if let child = applied.child, let index = population.index(of: child), let niche = population.agents[index].specialty {
                let parentPersona = population.agents[index].lineage.parents.first.flatMap { population.agent($0)?.systemPrompt } ?? ""
                // The parent's own persona, without a specialty it may have had itself.
                let persona = parentPersona.components(separatedBy: " You specialise in").first ?? ""
                population.updateAgent(index) { $0.systemPrompt = "\(persona) You specialise in \(nicheNames[niche])." }
            }
            events.append(ProtocolEvent("\(role)_\(decision.kind)", "round \(round): \(applied.describe(population))"))
        }
        return events
    }
}
