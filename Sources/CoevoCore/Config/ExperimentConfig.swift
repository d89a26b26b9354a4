/// One experiment, as written in a YAML config. Every field has a default, so an empty
/// file is a valid config (the embedded quickstart); `validate()` refuses impossible values
/// with the field named.
public struct ExperimentConfig: Decodable, Hashable, Sendable {
    public var run = RunSection()
    public var coordinator = CoordinatorSection()
    public var workers = WorkersSection()
    public var workload = WorkloadSection()
    /// Present for a chamber experiment. At most one of `chamber`, `proposerSolver` and
    /// `redBlue` is set; with none the run is the `workload` batch.
    public var chamber: ChamberSettings?
    /// Present for a proposer/solver experiment on model endpoints.
    public var proposerSolver: ProposerSolverSettings?
    /// Present for a red-blue (attacker/defender) experiment on model endpoints.
    public var redBlue: RedBlueSettings?
    /// Present for a discovery pool (agents improving a task's files, graded by the task's grader).
    public var discovery: DiscoverySettings?
    /// Which endpoints each role's agents call, by endpoint name: agent i of a role uses
    /// the role's endpoint i mod n. A role with no pool uses the first endpoint.
    public var pools: [String: [String]] = [:]
    public var evolution = EvolutionSettings()
    public var simulator = SimulatedWorld.Parameters()
    /// Model endpoints jobs may call, by name.
    public var endpoints: [LLMJob.Endpoint] = []
    /// A local model server `coevo run` starts first and stops at the end.
    public var modelServer: ModelServerSection?
    /// Spending limits of the run's model calls; dispatch stops cleanly at the first reached.
    public var budget = BudgetSection()

    public struct BudgetSection: Decodable, Hashable, Sendable {
        public var maxTokens: Int?
        public var maxUSD: Double?
        public var maxCalls: Int?
        public init() {}
        enum CodingKeys: String, CodingKey, CaseIterable {
            case maxTokens = "max_tokens"
            case maxUSD = "max_usd"
            case maxCalls = "max_calls"
        }
        public init(from decoder: any Decoder) throws {
            try decoder.rejectUnknownKeys(CodingKeys.self)
            let c = try decoder.container(keyedBy: CodingKeys.self)
            maxTokens = try c.decodeIfPresent(Int.self, forKey: .maxTokens)
            maxUSD = try c.decodeIfPresent(Double.self, forKey: .maxUSD)
            maxCalls = try c.decodeIfPresent(Int.self, forKey: .maxCalls)
        }
        public var budget: Budget { Budget(maxTokens: maxTokens, maxUSD: maxUSD, maxCalls: maxCalls) }
    }

    /// The chamber settings with the run's seed and the evolution and simulator sections.
    public var chamberSettings: ChamberSettings? {
        guard var chamber else { return nil }
        chamber.seed = run.seed
        chamber.evolution = evolution
        chamber.simulator = simulator
        return chamber
    }

    /// The model-call protocol this config runs (proposer/solver or red-blue), fresh,
    /// with the run's seed and evolution settings; nil for chamber and batch runs.
    public func makeProtocolEngine() -> (any ProtocolEngine)? {
        if var settings = proposerSolver {
            settings.seed = run.seed
            return ProposerSolverEngine(settings: settings, evolution: evolution)
        }
        if var settings = redBlue {
            settings.seed = run.seed
            return RedBlueEngine(settings: settings, evolution: evolution)
        }
        return nil
    }

    /// The roles the protocol's agents play, each needing endpoints.
    public var protocolRoles: [String] {
        if chamber?.backend == .model { return ["agent"] }
        if proposerSolver != nil { return ["proposer", "solver"] }
        if let redBlue { return ["attacker", "defender"] + (redBlue.judge != nil ? ["judge"] : []) }
        return []
    }

    /// A run whose jobs are made as it goes (chamber or a model-call protocol).
    public var isProtocolRun: Bool { chamber != nil || proposerSolver != nil || redBlue != nil || discovery != nil }

    /// The discovery settings with the run's seed and each agent group's endpoint.
    public var discoverySettings: DiscoverySettings? {
        guard var discovery else { return nil }
        discovery.seed = run.seed
        for index in discovery.agents.indices {
            discovery.agents[index].resolvedEndpoint = endpoints.first { $0.name == discovery.agents[index].endpoint }
        }
        return discovery
    }

