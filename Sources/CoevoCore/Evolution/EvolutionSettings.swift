/// Every threshold of the evolution operators, with the defaults of the architecture
/// guide. `validate(population:)` refuses impossible combinations, naming the field.
public struct EvolutionSettings: Hashable, Sendable {
    public var teamSize = 3
    /// EWMA weight of the newest outcome in an agent's niche competence.
    public var ewmaAlpha = 0.2
    /// Structures the bandit may choose from.
    public var structures: [CollaborationStructure] = CollaborationStructure.allCases
    /// Under-sampled agents the scout is drawn among (a random sample of that size, so a
    /// draw costs the same at 10,000 agents as at 10).
    public var scoutCandidates = 16
    public var codream = CodreamSettings()
    public var lifecycle = LifecycleSettings()
    public var heartbeats = HeartbeatSettings()
    /// The protocols' examples channel, apart from CODREAM: a solved task's worked
    /// example, a kept task, an attack that got through, a defence that held, routed as
    /// they are (no model call) under the same routing mode.
    public var examples = true

    public init() {}

    public func validate(initialPopulation: Int) throws(ConfigError) {
        func require(_ ok: Bool, _ field: String, _ problem: String) throws(ConfigError) {
            if !ok { throw ConfigError(field: field, problem: problem) }
        }
        try require(teamSize >= 1, "evolution.team_size", "must be at least 1 (got \(teamSize))")
        try require(teamSize <= initialPopulation, "evolution.team_size",
                    "is \(teamSize) but the population starts with \(initialPopulation) agents")
        try require(ewmaAlpha > 0 && ewmaAlpha <= 1, "evolution.ewma_alpha", "must be in (0, 1] (got \(ewmaAlpha))")
        try require(!structures.isEmpty, "evolution.structures", "must name at least one structure")
        try require(scoutCandidates >= 1, "evolution.scout_candidates", "must be at least 1")
        try require(codream.maxDistilled >= 0, "evolution.codream.max_insights", "must not be negative")
        try require(codream.maxRecipients >= 0, "evolution.codream.max_recipients", "must not be negative")
        try require(codream.maxInsightsPerNiche >= 1, "evolution.codream.keep_per_niche", "must be at least 1")
        try require((0...1).contains(codream.duplicateThreshold), "evolution.codream.duplicate_similarity", "must be in [0, 1]")
        try require(lifecycle.everyTasks >= 1, "evolution.lifecycle.every_tasks", "must be at least 1")
        try require(lifecycle.minPopulation >= teamSize, "evolution.lifecycle.min_population",
                    "must be at least the team size \(teamSize) (got \(lifecycle.minPopulation))")
        try require(lifecycle.minPopulation <= lifecycle.maxPopulation, "evolution.lifecycle.min_population",
                    "is above max_population (\(lifecycle.minPopulation) > \(lifecycle.maxPopulation))")
        try require((lifecycle.minPopulation...lifecycle.maxPopulation).contains(initialPopulation), "evolution.agents",
                    "starts with \(initialPopulation) agents, outside [min_population, max_population] = [\(lifecycle.minPopulation), \(lifecycle.maxPopulation)]")
        try require((0...1).contains(lifecycle.mergeCosine), "evolution.lifecycle.merge_cosine", "must be in [0, 1]")
        try require(lifecycle.pruneAfterChecks >= 1, "evolution.lifecycle.prune_after_checks", "must be at least 1")
        try require(heartbeats.reflectEvery >= 0, "evolution.heartbeats.reflect_every", "must not be negative (0 turns reflection off)")
        try require(heartbeats.consolidateEvery >= 0, "evolution.heartbeats.consolidate_every", "must not be negative (0 turns consolidation off)")
        try require(heartbeats.pivotAfter >= 0, "evolution.heartbeats.pivot_after", "must not be negative (0 turns pivots off)")
        try require(heartbeats.pivotCooldown >= 0, "evolution.heartbeats.pivot_cooldown", "must not be negative")
        for (i, custom) in heartbeats.custom.enumerated() {
            // The name is part of call keys and event kinds: a plain word, not a built-in's.
            try require(!custom.name.isEmpty && custom.name.allSatisfy { $0.isLetter || $0.isNumber || $0 == "-" || $0 == "_" },
                        "evolution.heartbeats.custom[\(i)].name", "must be a word of letters, digits, '-' or '_' (got '\(custom.name)')")
            try require(!["reflect", "consolidate", "pivot"].contains(custom.name),
                        "evolution.heartbeats.custom[\(i)].name", "'\(custom.name)' is a built-in heartbeat; pick another name")
            try require(custom.every >= 1, "evolution.heartbeats.custom[\(i)].every", "must be at least 1")
        }
    }
}

