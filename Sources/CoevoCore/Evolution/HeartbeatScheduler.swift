/// CORAL's heartbeat interventions as a pure state machine: feed it each evaluation of an
/// agent (its score) and it says which interventions fire: reflect (after every N of the
/// agent's evaluations), consolidate (every N evaluations across the pool), pivot (N
/// evaluations in a row without a personal best, then a cooldown), and custom heartbeats.
/// A personal best is per niche: a score is compared with the agent's best on the niche
/// it was earned on, not with a best from an easier or harder niche.
public struct HeartbeatScheduler: Hashable, Sendable {
    public struct Intervention: Hashable, Sendable {
        public enum Kind: Hashable, Sendable {
            case reflect, consolidate, pivot
            case custom(String)
        }
        public var kind: Kind
        /// nil for pool-wide interventions.
        public var agent: AgentID?
        public var prompt: String
    }

    struct AgentState: Hashable, Sendable {
        var evaluations = 0
        var best: [Int: Double] = [:]
        var sinceBest = 0
        /// Evaluations left before another pivot may fire.
        var cooldown = 0
    }

    public let settings: HeartbeatSettings
    private var total = 0
    private var agents: [AgentID: AgentState] = [:]

    public init(settings: HeartbeatSettings) {
        self.settings = settings
    }

    public mutating func evaluated(_ agent: AgentID, niche: Int = 0, score: Double) -> [Intervention] {
        total += 1
        var state = agents[agent] ?? AgentState()
        state.evaluations += 1
        if score > state.best[niche, default: -Double.infinity] {
            state.best[niche] = score
            state.sinceBest = 0
        } else {
            state.sinceBest += 1
        }
        if state.cooldown > 0 { state.cooldown -= 1 }

        var fired: [Intervention] = []
        if settings.reflectEvery > 0 && state.evaluations % settings.reflectEvery == 0 {
            fired.append(Intervention(kind: .reflect, agent: agent, prompt: "Reflect on your last attempt: what worked, what did not?"))
        }
        if settings.pivotAfter > 0 && state.sinceBest >= settings.pivotAfter && state.cooldown == 0 {
            fired.append(Intervention(kind: .pivot, agent: agent,
                                      prompt: "\(state.sinceBest) attempts without a new best: try a different approach."))
            state.cooldown = settings.pivotCooldown
            state.sinceBest = 0
        }
        if settings.consolidateEvery > 0 && total % settings.consolidateEvery == 0 {
            fired.append(Intervention(kind: .consolidate, agent: nil, prompt: "Consolidate the pool's notes into skills."))
        }
        for custom in settings.custom {
            switch (custom.scope, custom.trigger) {
            case (.global, .interval) where total % custom.every == 0,
                 (.agent, .interval) where state.evaluations % custom.every == 0:
                fired.append(Intervention(kind: .custom(custom.name), agent: custom.scope == .agent ? agent : nil, prompt: custom.prompt))
            case (_, .plateau) where state.sinceBest > 0 && state.sinceBest % custom.every == 0:
                fired.append(Intervention(kind: .custom(custom.name), agent: agent, prompt: custom.prompt))
            default:
                break
            }
        }
        agents[agent] = state
        return fired
    }
}
