/// The `proposer_solver` section of a config: the R-Zero / Absolute Zero style loop.
public struct ProposerSolverSettings: Hashable, Sendable {
    public var rounds = 3
    public var proposers = 4
    public var solvers = 4
    /// Tasks each proposer writes per round.
    public var tasksPerProposer = 2
    /// Attempts per task (k): each by a different solver while there are enough. R-Zero
    /// samples 10: with k attempts a solve rate is a multiple of 1/k, and the default band
    /// 0.3-0.8 keeps six values at k = 10 against two at k = 4.
    public var attempts = 10
    public var reward = ProposerReward.rZero
    /// Added to a readable proposal's reward (Dr. Zero's format score); nil: 0.1 under
    /// `dr-zero`, 0 under the others.
    public var formatScore: Double?
    public var effectiveFormatScore: Double { formatScore ?? (reward == .drZero ? 0.1 : 0) }
    /// Tasks whose solve rate lies in this band are kept (exported as training tasks).
    public var band: ClosedRange<Double> = 0.3...0.8
    /// Category names (see `TaskCategory.builtIn`); they are the niches.
    public var categories: [String] = TaskCategory.builtIn.map(\.name)
    /// A task whose word-set similarity to an earlier task is at least this is a near
    /// duplicate: it earns `duplicatePenalty` less reward and is not kept.
    public var duplicateSimilarity = 0.9
    public var duplicatePenalty = 1.0
    public var maxTokens = 96
    public var proposerTemperature = 1.0
    public var solverTemperature = 0.7
    /// Filled from the run section.
    public var seed: UInt64 = 42

    public init() {}

    public func validate() throws(ConfigError) {
        func require(_ ok: Bool, _ field: String, _ problem: String) throws(ConfigError) {
            if !ok { throw ConfigError(field: "proposer_solver.\(field)", problem: problem) }
        }
        try require((1...10_000).contains(rounds), "rounds", "must be between 1 and 10000 (got \(rounds))")
        try require((1...10_000).contains(proposers), "proposers", "must be between 1 and 10000 (got \(proposers))")
        try require((1...10_000).contains(solvers), "solvers", "must be between 1 and 10000 (got \(solvers))")
        try require((1...100).contains(tasksPerProposer), "tasks_per_proposer", "must be between 1 and 100 (got \(tasksPerProposer))")
        try require((2...64).contains(attempts), "attempts", "must be between 2 and 64: a solve rate needs several attempts (got \(attempts))")
        try require(band.lowerBound >= 0 && band.upperBound <= 1, "band", "must lie within [0, 1]")
        try require((0...1).contains(effectiveFormatScore), "format_score", "must be between 0 and 1 (got \(effectiveFormatScore))")
        try require(!categories.isEmpty, "categories", "must name at least one category")
        for name in categories {
            try require(TaskCategory.named(name) != nil, "categories",
                        "unknown category '\(name)' (expected some of: \(TaskCategory.builtIn.map(\.name).joined(separator: ", ")))")
        }
        try require((0...1).contains(duplicateSimilarity), "duplicate_similarity", "must be between 0 and 1")
        try require((0...1).contains(duplicatePenalty), "duplicate_penalty", "must be between 0 and 1")
        try require((1...4096).contains(maxTokens), "max_tokens", "must be between 1 and 4096")
    }
}

extension ProposerSolverSettings: Decodable {
    enum CodingKeys: String, CodingKey, CaseIterable {
        case rounds, proposers, solvers, attempts, reward, band, categories
        case tasksPerProposer = "tasks_per_proposer"
        case duplicateSimilarity = "duplicate_similarity"
        case duplicatePenalty = "duplicate_penalty"
        case maxTokens = "max_tokens"
        case formatScore = "format_score"
        case proposerTemperature = "proposer_temperature"
        case solverTemperature = "solver_temperature"
    }

    public init(from decoder: any Decoder) throws {
        try decoder.rejectUnknownKeys(CodingKeys.self)
        let c = try decoder.container(keyedBy: CodingKeys.self)
        self.init()
        rounds = try c.value(.rounds, rounds)
        proposers = try c.value(.proposers, proposers)
        solvers = try c.value(.solvers, solvers)
        tasksPerProposer = try c.value(.tasksPerProposer, tasksPerProposer)
        attempts = try c.value(.attempts, attempts)
        reward = try c.choice(.reward, reward, noun: "reward", field: "proposer_solver.reward")
        formatScore = try c.decodeIfPresent(Double.self, forKey: .formatScore)
        let bounds = try c.value(.band, [band.lowerBound, band.upperBound])
        guard bounds.count == 2, bounds[0] <= bounds[1] else {
            throw ConfigError(field: "proposer_solver.band", problem: "must be [low, high] with low <= high (got \(bounds))")
        }
        band = bounds[0]...bounds[1]
        categories = try c.value(.categories, categories)
        duplicateSimilarity = try c.value(.duplicateSimilarity, duplicateSimilarity)
        duplicatePenalty = try c.value(.duplicatePenalty, duplicatePenalty)
        maxTokens = try c.value(.maxTokens, maxTokens)
        proposerTemperature = try c.value(.proposerTemperature, proposerTemperature)
        solverTemperature = try c.value(.solverTemperature, solverTemperature)
    }
}
