/// YAML mapping of the `chamber`, `evolution` and `simulator` sections: snake_case keys,
/// every field optional (the defaults of the settings types), unknown keys refused by
/// name. The chamber's seed, evolution and simulator settings come from the top-level
/// `run.seed`, `evolution` and `simulator` sections (see `ExperimentConfig`).

extension ChamberSettings: Decodable {
    enum CodingKeys: String, CodingKey, CaseIterable {
        case niches, agents, steps, mix, backend, temperature
        case tasksPerStep = "tasks_per_step"
        case driftEvery = "drift_every"
        case maxTokens = "max_tokens"
    }

    public init(from decoder: any Decoder) throws {
        try decoder.rejectUnknownKeys(CodingKeys.self)
        let c = try decoder.container(keyedBy: CodingKeys.self)
        self.init()
        niches = try c.value(.niches, niches)
        agents = try c.value(.agents, agents)
        steps = try c.value(.steps, steps)
        tasksPerStep = try c.value(.tasksPerStep, tasksPerStep)
        driftEvery = try c.value(.driftEvery, driftEvery)
        mix = try c.choice(.mix, mix, noun: "mix", field: "chamber.mix")
        backend = try c.choice(.backend, backend, noun: "backend", field: "chamber.backend")
        maxTokens = try c.value(.maxTokens, maxTokens)
        temperature = try c.value(.temperature, temperature)
    }

}

extension EvolutionSettings: Decodable {
    enum CodingKeys: String, CodingKey, CaseIterable {
        case structures, codream, lifecycle, heartbeats, examples
        case teamSize = "team_size"
        case ewmaAlpha = "ewma_alpha"
        case scoutCandidates = "scout_candidates"
    }

    public init(from decoder: any Decoder) throws {
        try decoder.rejectUnknownKeys(CodingKeys.self)
        let c = try decoder.container(keyedBy: CodingKeys.self)
        self.init()
        teamSize = try c.value(.teamSize, teamSize)
        ewmaAlpha = try c.value(.ewmaAlpha, ewmaAlpha)
        scoutCandidates = try c.value(.scoutCandidates, scoutCandidates)
        if let names = try c.decodeIfPresent([String].self, forKey: .structures) {
            structures = try names.map { try ConfigError.choice($0, noun: "structure", field: "evolution.structures") }
        }
        codream = try c.value(.codream, codream)
        lifecycle = try c.value(.lifecycle, lifecycle)
        heartbeats = try c.value(.heartbeats, heartbeats)
        examples = try c.value(.examples, examples)
    }

}

extension CodreamSettings: Decodable {
    enum CodingKeys: String, CodingKey, CaseIterable {
        case routing, reflect
        case maxDistilled = "max_insights"
        case maxRecipients = "max_recipients"
        case maxInsightsPerNiche = "keep_per_niche"
        case duplicateThreshold = "duplicate_similarity"
    }

    public init(from decoder: any Decoder) throws {
        try decoder.rejectUnknownKeys(CodingKeys.self)
        let c = try decoder.container(keyedBy: CodingKeys.self)
        self.init()
        routing = try c.choice(.routing, routing, noun: "routing mode", field: "evolution.codream.routing")
        maxDistilled = try c.value(.maxDistilled, maxDistilled)
        reflect = try c.value(.reflect, reflect)
        maxRecipients = try c.value(.maxRecipients, maxRecipients)
        maxInsightsPerNiche = try c.value(.maxInsightsPerNiche, maxInsightsPerNiche)
        duplicateThreshold = try c.value(.duplicateThreshold, duplicateThreshold)
    }

}

extension LifecycleSettings: Decodable {
    enum CodingKeys: String, CodingKey, CaseIterable {
        case coverage
        case everyTasks = "every_tasks"
        case minPopulation = "min_population"
        case maxPopulation = "max_population"
        case pruneBelow = "prune_below"
        case minAttempts = "min_attempts"
        case pruneAfterChecks = "prune_after_checks"
        case forkAbove = "fork_above"
        case mergeCosine = "merge_cosine"
        case seedAfterTasks = "seed_after_tasks"
    }

