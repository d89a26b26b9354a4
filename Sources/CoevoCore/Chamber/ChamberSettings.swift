/// An EvoChamber-style experiment: a stream of tasks labelled with niches, answered by
/// teams of a co-evolving population.
public struct ChamberSettings: Hashable, Sendable {
    public enum Mix: String, Hashable, Sendable, CaseIterable {
        /// Every niche equally likely.
        case uniform
        /// Niche k (in the current rotation) has weight 1 / (k + 1).
        case zipf
    }

    /// Who answers the agents' turns.
    public enum Backend: String, Hashable, Sendable, CaseIterable {
        /// The built-in simulator (`sim.turn` jobs): large-scale studies.
        case simulator
        /// A real model (`llm.chat` jobs on the `agent` pool) on `ChamberTaskBank`'s tasks.
        case model
    }

    public var seed: UInt64 = 42
    public var backend = Backend.simulator
    /// For the model backend: tokens and temperature of each turn.
    public var maxTokens = 64
    public var temperature = 0.7
    public var niches = 8
    /// Agents at the start, all alike (the same model and prompt).
    public var agents = 12
    public var tasksPerStep = 32
    public var steps = 60
    public var mix = Mix.uniform
    /// Rotate the niche weights by one every N steps (0: never), to study drift.
    public var driftEvery = 0
    public var evolution = EvolutionSettings()
    public var simulator = SimulatedWorld.Parameters()

    public init() {}

    public func validate() throws(ConfigError) {
        func require(_ ok: Bool, _ field: String, _ problem: String) throws(ConfigError) {
            if !ok { throw ConfigError(field: field, problem: problem) }
        }
        try require(niches >= 1 && niches <= 4096, "chamber.niches", "must be between 1 and 4096 (got \(niches))")
        try require(agents >= 1, "chamber.agents", "must be at least 1 (got \(agents))")
        try require(tasksPerStep >= 1, "chamber.tasks_per_step", "must be at least 1 (got \(tasksPerStep))")
        try require(steps >= 1, "chamber.steps", "must be at least 1 (got \(steps))")
        try require(backend == .simulator || niches <= ChamberTaskBank.niches.count, "chamber.niches",
                    "the model backend has \(ChamberTaskBank.niches.count) built-in niches (\(ChamberTaskBank.niches.joined(separator: ", "))); got \(niches)")
        try require((1...4096).contains(maxTokens), "chamber.max_tokens", "must be between 1 and 4096")
        try require(driftEvery >= 0, "chamber.drift_every", "must not be negative (got \(driftEvery))")
        try require(simulator.lessonsPerNiche >= 1, "chamber.simulator.lessons_per_niche", "must be at least 1")
        try require(simulator.steepness > 0, "chamber.simulator.steepness", "must be positive")
        try require(simulator.agentSpread >= 0 && simulator.nicheSpread >= 0 && simulator.difficultySpread >= 0
                        && simulator.gapSpread >= 0, "chamber.simulator", "spreads must not be negative")
        try require((1...64).contains(simulator.modes), "chamber.simulator.modes", "must be between 1 and 64 (got \(simulator.modes))")
        try require(simulator.lessonsPerNiche >= simulator.modes, "chamber.simulator.lessons_per_niche",
                    "must be at least modes (\(simulator.modes)): every mode needs a lesson")
        for (value, field) in [(simulator.wrongShare, "wrong_share"), (simulator.middleLoss, "middle_loss"),
                               (simulator.correlation, "correlation"), (simulator.conformity, "conformity")] {
            try require((0...1).contains(value), "chamber.simulator.\(field)", "must be between 0 and 1 (got \(value))")
        }
        try require(simulator.distraction >= 0 && simulator.lengthPenalty >= 0 && simulator.insightTokens >= 0,
                    "chamber.simulator", "distraction, length_penalty and insight_tokens must not be negative")
        try evolution.validate(initialPopulation: agents)
    }
}
