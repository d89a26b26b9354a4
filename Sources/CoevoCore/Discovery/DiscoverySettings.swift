/// A discovery pool (`discovery:` in a config): agents that improve a task's files over
/// rounds, each submission graded by a separate grader process, all of them sharing the
/// attempts, notes and skills of the pool. The task's files are read by `ConfigLoader`
/// (`seedFiles`, `graderFiles`), so a broken path is a config error before anything starts.
public struct DiscoverySettings: Decodable, Hashable, Sendable {
    public var task = Task()
    public var agents: [AgentGroup] = [AgentGroup()]
    /// Rounds: in each, every agent takes one step and its submission is graded.
    public var rounds = 10
    /// Stop after this many graded attempts (0: no limit but the rounds).
    public var maxEvaluations = 0
    /// Stop once the pool's best score reaches this (in the task's direction).
    public var targetScore: Double?
    /// Stop after the round in which the agents' reported tokens reach this (0: no limit).
    public var maxTokens = 0
    /// Stop after the round in which the agents' cost reaches this many USD (0: no limit):
    /// what the agent reports (claude-code, opencode, mini-swe-agent), else its tokens at
    /// its endpoint's prices.
    public var maxUSD = 0.0
    /// Stop after the first round that ends this many seconds after the run was created,
    /// time the coordinator was down included (0: no limit). A round is never cut short.
    public var maxWallSeconds = 0.0
    /// Longest an agent's step may take, and longest it may go without output (0: no watchdog).
    public var stepTimeoutMilliseconds = 600_000
    public var stallMilliseconds = 0
    /// What each step may use of its worker.
    public var limits = StepLimits()
    public var heartbeats = Heartbeats()
    public var health = Health()
    /// Set by the loader: the seed directory's files (the first commit of every agent) and
    /// the grader directory's (given to grade jobs only, never to an agent's workspace).
    public var seedFiles: [DiscoveryFile] = []
    public var graderFiles: [DiscoveryFile] = []
    /// The run's seed (set from `run.seed`).
    public var seed: UInt64 = 42

    public enum Runtime: String, CaseIterable, Hashable, Sendable, Codable {
        /// The built-in evolutionary search: a parent chosen from the attempts by score and
        /// number of children, its numbers mutated at random, submitted.
        case evolve
        /// Any command line, run in the workspace with the prompt on stdin and in
        /// `.coevo/prompt.md`; it submits with `coevo eval -m MESSAGE`.
        case command
        /// mini-swe-agent (PyPI) in its text-based mode, on a model endpoint of the config.
        case miniSweAgent = "mini-swe-agent"
        /// Command-line coding agents with sessions the worker resumes (see `AgentLaunch`).
        case claudeCode = "claude-code"
        case codex
        case opencode
        case aider

        /// What the runtime's tool is and does (nil for `evolve`, which runs no tool):
        /// the registry of agent runtimes, each in its own file in `Runtimes/`.
        public var agent: (any AgentRuntime)? {
            switch self {
            case .evolve: nil
            case .command: CommandRuntime()
            case .miniSweAgent: MiniSweAgentRuntime()
            case .claudeCode: ClaudeCodeRuntime()
            case .codex: CodexRuntime()
            case .opencode: OpencodeRuntime()
            case .aider: AiderRuntime()
            }
        }

        /// The program a group of this runtime runs unless it names one.
        public var defaultProgram: String { agent?.defaultProgram ?? "" }

        /// The API an agent of this runtime speaks when it calls an endpoint itself; nil:
        /// its calls go through the worker's own client, which speaks both (evolve), or it
        /// calls none.
        public var endpointAPI: String? { agent?.endpointAPI }
    }