    /// The endpoints a role's agents call, in pool order.
    public func endpoints(forRole role: String) -> [LLMJob.Endpoint] {
        guard let names = pools[role] else { return endpoints.prefix(1).map { $0 } }
        return names.compactMap { name in endpoints.first { $0.name == name } }
    }

    public init() {}

    public struct RunSection: Decodable, Hashable, Sendable {
        /// Names the run; the run id is `name` plus the seed.
        public var name = "quickstart"
        /// Seeds every random choice of the run, so a run can be replayed.
        public var seed: UInt64 = 42

        public init() {}
        enum CodingKeys: String, CodingKey, CaseIterable { case name, seed }
        public init(from decoder: any Decoder) throws {
            try decoder.rejectUnknownKeys(CodingKeys.self)
            let c = try decoder.container(keyedBy: CodingKeys.self)
            name = try c.value(.name, name)
            seed = try c.value(.seed, seed)
        }
    }

    public struct CoordinatorSection: Decodable, Hashable, Sendable {
        /// ZeroMQ endpoint the coordinator's ROUTER binds (`tcp://HOST:PORT` or `ipc://PATH`).
        public var bind = "tcp://127.0.0.1:5555"
        /// SQLite file (WAL mode) holding runs, jobs, results and the event log.
        public var database = "runs/coevo.sqlite"
        public var heartbeatIntervalMilliseconds: Int64 = 1000
        /// Missed heartbeats before a peer counts as lost.
        public var liveness: Int64 = 3
        /// Lease losses a job survives before it is marked failed.
        public var maxAttempts: UInt32 = 3
        /// Default time one attempt of a job may take.
        public var jobTimeoutMilliseconds: Int64 = 60_000
        /// Longest message a peer may send; a longer one drops that peer's connection.
        public var maxMessageBytes: Int64 = 64 << 20
        /// Longest time a result waits in memory before its batch is committed.
        public var storeFlushMilliseconds: Int64 = 20
        /// Dispatch pauses this long when a worker defers a job (its endpoint is down) and
        /// does not say how long to wait.
        public var deferPauseMilliseconds: Int64 = 30_000
        /// Workers that must register before the first job is leased (see
        /// `SchedulerSettings.minimumWorkers`).
        public var minWorkers = 1
        /// CurveZMQ: the coordinator's key pair file (`coevo keys generate`); with it every
        /// connection is encrypted and only `authorizedKeys` get in.
        public var curveKey: String?
        /// The workers' (and `coevo status`') public keys: a directory of `.pub` files or a
        /// file with one key a line. Read again when it changes.
        public var authorizedKeys: String?
        /// The keys (a directory of `.pub` files or a file) of the workers trusted to grade
        /// discovery attempts: grade jobs, which carry the grader's files, go only to them.
        /// Unset: every authorized worker grades. Read at start.
        public var graderKeys: String?

        public init() {}
        enum CodingKeys: String, CodingKey, CaseIterable {
            case bind, database, liveness
            case curveKey = "curve_key"
            case authorizedKeys = "authorized_keys"
            case graderKeys = "grader_keys"
            case heartbeatIntervalMilliseconds = "heartbeat_interval_ms"
            case maxAttempts = "max_attempts"
            case jobTimeoutMilliseconds = "job_timeout_ms"
            case maxMessageBytes = "max_message_bytes"
            case storeFlushMilliseconds = "store_flush_ms"
            case deferPauseMilliseconds = "defer_pause_ms"
            case minWorkers = "min_workers"
        }
        public init(from decoder: any Decoder) throws {
            try decoder.rejectUnknownKeys(CodingKeys.self)
            let c = try decoder.container(keyedBy: CodingKeys.self)
            bind = try c.value(.bind, bind)
            database = try c.value(.database, database)
            heartbeatIntervalMilliseconds = try c.value(.heartbeatIntervalMilliseconds, heartbeatIntervalMilliseconds)
            liveness = try c.value(.liveness, liveness)
            maxAttempts = try c.value(.maxAttempts, maxAttempts)
            jobTimeoutMilliseconds = try c.value(.jobTimeoutMilliseconds, jobTimeoutMilliseconds)
            maxMessageBytes = try c.value(.maxMessageBytes, maxMessageBytes)
            storeFlushMilliseconds = try c.value(.storeFlushMilliseconds, storeFlushMilliseconds)
            deferPauseMilliseconds = try c.value(.deferPauseMilliseconds, deferPauseMilliseconds)
            minWorkers = try c.value(.minWorkers, minWorkers)
            curveKey = try c.decodeIfPresent(String.self, forKey: .curveKey)
            authorizedKeys = try c.decodeIfPresent(String.self, forKey: .authorizedKeys)
            graderKeys = try c.decodeIfPresent(String.self, forKey: .graderKeys)
        }

