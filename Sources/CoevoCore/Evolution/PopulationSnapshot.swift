import Foundation

/// A pool's agents as the dashboard and the report draw them: who descends from whom
/// (the lineage tree) and how competent each is on each niche (the heatmap). Engines
/// post one as a `population` event at the end of a round or chamber step.
public struct PopulationSnapshot: EventReport, Hashable {
    public static var event: EventKind { .population }

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
    public var members: [Member]

    public init(_ population: Population, role: String, niches: [String], round: Int) {
        self.round = round
        self.role = role
        self.niches = niches
        members = population.agents.indices.map { index in
            let agent = population.agents[index]
            let row = population.statsRow(index)
            return Member(id: agent.id.description, parents: agent.lineage.parents.map(\.description),
                          origin: agent.lineage.operator.rawValue, born: agent.lineage.step, status: agent.status.rawValue,
                          competence: row.map { ($0.competence * 1000).rounded() / 1000 }, attempts: row.map { Int($0.attempts) })
        }
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