    public struct Task: Decodable, Hashable, Sendable {
        /// Directory whose files make the first commit.
        public var seed = ""
        /// Directory of the grader's own files (its script, private data).
        public var grader = ""
        /// Runs in the grader directory; `$COEVO_CANDIDATE` is the candidate's checkout. Its
        /// last stdout line is `{"score": NUMBER, "feedback": "..."}`.
        public var gradeCommand: [String] = []
        /// What agents are told; empty: the seed's TASK.md.
        public var description = ""
        public var direction = Direction.maximize
        public var graderTimeoutMilliseconds = 60_000
        /// Grades that run at once, over all workers.
        public var graders = 2
        /// Run graders as this user id (root workers only; default: the worker's graders' id).
        public var graderUser: UInt32?
        /// Let the grader use the network (a judge model, say); it has none otherwise.
        public var graderNetwork = false
        /// Runs the candidate's own code before the grader exists on the worker: argv run in
        /// the candidate's checkout (in a sandbox with no network), its stdin the grader file
        /// `candidateInput` names, its stdout handed to the grader. Empty: the grader runs the
        /// candidate itself, with the grader's files readable.
        public var candidateCommand: [String] = []
        public var candidateInput: String?
        /// Longest the candidate command may run (nil: `graderTimeoutMilliseconds`).
        public var candidateTimeoutMilliseconds: Int?

        public init() {}
        enum CodingKeys: String, CodingKey, CaseIterable {
            case seed, grader, description, direction, graders
            case gradeCommand = "grade_command"
            case graderTimeoutMilliseconds = "grader_timeout_ms"
            case graderUser = "grader_user"
            case graderNetwork = "grader_network"
            case candidateCommand = "candidate_command"
            case candidateInput = "candidate_input"
            case candidateTimeoutMilliseconds = "candidate_timeout_ms"
        }
        public init(from decoder: any Decoder) throws {
            try decoder.rejectUnknownKeys(CodingKeys.self)
            let c = try decoder.container(keyedBy: CodingKeys.self)
            seed = try c.value(.seed, seed)
            grader = try c.value(.grader, grader)
            gradeCommand = try c.value(.gradeCommand, gradeCommand)
            description = try c.value(.description, description)
            direction = try c.choice(.direction, direction, noun: "direction", field: "discovery.task.direction")
            graderTimeoutMilliseconds = try c.value(.graderTimeoutMilliseconds, graderTimeoutMilliseconds)
            graders = try c.value(.graders, graders)
            graderUser = try c.decodeIfPresent(UInt32.self, forKey: .graderUser)
            graderNetwork = try c.value(.graderNetwork, graderNetwork)
            candidateCommand = try c.value(.candidateCommand, candidateCommand)
            candidateInput = try c.decodeIfPresent(String.self, forKey: .candidateInput)
            candidateTimeoutMilliseconds = try c.decodeIfPresent(Int.self, forKey: .candidateTimeoutMilliseconds)
        }
    }

    public enum Direction: String, CaseIterable, Hashable, Sendable, Codable {
        case maximize, minimize
        /// True when `a` is better than `b` by more than `epsilon`.
        public func better(_ a: Double, than b: Double, by epsilon: Double = 0) -> Bool {
            self == .maximize ? a > b + epsilon : a < b - epsilon
        }
    }

    public struct AgentGroup: Decodable, Hashable, Sendable {
        public var runtime = Runtime.evolve
        public var count = 2
        /// `command`: the argv.
        public var command: [String] = []
        /// `evolve`: the files whose numbers it mutates (inside EVOLVE-BLOCK-START/END
        /// markers when a file has them), and the standard deviation of a mutation.
        public var files: [String] = []
        public var scale = 0.02
        /// `evolve`: how a child differs from its parent: its numbers moved at random, or
        /// one of its files rewritten by the model of `endpoint` (`ModelMutation`).
        public var mutation = Mutation.random
        /// The agent CLI's program (default: the runtime's, e.g. `claude`; a relative path is
        /// taken from the worker's working directory), its model (for the CLI agents; absent:
        /// the tool's own default) and the most model turns in a step (mini-swe-agent,
        /// claude-code).
        public var program: String?
        public var model: String?
        public var maxTurns = 10
        /// The config endpoint the agent calls: required for `mini-swe-agent` and for `evolve`
        /// with `mutation: model`, optional for `aider`, `claude-code` and `codex`
        /// (claude-code's must speak Anthropic's API and codex's serve OpenAI's Responses
        /// API: a LiteLLM gateway does both in front of a local model).
        public var endpoint = ""
        /// Names of the worker's environment variables (API keys) the agent gets; a worker
        /// gives only those its `--allow-agent-key` lists, and the values never leave it.
        public var secrets: [String] = []
        /// Plain settings for the agent's environment (e.g. `CLAUDE_CODE_MAX_OUTPUT_TOKENS`),
        /// over the runtime's own defaults. Not for keys: they travel in the job and the
        /// database; keys go by name, through `secrets` or an endpoint's `api_key_env`.
        public var environment: [String: String] = [:]
        /// Hosts the agent may reach besides its endpoint (`EgressProxy` domains: `pypi.org`,
        /// `host:port`), on workers whose `--allow-egress` lists them.
        public var egress: [String] = []
        /// Set from `endpoint` by `ExperimentConfig.discoverySettings`.
        public var resolvedEndpoint: LLMJob.Endpoint?

