/// One agent of a population: the same model as every other, made different by its
/// system prompt, its insights and its history.
public struct Agent: Hashable, Sendable {
    public enum Status: String, Hashable, Sendable { case active, pruned, merged }

    /// How the agent came to be.
    public struct Lineage: Hashable, Sendable {
        public enum Operator: String, Hashable, Sendable { case initial, fork, merge, seed }
        public var parents: [AgentID]
        public var `operator`: Operator
        public var reason: String
        public var step: Int
        public init(parents: [AgentID], operator: Operator, reason: String, step: Int) {
            self.parents = parents
            self.operator = `operator`
            self.reason = reason
            self.step = step
        }
    }

    public var id: AgentID
    public var role: String
    public var pool: String
    public var lineage: Lineage
    public var systemPrompt: String
    /// Insights held, by niche; at most `CodreamSettings.maxInsightsPerNiche` each.
    public var insights: [Int: [Insight]]
    public var status: Status
    /// The niche a fork or seed was made for, if any.
    public var specialty: Int?
    /// Lifecycle checks in a row at which it was below the prune bar (`Lifecycle.observe`).
    public var checksBelowPruneBar = 0

    public init(id: AgentID, role: String, pool: String, lineage: Lineage, systemPrompt: String,
                insights: [Int: [Insight]] = [:], status: Status = .active, specialty: Int? = nil) {
        self.id = id
        self.role = role
        self.pool = pool
        self.lineage = lineage
        self.systemPrompt = systemPrompt
        self.insights = insights
        self.status = status
        self.specialty = specialty
    }
}