/// Where CODREAM sends distilled insights. The others are the controls the asymmetric
/// default is measured against: `random-k` and `top-k` deliver to exactly as many agents
/// per event as asymmetric would, so a difference between them and asymmetric is who
/// receives, not how much is delivered; `symmetric` delivers to everyone, `none` to nobody.
public enum RoutingMode: String, CaseIterable, Hashable, Sendable {
    /// To agents below the niche median, weakest first, at most `maxRecipients`.
    case asymmetric
    /// To every active agent but the producer.
    case symmetric
    /// To as many agents as asymmetric would pick, drawn at random (seeded by the event).
    case randomK = "random-k"
    /// To as many agents as asymmetric would pick, the strongest on the niche first.
    case topK = "top-k"
    /// Nowhere: insights are distilled and archived, never delivered.
    case none
}

public struct CodreamSettings: Hashable, Sendable {
    public var routing = RoutingMode.asymmetric
    /// Insights the strongest member distils per event.
    public var maxDistilled = 3
    /// Every member reflects on the task, the answers and the outcome before the
    /// distiller writes (off: the distiller sees the answers and outcome only; one call
    /// per event instead of one per member plus one).
    public var reflect = true
    public var maxRecipients = 4
    /// Insights an agent keeps per niche; the least useful is evicted beyond this.
    public var maxInsightsPerNiche = 8
    /// Word-set Jaccard similarity at or above which an insight counts as already held.
    public var duplicateThreshold = 0.8
    public init() {}
}

public struct LifecycleSettings: Hashable, Sendable {
    /// Completed tasks between lifecycle checks.
    public var everyTasks = 10
    public var minPopulation = 3
    public var maxPopulation = 64
    /// Prune an agent whose mean competence (over niches it has tried) is below this,
    /// once it has `minAttempts` attempts, at `pruneAfterChecks` lifecycle checks in a
    /// row: an EWMA dips after a bad streak, and one dip is no reason to retire an agent.
    public var pruneBelow = 0.3
    public var minAttempts = 10
    public var pruneAfterChecks = 3
    /// Fork an unspecialised agent whose mean competence is at least this.
    public var forkAbove = 0.65
    /// Merge two agents whose competence profiles have a cosine above this.
    public var mergeCosine = 0.93
    /// A niche is covered when an active agent has this competence on it after 3 attempts;
    /// an uncovered niche that has seen `seedAfterTasks` tasks gets a seeded agent.
    public var coverage = 0.5
    public var seedAfterTasks = 20
    public init() {}
}

public struct HeartbeatSettings: Hashable, Sendable {
    /// Reflect after every N evaluations of an agent (CORAL: 1). For each of the three, 0
    /// turns the intervention off.
    public var reflectEvery = 1
    /// Consolidate every N evaluations across the pool.
    public var consolidateEvery = 10
    /// Pivot an agent after N evaluations without a personal best...
    public var pivotAfter = 5
    /// ...and not again for N evaluations of it.
    public var pivotCooldown = 5
    public var custom: [CustomHeartbeat] = []
    public init() {}
}

/// A heartbeat from the config: `every` evaluations (of one agent or of the pool), or
/// after `every` evaluations without a personal best (plateau).
public struct CustomHeartbeat: Hashable, Sendable {
    public enum Scope: String, CaseIterable, Hashable, Sendable { case global, agent }
    public enum Trigger: String, CaseIterable, Hashable, Sendable { case interval, plateau }
    public var name: String
    public var every: Int
    public var scope: Scope
    public var trigger: Trigger
    public var prompt: String
    public init(name: String, every: Int, scope: Scope, trigger: Trigger, prompt: String) {
        self.name = name
        self.every = every
        self.scope = scope
        self.trigger = trigger
        self.prompt = prompt
    }
}
