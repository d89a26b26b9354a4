import Foundation

/// A pool's agents as the dashboard and the report draw them: who descends from whom
/// (the lineage tree) and how competent each is on each niche (the heatmap). Engines
/// post one as a `population` event at the end of a round or chamber step.
///
/// Bounded: a pool of more than `memberLimit` agents shows its best `memberLimit`
/// (active first, then by their best competence on a niche they have tried), so a
/// snapshot costs the same at 10,000 agents as at 128; no picture shows more rows.
public struct PopulationSnapshot: EventReport, Hashable {
    public static var event: EventKind { .population }
    /// The most agents a snapshot holds.
    public static let memberLimit = 128

    public struct Member: Codable, Hashable, Sendable {
        public var id: String
        public var parents: [String]
        /// initial, fork, merge or seed.
        public var origin: String
        /// The round or step it was made at (0 for the first population).
        public var born: Int
        /// active, pruned or merged.
        public var status: String
        /// Competence per niche, rounded to 3 decimals.
        public var competence: [Double]
        /// Attempts per niche: a competence of 0.5 from no attempt is a prior, not a figure.
        public var attempts: [Int]
    }

    public var round: Int
    public var role: String
    public var niches: [String]
    /// The agents shown, in the pool's order.
    public var members: [Member]
    /// Agents of the pool not shown (nil: none left out).
    public var omitted: Int?

    public init(_ population: Population, role: String, niches: [String], round: Int) {
        self.round = round
        self.role = role
        self.niches = niches
        let shown = Self.shown(population)
        if shown.count < population.agents.count { omitted = population.agents.count - shown.count }
        members = shown.map { index in
            let agent = population.agents[index]
            let row = population.profile(index)
            return Member(id: agent.id.description, parents: agent.lineage.parents.map(\.description),
                          origin: agent.lineage.operator.rawValue, born: agent.lineage.step, status: agent.status.rawValue,
                          competence: row.map { ($0.competence * 1000).rounded() / 1000 }, attempts: row.map { Int($0.attempts) })
        }
    }

    /// The indices of the agents a snapshot shows, ascending: all of a pool of at most
    /// `memberLimit`, else the best `memberLimit` (active before retired, then by best
    /// competence on a tried niche, then the older).
    static func shown(_ population: Population) -> [Int] {
        let count = population.agents.count
        guard count > memberLimit else { return Array(0..<count) }
        var active = [Bool](repeating: false, count: count)
        for index in population.activeIndices { active[index] = true }
        var ranked = population.withStats { stats in
            (0..<count).map { index in
                var top = -1.0
                for stat in stats[(index * population.nicheCount)..<((index + 1) * population.nicheCount)] where stat.attempts > 0 {
                    top = max(top, stat.competence)
                }
                return (index: index, active: active[index], best: top)
            }
        }
        ranked.sort { a, b in
            if a.active != b.active { return a.active }
            return a.best != b.best ? a.best > b.best : a.index < b.index
        }
        return ranked.prefix(memberLimit).map(\.index).sorted()
    }
}

/// Who CODREAM gave a failure's insights to: one `insight_flow` event per routed event.
public struct InsightFlow: EventReport, Hashable {
    public static var event: EventKind { .insightFlow }

    public var round: Int
    public var role: String
    public var niche: String
    public var from: String
    public var to: [String]
    public var insights: Int

    public init(round: Int, role: String, niche: String, from: String, to: [String], insights: Int) {
        self.round = round
        self.role = role
        self.niche = niche
        self.from = from
        self.to = to
        self.insights = insights
    }
}