        public init() {}

        /// The agent calls the config endpoint it names (the worker checks the endpoint
        /// against its policy and gives it its key).
        public var callsAnEndpoint: Bool {
            guard let agent = runtime.agent else { return mutation == .model }  // evolve
            return agent.endpointAPI != nil && (agent.needsEndpoint || !endpoint.isEmpty)
        }

        enum CodingKeys: String, CodingKey, CaseIterable {
            case runtime, count, command, files, scale, mutation, program, model, endpoint, secrets, environment, egress
            case maxTurns = "max_turns"
        }

        public enum Mutation: String, CaseIterable, Hashable, Sendable, Codable {
            case random, model
        }
        public init(from decoder: any Decoder) throws {
            try decoder.rejectUnknownKeys(CodingKeys.self)
            let c = try decoder.container(keyedBy: CodingKeys.self)
            runtime = try c.choice(.runtime, runtime, noun: "runtime", field: "discovery.agents.runtime")
            count = try c.value(.count, count)
            command = try c.value(.command, command)
            files = try c.value(.files, files)
            scale = try c.value(.scale, scale)
            mutation = try c.choice(.mutation, mutation, noun: "mutation", field: "discovery.agents.mutation")
            program = try c.decodeIfPresent(String.self, forKey: .program)
            model = try c.decodeIfPresent(String.self, forKey: .model)
            endpoint = try c.value(.endpoint, endpoint)
            secrets = try c.value(.secrets, secrets)
            environment = try c.value(.environment, environment)
            egress = try c.value(.egress, egress)
            maxTurns = try c.value(.maxTurns, maxTurns)
        }
    }

    /// CORAL's crash breaker, counted in rounds rather than seconds so that the pool's
    /// course stays a function of the seed: `crash_limit` unclean steps in a row (a crash,
    /// a timeout, the stall watchdog, a step job lost for good) pause the agent for
    /// `pause_rounds` rounds.
    public struct Health: Decodable, Hashable, Sendable {
        public var crashLimit = 3
        public var pauseRounds = 2
        public init() {}
        enum CodingKeys: String, CodingKey, CaseIterable {
            case crashLimit = "crash_limit"
            case pauseRounds = "pause_rounds"
        }
        public init(from decoder: any Decoder) throws {
            try decoder.rejectUnknownKeys(CodingKeys.self)
            let c = try decoder.container(keyedBy: CodingKeys.self)
            crashLimit = try c.value(.crashLimit, crashLimit)
            pauseRounds = try c.value(.pauseRounds, pauseRounds)
        }
    }

    /// CORAL's heartbeats, decided by the pool after each graded attempt.
    public struct Heartbeats: Decodable, Hashable, Sendable {
        /// After every evaluation, the agent's next prompt asks it to reflect in a note.
        public var reflect = true
        /// Every this many pool evaluations, one agent is asked to turn notes into skills (0: never).
        public var consolidateEvery = 10
        /// After this many evaluations without a personal best, the agent is told to pivot (0: never).
        public var pivotAfter = 5
        /// A personal best must beat the last by more than this.
        public var epsilon = 0.0001
        /// Evaluations after a pivot before the next may come.
        public var pivotCooldown = 5
        /// Prompts added every `every` evaluations of an agent.
        public var custom: [Custom] = []

        public struct Custom: Decodable, Hashable, Sendable {
            public var name: String
            public var every: Int
            public var prompt: String
            public init(name: String, every: Int, prompt: String) {
                self.name = name
                self.every = every
                self.prompt = prompt
            }
            enum CodingKeys: String, CodingKey, CaseIterable { case name, every, prompt }
            public init(from decoder: any Decoder) throws {
                try decoder.rejectUnknownKeys(CodingKeys.self)
                let c = try decoder.container(keyedBy: CodingKeys.self)
                name = try c.decode(String.self, forKey: .name)
                every = try c.decode(Int.self, forKey: .every)
                prompt = try c.decode(String.self, forKey: .prompt)
            }
        }

