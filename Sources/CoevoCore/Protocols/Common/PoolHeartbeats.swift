/// CORAL's heartbeat interventions for one pool of an LLM protocol. `HeartbeatScheduler`
/// decides when they fire (fed every evaluation, in call order); this keeps what fired
/// until the round's end, then turns it into model calls and reads the replies:
/// - **reflect**: the agent looks back at its latest attempts and keeps one lesson for
///   itself (a note on the niche it last worked on);
/// - **consolidate**: the pool's strongest agent merges the lessons the pool holds on
///   its busiest niche into a few skills, which every active agent gets;
/// - **custom** heartbeats ask their own prompt: of one agent (a note for itself) or,
///   scoped global, of the strongest agent (skills for all).
/// Pivots need no call; `AgentPool` applies them as they fire.
struct PoolHeartbeats: Sendable {
    enum Ask: Hashable, Sendable {
        case reflect
        case consolidate
        case custom(name: String, prompt: String)

        var name: String {
            switch self {
            case .reflect: "reflect"
            case .consolidate: "consolidate"
            case .custom(let name, _): name
            }
        }
    }

    /// A heartbeat call in flight: who answers, and who gets what it says.
    struct Pending: Sendable {
        var ask: Ask
        var agent: Int
        var niche: Int
        /// Skills for every active agent (consolidate, global custom), else a note for `agent`.
        var forPool: Bool
    }

    /// Attempts an agent's reflection looks back on.
    static let recentLimit = 3
    /// Lessons a consolidation reads, and skills it may write.
    static let consolidateReads = 8, skillsKept = 3
    /// Token caps: a lesson is a line, skills a few; a model that rambles past its
    /// marker line costs no more than this.
    static let lessonTokens = 48, skillTokens = 96

    private(set) var scheduler: HeartbeatScheduler
    /// Each agent's latest attempts (niche, one line), oldest first.
    private var recent: [Int: [(niche: Int, line: String)]] = [:]
    /// Asks of single agents that fired this round, each once, in the order they fired.
    private var agentAsks: [Int: [Ask]] = [:]
    private var poolAsks: [Ask] = []
    private var pending: [String: Pending] = [:]

    init(settings: HeartbeatSettings) {
        scheduler = HeartbeatScheduler(settings: settings)
    }

    /// Feeds one evaluation; returns the interventions that fired, pivots included, after
    /// queueing those that become calls.
    mutating func evaluated(_ index: Int, id: AgentID, niche: Int, score: Double, attempt: String?) -> [HeartbeatScheduler.Intervention] {
        if let attempt {
            recent[index, default: []].append((niche, attempt))
            if recent[index]!.count > Self.recentLimit { recent[index]!.removeFirst() }
        }
        let fired = scheduler.evaluated(id, niche: niche, score: score)
        for intervention in fired {
            let ask: Ask
            switch intervention.kind {
            case .reflect: ask = .reflect
            case .consolidate: ask = .consolidate
            case .custom(let name): ask = .custom(name: name, prompt: intervention.prompt)
            case .pivot: continue
            }
            if intervention.agent == nil {
                if !poolAsks.contains(ask) { poolAsks.append(ask) }
            } else if !(agentAsks[index]?.contains(ask) ?? false) {
                agentAsks[index, default: []].append(ask)
            }
        }
        return fired
    }

    /// The round's heartbeat calls, agents in `active` order then the pool's; clears what
    /// fired. An agent with no attempt to look back on, or a pool with fewer than two
    /// lessons on any niche, is skipped.
    mutating func calls(round: Int, pool: AgentPool, base: String, maxTokens: Int, temperature: Double, seed: UInt64) -> [AgentCall] {
        defer {
            agentAsks.removeAll()
            poolAsks.removeAll()
        }
        var calls: [AgentCall] = []
        func call(_ key: String, _ agent: Int, niche: Int, prompt: String, _ pending: Pending) {
            calls.append(AgentCall(key: key, role: pool.role, agent: pool.agent(agent).id,
                                   system: pool.systemPrompt(agent, base: base, niches: [niche]), prompt: prompt,
                                   maxTokens: min(maxTokens, pending.forPool ? Self.skillTokens : Self.lessonTokens),
                                   temperature: temperature, runSeed: seed))
            self.pending[key] = pending
        }
        for agent in pool.active {
            guard let asks = agentAsks[agent], let latest = recent[agent]?.last else { continue }
            let attempts = recent[agent]!.map { "- \($0.line)" }.joined(separator: "\n")
            for ask in asks {
                let question: String
                switch ask {
                case .custom(_, let prompt): question = prompt
                default: question = "What worked and what did not?"
                }
                call("r\(round).\(ask.name).\(pool.role).\(pool.agent(agent).id)", agent, niche: latest.niche, prompt: """
                    Your latest attempts:
                    \(attempts)
                    \(question) Write one short lesson for your next attempts, on a line starting with LESSON:
                    """, Pending(ask: ask, agent: agent, niche: latest.niche, forPool: false))
            }
        }
        if !poolAsks.isEmpty, let (niche, lessons) = pool.population.busiestNiche(reading: Self.consolidateReads),
           let strongest = pool.population.strongest(on: niche) {
            let listed = lessons.map { "- \($0)" }.joined(separator: "\n")
            for ask in poolAsks {
                let question: String
                switch ask {
                case .custom(_, let prompt): question = prompt
                default: question = "Merge them into at most \(Self.skillsKept) short, general skills."
                }
                call("r\(round).\(ask.name).\(pool.role)", strongest, niche: niche, prompt: """
                    Lessons your team holds on \(pool.nicheNames[niche]):
                    \(listed)
                    \(question) Write each skill on its own line starting with SKILL:
                    """, Pending(ask: ask, agent: strongest, niche: niche, forPool: true))
            }
        }
        return calls
    }

    /// The call `key` of this pool, taken off the pending list; nil when it is not one.
    mutating func take(_ key: String) -> Pending? {
        pending.removeValue(forKey: key)
    }

    /// The lesson in a reflection: the text after the last `LESSON:` (markdown dropped);
    /// nil without one. Strict on purpose: a reply without the marker is mostly the
    /// prompt echoed or chatter (what SmolLM2 writes), and a note is shown in every later
    /// prompt of its holder.
    static func lesson(in reply: String) -> String? {
        ReplyFormat.line(after: "lesson:", in: reply.replacingOccurrences(of: "*", with: "")).flatMap(ReplyFormat.note)
    }

    /// The skills in a consolidation: the text after `SKILL:` on each line that has the
    /// marker, at most `skillsKept`.
    static func skills(in reply: String) -> [String] {
        ReplyFormat.markedLines("skill:", in: reply, limit: skillsKept)
    }

    /// One summary line: interventions applied per pool, by kind.
    static func summary(_ pools: AgentPool...) -> String {
        pools.map { pool in
            let kinds = pool.interventions.sorted { $0.key < $1.key }.map { "\($0.value) \($0.key)" }
            return "\(pool.role)s: " + (kinds.isEmpty ? "none" : kinds.joined(separator: ", "))
        }.joined(separator: "; ")
    }
}
