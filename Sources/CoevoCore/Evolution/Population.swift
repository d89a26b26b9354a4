/// Agents and their per-niche statistics, stored flat (agent-major) so a competence
/// profile is one contiguous slice and a 10,000 x 64 population stays cache friendly.
public struct Population: Sendable {
    public let nicheCount: Int
    public private(set) var agents: [Agent] = []
    private var stats: [NicheStats] = []
    private var indexByID: [AgentID: Int] = [:]
    /// Indices of active agents, ascending.
    public private(set) var activeIndices: [Int] = []
    private var nextID = 1

    public init(nicheCount: Int) {
        precondition(nicheCount > 0)
        self.nicheCount = nicheCount
    }

    public var activeCount: Int { activeIndices.count }

    /// Adds an agent with the next id; `stats` defaults to the prior on every niche.
    @discardableResult
    public mutating func add(role: String, pool: String, lineage: Agent.Lineage, systemPrompt: String,
                             insights: [Int: [Insight]] = [:], specialty: Int? = nil,
                             stats initial: [NicheStats]? = nil) -> AgentID {
        let id = AgentID(nextID)
        nextID += 1
        let index = agents.count
        agents.append(Agent(id: id, role: role, pool: pool, lineage: lineage, systemPrompt: systemPrompt,
                            insights: insights, specialty: specialty))
        stats.append(contentsOf: initial ?? Array(repeating: NicheStats(), count: nicheCount))
        indexByID[id] = index
        activeIndices.append(index)
        return id
    }

    public func index(of id: AgentID) -> Int? { indexByID[id] }
    public func agent(_ id: AgentID) -> Agent? { indexByID[id].map { agents[$0] } }

    public func stats(_ index: Int, _ niche: Int) -> NicheStats { stats[index * nicheCount + niche] }

    public mutating func record(_ index: Int, niche: Int, success: Bool, alpha: Double) {
        stats[index * nicheCount + niche].record(success: success, alpha: alpha)
    }

    /// The agent's competence on every niche.
    public func profile(_ index: Int) -> ArraySlice<NicheStats> {
        stats[(index * nicheCount)..<((index + 1) * nicheCount)]
    }

    public func statsRow(_ index: Int) -> [NicheStats] { Array(profile(index)) }

    /// All statistics, agent-major (`index * nicheCount + niche`), for hot loops.
    public func withStats<R>(_ body: (UnsafeBufferPointer<NicheStats>) throws -> R) rethrows -> R {
        try stats.withUnsafeBufferPointer(body)
    }

    /// Mean competence per niche over the active agents.
    public func competenceMeans() -> [Double] {
        var sums = Array(repeating: 0.0, count: nicheCount)
        for index in activeIndices {
            let base = index * nicheCount
            for n in 0..<nicheCount { sums[n] += stats[base + n].competence }
        }
        let count = Double(max(1, activeIndices.count))
        return sums.map { $0 / count }
    }

    /// Cosine similarity of two agents' competence profiles, each centred on `center`
    /// (the population's mean per niche). Raw competences are all positive and start at
    /// the same prior, so uncentred profiles look alike for everyone; centred, they
    /// compare what sets two agents apart.
    public func profileCosine(_ a: Int, _ b: Int, center: [Double]) -> Double {
        var dot = 0.0, na = 0.0, nb = 0.0
        let baseA = a * nicheCount, baseB = b * nicheCount
        for n in 0..<nicheCount {
            let x = stats[baseA + n].competence - center[n], y = stats[baseB + n].competence - center[n]
            dot += x * y
            na += x * x
            nb += y * y
        }
        guard na > 0, nb > 0 else { return na == nb ? 1 : 0 }
        return dot / (na.squareRoot() * nb.squareRoot())
    }

    public mutating func updateAgent(_ index: Int, _ change: (inout Agent) -> Void) {
        change(&agents[index])
    }

    /// Credits the insights an agent was shown on a niche with the *advantage* of its
    /// outcome there: how much better it did than its competence predicted (`outcome -
    /// predicted`, `predicted` being the competence before this outcome), as an EWMA (0.2)
    /// starting from 0. A weak agent succeeding while shown an insight credits it much, a
    /// strong one little, and a failure costs it what was expected; so utility measures
    /// what an insight adds, not its holder's skill or how long it has been held. Utility
    /// orders insights in prompts and decides which one is evicted.
    ///
    /// `shown`: how many of the agent's insights on the niche, per channel, its prompt shows,
    /// most useful first (nil: all); only those are credited.
    public mutating func creditInsights(of index: Int, niche: Int, outcome: Double, predicted: Double, shown: Int? = nil) {
        guard var held = agents[index].insights[niche], !held.isEmpty else { return }
        let advantage = outcome - predicted
        for i in held.shownIndices(limit: shown) {
            held[i].utility += 0.2 * (advantage - held[i].utility)
            held[i].uses += 1
        }
        agents[index].insights[niche] = held
    }

    /// A pivot's first step: the agent lets go of its least useful insight on the niche.
    @discardableResult
    public mutating func dropLeastUsefulInsight(of index: Int, niche: Int) -> Insight? {
        guard var held = agents[index].insights[niche], !held.isEmpty else { return nil }
        let worst = held.indices.min { held[$0].utility < held[$1].utility }!
        defer { agents[index].insights[niche] = held }
        return held.remove(at: worst)
    }

    /// Takes an agent out of play (pruned or merged); it stays for lineage.
    /// The niche on which the active agents hold the most distinct lessons (the lowest
    /// niche on a tie), with up to `reading` of them, most useful first; nil when no niche
    /// has two. What a consolidation merges.
    public func busiestNiche(reading: Int) -> (niche: Int, lessons: [String])? {
        // Count first; sort only the winner's lessons (with thousands of agents, sorting
        // every niche's was most of a chamber step's consolidation cost).
        var busiest: Int?
        var bestCount = 1
        for niche in 0..<nicheCount {
            var distinct = Set<String>()
            for agent in activeIndices {
                for insight in agents[agent].insights[niche] ?? [] { distinct.insert(insight.text) }
            }
            if distinct.count > bestCount {
                bestCount = distinct.count
                busiest = niche
            }
        }
        guard let niche = busiest else { return nil }
        var all: [Insight] = []
        for agent in activeIndices { all += agents[agent].insights[niche] ?? [] }
        all.sort { a, b in a.utility != b.utility ? a.utility > b.utility : a.id > b.id }
        var seen = Set<String>()
        return (niche, Array(all.map(\.text).filter { seen.insert($0).inserted }.prefix(reading)))
    }

    /// The active agent with the highest competence on `niche` among those with at least
    /// `minAttempts` attempts there (the earliest on a tie), or nil.
    public func strongest(on niche: Int, minAttempts: Int = 0) -> Int? {
        activeIndices.filter { stats($0, niche).attempts >= minAttempts }.max { a, b in
            let x = stats(a, niche).competence, y = stats(b, niche).competence
            return x != y ? x < y : a > b
        }
    }

    public mutating func retire(_ index: Int, as status: Agent.Status) {
        agents[index].status = status
        if let position = activeIndices.firstIndex(of: index) { activeIndices.remove(at: position) }
    }
}