    public init(from decoder: any Decoder) throws {
        try decoder.rejectUnknownKeys(CodingKeys.self)
        let c = try decoder.container(keyedBy: CodingKeys.self)
        self.init()
        everyTasks = try c.value(.everyTasks, everyTasks)
        minPopulation = try c.value(.minPopulation, minPopulation)
        maxPopulation = try c.value(.maxPopulation, maxPopulation)
        pruneBelow = try c.value(.pruneBelow, pruneBelow)
        minAttempts = try c.value(.minAttempts, minAttempts)
        pruneAfterChecks = try c.value(.pruneAfterChecks, pruneAfterChecks)
        forkAbove = try c.value(.forkAbove, forkAbove)
        mergeCosine = try c.value(.mergeCosine, mergeCosine)
        coverage = try c.value(.coverage, coverage)
        seedAfterTasks = try c.value(.seedAfterTasks, seedAfterTasks)
    }

}

extension HeartbeatSettings: Decodable {
    enum CodingKeys: String, CodingKey, CaseIterable {
        case custom
        case reflectEvery = "reflect_every"
        case consolidateEvery = "consolidate_every"
        case pivotAfter = "pivot_after"
        case pivotCooldown = "pivot_cooldown"
    }

    public init(from decoder: any Decoder) throws {
        try decoder.rejectUnknownKeys(CodingKeys.self)
        let c = try decoder.container(keyedBy: CodingKeys.self)
        self.init()
        reflectEvery = try c.value(.reflectEvery, reflectEvery)
        consolidateEvery = try c.value(.consolidateEvery, consolidateEvery)
        pivotAfter = try c.value(.pivotAfter, pivotAfter)
        pivotCooldown = try c.value(.pivotCooldown, pivotCooldown)
        custom = try c.value(.custom, custom)
    }

}

extension CustomHeartbeat: Decodable {
    enum CodingKeys: String, CodingKey, CaseIterable { case name, every, scope, trigger, prompt }

    public init(from decoder: any Decoder) throws {
        try decoder.rejectUnknownKeys(CodingKeys.self)
        let c = try decoder.container(keyedBy: CodingKeys.self)
        let scope = try c.choice(.scope, Scope.agent, noun: "scope", field: "evolution.heartbeats.custom.scope")
        let trigger = try c.choice(.trigger, Trigger.interval, noun: "trigger", field: "evolution.heartbeats.custom.trigger")
        self.init(name: try c.value(.name, ""), every: try c.value(.every, 10), scope: scope, trigger: trigger,
                  prompt: try c.value(.prompt, ""))
    }

}

extension SimulatedWorld.Parameters: Decodable {
    enum CodingKeys: String, CodingKey, CaseIterable {
        case steepness
        case nicheSpread = "niche_spread"
        case agentSpread = "agent_spread"
        case forkMutation = "fork_mutation"
        case difficultySpread = "difficulty_spread"
        case insightWeight = "insight_weight"
        case lessonsPerNiche = "lessons_per_niche"
        case falseAlarm = "false_alarm"
        case modes, distraction, correlation, conformity
        case gapSpread = "gap_spread"
        case wrongShare = "wrong_share"
        case lengthPenalty = "length_penalty"
        case middleLoss = "middle_loss"
        case insightTokens = "insight_tokens"
    }

    public init(from decoder: any Decoder) throws {
        try decoder.rejectUnknownKeys(CodingKeys.self)
        let c = try decoder.container(keyedBy: CodingKeys.self)
        self.init()
        nicheSpread = try c.value(.nicheSpread, nicheSpread)
        agentSpread = try c.value(.agentSpread, agentSpread)
        forkMutation = try c.value(.forkMutation, forkMutation)
        difficultySpread = try c.value(.difficultySpread, difficultySpread)
        steepness = try c.value(.steepness, steepness)
        insightWeight = try c.value(.insightWeight, insightWeight)
        lessonsPerNiche = try c.value(.lessonsPerNiche, lessonsPerNiche)
        falseAlarm = try c.value(.falseAlarm, falseAlarm)
        modes = try c.value(.modes, modes)
        gapSpread = try c.value(.gapSpread, gapSpread)
        wrongShare = try c.value(.wrongShare, wrongShare)
        distraction = try c.value(.distraction, distraction)
        lengthPenalty = try c.value(.lengthPenalty, lengthPenalty)
        middleLoss = try c.value(.middleLoss, middleLoss)
        correlation = try c.value(.correlation, correlation)
        conformity = try c.value(.conformity, conformity)
        insightTokens = try c.value(.insightTokens, insightTokens)
    }

}