        /// True when `bind` can only be reached from this machine (loopback or ipc).
        public var bindsLocally: Bool {
            if bind.hasPrefix("ipc://") || bind.hasPrefix("inproc://") { return true }
            guard bind.hasPrefix("tcp://") else { return false }
            let address = bind.dropFirst("tcp://".count)
            let host = address.hasPrefix("[") ? String(address.prefix { $0 != "]" }.dropFirst())
                                              : String(address.prefix { $0 != ":" })
            return host.hasPrefix("127.") || host == "localhost" || host == "::1"
        }
    }

    public struct WorkersSection: Decodable, Hashable, Sendable {
        /// Worker processes `coevo run` starts on this machine (0: only remote workers).
        public var count = 2
        /// Jobs one worker runs at once.
        public var slots = 64

        public init() {}
        enum CodingKeys: String, CodingKey, CaseIterable { case count, slots }
        public init(from decoder: any Decoder) throws {
            try decoder.rejectUnknownKeys(CodingKeys.self)
            let c = try decoder.container(keyedBy: CodingKeys.self)
            count = try c.value(.count, count)
            slots = try c.value(.slots, slots)
        }
    }

    public struct WorkloadSection: Decodable, Hashable, Sendable {
        /// The job kind every job of this workload runs (see `JobKind`).
        public var kind = JobKind.noop
        public var jobs = 20_000
        /// Size of each job's payload (noop echoes it back).
        public var payloadBytes = 64
        /// For `sleep` jobs: how long each one sleeps.
        public var sleepMilliseconds: Int64 = 10
        /// For `llm.chat` jobs: the endpoint's name, and the prompt ("{i}" becomes the job's
        /// index), system prompt, token limit and temperature.
        public var endpoint = ""
        public var prompt = "What is {i} + {i}? Answer with a number."
        public var system = ""
        public var maxTokens = 32
        public var temperature = 0.7

        public init() {}
        enum CodingKeys: String, CodingKey, CaseIterable {
            case kind, jobs, endpoint, prompt, system, temperature
            case payloadBytes = "payload_bytes"
            case sleepMilliseconds = "sleep_ms"
            case maxTokens = "max_tokens"
        }
        public init(from decoder: any Decoder) throws {
            try decoder.rejectUnknownKeys(CodingKeys.self)
            let c = try decoder.container(keyedBy: CodingKeys.self)
            kind = try c.value(.kind, kind)
            jobs = try c.value(.jobs, jobs)
            payloadBytes = try c.value(.payloadBytes, payloadBytes)
            sleepMilliseconds = try c.value(.sleepMilliseconds, sleepMilliseconds)
            endpoint = try c.value(.endpoint, endpoint)
            prompt = try c.value(.prompt, prompt)
            system = try c.value(.system, system)
            maxTokens = try c.value(.maxTokens, maxTokens)
            temperature = try c.value(.temperature, temperature)
        }
    }

    enum CodingKeys: String, CodingKey, CaseIterable {
        case run, coordinator, workers, workload, chamber, evolution, simulator, endpoints, budget, pools, discovery
        case modelServer = "model_server"
        case proposerSolver = "proposer_solver"
        case redBlue = "red_blue"
    }

    public struct ModelServerSection: Decodable, Hashable, Sendable {
        /// The server's command line (argv).
        public var command: [String] = []
        /// Polled until it answers 200.
        public var healthURL = ""
        public var startupTimeoutMilliseconds: Int64 = 120_000

        enum CodingKeys: String, CodingKey, CaseIterable {
            case command
            case healthURL = "health_url"
            case startupTimeoutMilliseconds = "startup_timeout_ms"
        }
        public init(from decoder: any Decoder) throws {
            try decoder.rejectUnknownKeys(CodingKeys.self)
            let c = try decoder.container(keyedBy: CodingKeys.self)
            command = try c.value(.command, command)
            healthURL = try c.value(.healthURL, healthURL)
            startupTimeoutMilliseconds = try c.value(.startupTimeoutMilliseconds, startupTimeoutMilliseconds)
        }
    }