        public init() {}
        enum CodingKeys: String, CodingKey, CaseIterable {
            case reflect, epsilon, custom
            case consolidateEvery = "consolidate_every"
            case pivotAfter = "pivot_after"
            case pivotCooldown = "pivot_cooldown"
        }
        public init(from decoder: any Decoder) throws {
            try decoder.rejectUnknownKeys(CodingKeys.self)
            let c = try decoder.container(keyedBy: CodingKeys.self)
            reflect = try c.value(.reflect, reflect)
            consolidateEvery = try c.value(.consolidateEvery, consolidateEvery)
            pivotAfter = try c.value(.pivotAfter, pivotAfter)
            epsilon = try c.value(.epsilon, epsilon)
            pivotCooldown = try c.value(.pivotCooldown, pivotCooldown)
            custom = try c.value(.custom, custom)
        }
    }

    public init() {}
    enum CodingKeys: String, CodingKey, CaseIterable {
        case task, agents, rounds, heartbeats, health
        case maxEvaluations = "max_evaluations"
        case targetScore = "target_score"
        case maxTokens = "max_tokens"
        case maxUSD = "max_usd"
        case maxWallSeconds = "max_wall_seconds"
        case stepTimeoutMilliseconds = "step_timeout_ms"
        case stallMilliseconds = "stall_ms"
        case limits
        case agentUser = "agent_user"
    }
    public init(from decoder: any Decoder) throws {
        try decoder.rejectUnknownKeys(CodingKeys.self)
        let c = try decoder.container(keyedBy: CodingKeys.self)
        task = try c.value(.task, task)
        agents = try c.value(.agents, agents)
        rounds = try c.value(.rounds, rounds)
        maxEvaluations = try c.value(.maxEvaluations, maxEvaluations)
        targetScore = try c.decodeIfPresent(Double.self, forKey: .targetScore)
        maxTokens = try c.value(.maxTokens, maxTokens)
        maxUSD = try c.value(.maxUSD, maxUSD)
        maxWallSeconds = try c.value(.maxWallSeconds, maxWallSeconds)
        stepTimeoutMilliseconds = try c.value(.stepTimeoutMilliseconds, stepTimeoutMilliseconds)
        stallMilliseconds = try c.value(.stallMilliseconds, stallMilliseconds)
        limits = try c.value(.limits, limits)
        if c.contains(.agentUser) {
            throw ConfigError(field: "discovery.agent_user", problem: """
                is gone: a worker running as root gives every agent a user id of its own (from coevo-worker --uid-range) \
                and runs it in a sandbox; remove the line
                """)
        }
        heartbeats = try c.value(.heartbeats, heartbeats)
        health = try c.value(.health, health)
    }

    /// The agents, one per member of each group: `a0`, `a1`, ... in group order.
    public var roster: [(id: String, group: AgentGroup)] {
        var out: [(String, AgentGroup)] = []
        for group in agents {
            for _ in 0..<max(0, group.count) { out.append(("a\(out.count)", group)) }
        }
        return out
    }