    public init(from decoder: any Decoder) throws {
        try decoder.rejectUnknownKeys(CodingKeys.self)
        let c = try decoder.container(keyedBy: CodingKeys.self)
        run = try c.value(.run, run)
        coordinator = try c.value(.coordinator, coordinator)
        workers = try c.value(.workers, workers)
        workload = try c.value(.workload, workload)
        chamber = try c.decodeIfPresent(ChamberSettings.self, forKey: .chamber)
        proposerSolver = try c.decodeIfPresent(ProposerSolverSettings.self, forKey: .proposerSolver)
        redBlue = try c.decodeIfPresent(RedBlueSettings.self, forKey: .redBlue)
        discovery = try c.decodeIfPresent(DiscoverySettings.self, forKey: .discovery)
        pools = try c.value(.pools, pools)
        evolution = try c.value(.evolution, evolution)
        simulator = try c.value(.simulator, simulator)
        endpoints = try c.value(.endpoints, endpoints)
        modelServer = try c.decodeIfPresent(ModelServerSection.self, forKey: .modelServer)
        budget = try c.value(.budget, budget)
    }

    /// Refuses values no run could use; the first problem found is thrown.
    public func validate() throws(ConfigError) {
        func require(_ ok: Bool, _ field: String, _ problem: String) throws(ConfigError) {
            if !ok { throw ConfigError(field: field, problem: problem) }
        }
        try require(!run.name.isEmpty && run.name.allSatisfy { $0.isLetter || $0.isNumber || "-_.".contains($0) },
                    "run.name", "must be non-empty and use only letters, digits, '-', '_' or '.' (got '\(run.name)')")
        try require(coordinator.bind.hasPrefix("tcp://") || coordinator.bind.hasPrefix("ipc://"),
                    "coordinator.bind", "must start with tcp:// or ipc:// (got '\(coordinator.bind)')")
        try require(!coordinator.database.isEmpty, "coordinator.database", "must name a file")
        try require((10...600_000).contains(coordinator.heartbeatIntervalMilliseconds),
                    "coordinator.heartbeat_interval_ms", "must be between 10 and 600000 (got \(coordinator.heartbeatIntervalMilliseconds))")
        try require((1...100).contains(coordinator.liveness),
                    "coordinator.liveness", "must be between 1 and 100 (got \(coordinator.liveness))")
        try require(coordinator.maxAttempts >= 1, "coordinator.max_attempts", "must be at least 1")
        try require(coordinator.jobTimeoutMilliseconds >= 1,
                    "coordinator.job_timeout_ms", "must be positive (got \(coordinator.jobTimeoutMilliseconds))")
        try require(coordinator.maxMessageBytes >= 4096,
                    "coordinator.max_message_bytes", "must be at least 4096 (got \(coordinator.maxMessageBytes))")
        try require((1...10_000).contains(coordinator.storeFlushMilliseconds),
                    "coordinator.store_flush_ms", "must be between 1 and 10000 (got \(coordinator.storeFlushMilliseconds))")
        try require(coordinator.deferPauseMilliseconds >= 0, "coordinator.defer_pause_ms", "must not be negative")
        try require((coordinator.curveKey == nil) == (coordinator.authorizedKeys == nil),
                    coordinator.curveKey == nil ? "coordinator.curve_key" : "coordinator.authorized_keys",
                    "curve_key and authorized_keys go together: the coordinator's key pair, and the keys it lets in")
        try require(coordinator.graderKeys == nil || coordinator.curveKey != nil, "coordinator.grader_keys",
                    "needs CURVE (coordinator.curve_key and authorized_keys): a worker is known by its key")
        try require((1...100_000).contains(coordinator.minWorkers),
                    "coordinator.min_workers", "must be between 1 and 100000 (got \(coordinator.minWorkers))")
        try require(workers.count >= 0, "workers.count", "must not be negative (got \(workers.count))")
        try require((1...100_000).contains(workers.slots), "workers.slots", "must be between 1 and 100000 (got \(workers.slots))")
        try require(JobKind.workloadKinds.contains(workload.kind), "workload.kind",
                    "unknown kind '\(workload.kind)' (expected one of: \(JobKind.workloadKinds.map(\.rawValue).joined(separator: ", ")))")
        try require(workload.jobs >= 1, "workload.jobs", "must be at least 1 (got \(workload.jobs))")
        try require((0...(16 << 20)).contains(workload.payloadBytes), "workload.payload_bytes",
                    "must be between 0 and 16777216 (got \(workload.payloadBytes))")
        try require(workload.sleepMilliseconds >= 0, "workload.sleep_ms", "must not be negative (got \(workload.sleepMilliseconds))")
        for (i, e) in endpoints.enumerated() {
            try require(!e.name.isEmpty, "endpoints[\(i)].name", "must not be empty")
            try require(e.url.hasPrefix("http://") || e.url.hasPrefix("https://"), "endpoints[\(i)].url",
                        "must start with http:// or https:// (got '\(e.url)')")
            try require(["openai", "anthropic"].contains(e.api), "endpoints[\(i)].api", "must be openai or anthropic (got '\(e.api)')")
            try require(e.concurrency >= 1, "endpoints[\(i)].concurrency", "must be at least 1")
            try require(e.timeoutMs >= 1, "endpoints[\(i)].timeout_ms", "must be positive")
            try require(e.maxAttempts >= 1, "endpoints[\(i)].max_attempts", "must be at least 1")
            try require(e.breakerOpenMs >= 0, "endpoints[\(i)].breaker_open_ms", "must not be negative")
        }
        if workload.kind == .llm {
            try require(endpoints.contains { $0.name == workload.endpoint }, "workload.endpoint",
                        "names no endpoint (have: \(endpoints.map(\.name).joined(separator: ", ")))")
            try require(workload.maxTokens >= 1, "workload.max_tokens", "must be at least 1")
        }
        try require((budget.maxTokens ?? 1) >= 0 && (budget.maxUSD ?? 1) >= 0 && (budget.maxCalls ?? 1) >= 0,
                    "budget", "limits must not be negative")
        if let server = modelServer {
            try require(!server.command.isEmpty, "model_server.command", "must name the server's command line")
            try require(server.healthURL.hasPrefix("http"), "model_server.health_url", "must be an http(s) URL")
        }
        try chamberSettings?.validate()
        let experiments = [chamber != nil ? "chamber" : nil, proposerSolver != nil ? "proposer_solver" : nil,
                           redBlue != nil ? "red_blue" : nil, discovery != nil ? "discovery" : nil].compactMap { $0 }
        try require(experiments.count <= 1, experiments.joined(separator: ", "), "a config runs one experiment; keep one of these sections")
        try require(experiments.isEmpty || workload == WorkloadSection(), "workload",
                    "a workload batch is a run of its own, and \(experiments.first ?? "") runs instead: remove the workload section (or the experiment's)")
        try proposerSolver?.validate()
        try redBlue?.validate()
        try discovery?.validate()
        for (i, group) in (discovery?.agents ?? []).enumerated() where group.callsAnEndpoint {
            guard let endpoint = endpoints.first(where: { $0.name == group.endpoint }) else {
                throw ConfigError(field: "discovery.agents[\(i)].endpoint",
                                  problem: "names no endpoint (have: \(endpoints.map(\.name).joined(separator: ", ")))")
            }
            // An agent that calls the endpoint itself speaks one API; evolve's calls go
            // through the worker's own client, which speaks both.
            if let api = group.runtime.endpointAPI, endpoint.api != api {
                throw ConfigError(field: "discovery.agents[\(i)].endpoint", problem: api == "anthropic"
                    ? "claude-code speaks Anthropic's Messages API only (api: anthropic); '\(endpoint.name)' is \(endpoint.api). For an OpenAI-compatible or local model, put a gateway such as LiteLLM in front of it (docs/DISCOVERY.md)"
                    : "\(group.runtime.rawValue) agents reach OpenAI-compatible endpoints only (api: openai); '\(endpoint.name)' is \(endpoint.api)")
            }
        }
        for (role, names) in pools.sorted(by: { $0.key < $1.key }) {
            try require(protocolRoles.contains(role), "pools.\(role)",
                        "no such role in this experiment (roles: \(protocolRoles.isEmpty ? "none" : protocolRoles.joined(separator: ", ")))")
            try require(!names.isEmpty, "pools.\(role)", "must name at least one endpoint")
            for name in names {
                try require(endpoints.contains { $0.name == name }, "pools.\(role)",
                            "names endpoint '\(name)', which is not in endpoints (have: \(endpoints.map(\.name).joined(separator: ", ")))")
            }
        }
        if !protocolRoles.isEmpty {
            try require(!endpoints.isEmpty, "endpoints", "this experiment's agents call models: list at least one endpoint")
        }
    }
}