    /// Refuses what cannot run, with the field named. Paths are checked by the loader.
    public func validate() throws(ConfigError) {
        func require(_ ok: Bool, _ field: String, _ problem: String) throws(ConfigError) {
            if !ok { throw ConfigError(field: "discovery.\(field)", problem: problem) }
        }
        try require(!task.seed.isEmpty, "task.seed", "required: the directory whose files the agents start from")
        try require(!task.grader.isEmpty, "task.grader", "required: the grader's directory (kept from the agents)")
        try require(!task.gradeCommand.isEmpty, "task.grade_command", "required: the command that grades a candidate, e.g. [python3, grade.py]")
        try require(task.graders >= 1, "task.graders", "must be at least 1")
        try require(task.graderTimeoutMilliseconds >= 100, "task.grader_timeout_ms", "must be at least 100")
        try require(task.candidateInput == nil || !task.candidateCommand.isEmpty, "task.candidate_input",
                    "only means something with task.candidate_command, whose stdin it is")
        try require(task.candidateTimeoutMilliseconds == nil || !task.candidateCommand.isEmpty, "task.candidate_timeout_ms",
                    "only means something with task.candidate_command")
        try require((task.candidateTimeoutMilliseconds ?? 100) >= 100, "task.candidate_timeout_ms", "must be at least 100")
        try require(!agents.isEmpty && agents.allSatisfy { $0.count >= 1 }, "agents", "needs at least one group with count >= 1")
        for (i, group) in agents.enumerated() {
            for name in group.environment.keys.sorted() {
                try require(name.wholeMatch(of: /[A-Za-z_][A-Za-z0-9_]*/) != nil, "agents[\(i)].environment",
                            "'\(name)' is not a variable name")
                try require(!AgentLaunch.workerVariables.contains(name), "agents[\(i)].environment",
                            "\(name) is the worker's to set")
                try require(!group.secrets.contains(name), "agents[\(i)].environment",
                            "\(name) is a secret: its value comes from the worker, not the config")
            }
            for domain in group.egress {
                // A bare top-level name ("com") would let the agent reach every host under it.
                let name = domain.split(separator: ":").first.map(String.init) ?? ""
                try require(domain.wholeMatch(of: /[A-Za-z0-9.-]+(:[0-9]{1,5})?/) != nil && (name.contains(".") || name == "localhost"),
                            "agents[\(i)].egress", "'\(domain)' is not a host name with a dot (optionally with :PORT), e.g. pypi.org")
            }
            switch group.runtime {
            case .command: try require(!group.command.isEmpty, "agents[\(i)].command", "a command agent needs its argv")
            case .evolve:
                try require(!group.files.isEmpty, "agents[\(i)].files", "an evolve agent needs the files whose numbers it mutates")
                try require(group.scale > 0 && group.scale.isFinite, "agents[\(i)].scale", "must be a positive number")
                if group.mutation == .model {
                    try require(!group.endpoint.isEmpty, "agents[\(i)].endpoint", "an evolve agent with mutation: model needs the name of an endpoint it calls")
                }
            default:  // a command-line coding agent
                try require(group.runtime.agent?.unavailable == nil, "agents[\(i)].runtime", group.runtime.agent?.unavailable ?? "")
                try require(group.program.map { !$0.isEmpty } ?? true, "agents[\(i)].program", "must name the agent's program")
                try require(group.maxTurns >= 1, "agents[\(i)].max_turns", "must be at least 1")
                if group.runtime.agent?.needsEndpoint == true {
                    try require(!group.endpoint.isEmpty, "agents[\(i)].endpoint", "a \(group.runtime.rawValue) agent needs the name of an endpoint it calls")
                }
            }
        }
        try require(rounds >= 1, "rounds", "must be at least 1")
        try require(maxEvaluations >= 0, "max_evaluations", "must be 0 (no limit) or more")
        try require(maxTokens >= 0, "max_tokens", "must be 0 (no limit) or more")
        try require(maxUSD >= 0 && maxUSD.isFinite, "max_usd", "must be 0 (no limit) or more")
        try require(maxWallSeconds >= 0 && maxWallSeconds.isFinite, "max_wall_seconds", "must be 0 (no limit) or more")
        try require(stepTimeoutMilliseconds >= 100, "step_timeout_ms", "must be at least 100")
        try require(stallMilliseconds >= 0, "stall_ms", "must be 0 (no watchdog) or more")
        try limits.validate(require)
        try require(heartbeats.epsilon >= 0, "heartbeats.epsilon", "must be 0 or more")
        try require(health.crashLimit >= 1, "health.crash_limit", "must be at least 1")
        try require(health.pauseRounds >= 0, "health.pause_rounds", "must be 0 or more")
        try require(heartbeats.consolidateEvery >= 0 && heartbeats.pivotAfter >= 0 && heartbeats.pivotCooldown >= 0,
                    "heartbeats", "counts must be 0 (off) or more")
        for (i, custom) in heartbeats.custom.enumerated() {
            try require(custom.every >= 1, "heartbeats.custom[\(i)].every", "must be at least 1")
        }
    }
}
