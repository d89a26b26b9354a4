/// The payload of an `llm.chat` job: the endpoint travels with the job (workers hold no
/// configuration), the API key does not: only the name of the environment variable that
/// holds it on the worker.
public struct LLMJob: Hashable, Sendable, Codable {
    public struct Endpoint: Hashable, Sendable, Codable {
        public var name: String
        public var url: String
        public var model: String
        /// `openai` or `anthropic`.
        public var api: String
        public var apiKeyEnv: String?
        public var concurrency: Int
        public var timeoutMs: Int
        public var priceInputPerMillion: Double
        public var priceOutputPerMillion: Double
        /// Attempts per call before the endpoint counts as unavailable (the job is deferred).
        public var maxAttempts: Int = 5
        /// How long the endpoint's circuit breaker stays open after 5 failures in a row.
        public var breakerOpenMs: Int = 30_000

        public init(name: String, url: String, model: String, api: String = "openai", apiKeyEnv: String? = nil,
                    concurrency: Int = 8, timeoutMs: Int = 60_000, priceInputPerMillion: Double = 0, priceOutputPerMillion: Double = 0) {
            self.name = name
            self.url = url
            self.model = model
            self.api = api
            self.apiKeyEnv = apiKeyEnv
            self.concurrency = concurrency
            self.timeoutMs = timeoutMs
            self.priceInputPerMillion = priceInputPerMillion
            self.priceOutputPerMillion = priceOutputPerMillion
        }

        // The same snake_case keys in YAML configs and in job payloads; every field but
        // name, url and model has a default, and unknown keys are refused.
        enum CodingKeys: String, CodingKey, CaseIterable {
            case name, url, model, api, concurrency
            case apiKeyEnv = "api_key_env"
            case timeoutMs = "timeout_ms"
            case priceInputPerMillion = "price_input_per_million"
            case priceOutputPerMillion = "price_output_per_million"
            case maxAttempts = "max_attempts"
            case breakerOpenMs = "breaker_open_ms"
        }

        public init(from decoder: any Decoder) throws {
            try decoder.rejectUnknownKeys(CodingKeys.self)
            let c = try decoder.container(keyedBy: CodingKeys.self)
            self.init(name: try c.decode(String.self, forKey: .name), url: Self.base(try c.decode(String.self, forKey: .url)),
                      model: try c.value(.model, ""))
            api = try c.value(.api, api)
            apiKeyEnv = try c.decodeIfPresent(String.self, forKey: .apiKeyEnv)
            concurrency = try c.value(.concurrency, concurrency)
            timeoutMs = try c.value(.timeoutMs, timeoutMs)
            priceInputPerMillion = try c.value(.priceInputPerMillion, priceInputPerMillion)
            priceOutputPerMillion = try c.value(.priceOutputPerMillion, priceOutputPerMillion)
            maxAttempts = try c.value(.maxAttempts, maxAttempts)
            breakerOpenMs = try c.value(.breakerOpenMs, breakerOpenMs)
        }
    }

    public var endpoint: Endpoint
    public var system: String
    public var prompt: String
    public var maxTokens: Int
    public var temperature: Double
    /// Sampling seed sent to the endpoint, when the protocol fixes one.
    public var seed: UInt64?
    /// The protocol call this job answers (`AgentCall.key`); workers ignore it, the
    /// coordinator matches stored results to calls by it when a run resumes.
    public var call: String?
    /// Endpoints tried in order when `endpoint` is down (its attempts spent on its own
    /// faults, or its breaker open); the job is deferred only when all of them are.
    /// (Optional so that payloads written without it still decode.)
    public var fallbacks: [Endpoint]?
    /// Whose call it is (a protocol role, `agent` for a chamber turn); the worker hands it
    /// back with the output so metrics count calls by role. Nil for plain chat batches.
    public var role: String?
    /// Which agent made the call, in which round and phase of its protocol: for readers of
    /// a run (the dashboard's agents' words); workers ignore them.
    public var agent: String?
    public var round: Int?
    public var phase: String?

    public init(endpoint: Endpoint, system: String, prompt: String, maxTokens: Int, temperature: Double,
                seed: UInt64? = nil, call: String? = nil, fallbacks: [Endpoint]? = nil, role: String? = nil) {
        self.endpoint = endpoint
        self.system = system
        self.prompt = prompt
        self.maxTokens = maxTokens
        self.temperature = temperature
        self.seed = seed
        self.call = call
        self.fallbacks = fallbacks
        self.role = role
    }
}

extension LLMJob.Endpoint {
    /// The base URL the API's paths (`/v1/chat/completions`, `/v1/messages`) go under.
    /// `http://host:8080/v1`, how OpenAI's SDK, LiteLLM, vLLM and Ollama write a base URL,
    /// means `http://host:8080`, as does a trailing slash.
    public static func base(_ url: String) -> String {
        var url = url
        while url.hasSuffix("/") { url.removeLast() }
        if url.hasSuffix("/v1") { url.removeLast(3) }
        while url.hasSuffix("/") { url.removeLast() }
        return url
    }

    /// Agent `agent` (1-based) of a role calls endpoint agent mod n of the role's pool,
    /// and falls back on the rest of the pool in order after it.
    public static func assign(agent: Int, pool: [LLMJob.Endpoint]) -> (LLMJob.Endpoint, [LLMJob.Endpoint]?) {
        precondition(!pool.isEmpty, "a role's pool names at least one endpoint (validated with the config)")
        let first = (agent - 1) % pool.count
        let rest = (1..<pool.count).map { pool[(first + $0) % pool.count] }
        return (pool[first], rest.isEmpty ? nil : rest)
    }
}

/// The output of an `llm.chat` job.
public struct LLMJobOutput: Hashable, Sendable, Codable {
    public var text: String
    public var promptTokens: Int
    public var completionTokens: Int
    public var costUSD: Double
    /// The endpoint that answered (the job's own or a fallback).
    public var endpoint: String?
    /// The job's role, handed back.
    public var role: String?
    public init(text: String, promptTokens: Int, completionTokens: Int, costUSD: Double, endpoint: String? = nil,
                role: String? = nil) {
        self.text = text
        self.promptTokens = promptTokens
        self.completionTokens = completionTokens
        self.costUSD = costUSD
        self.endpoint = endpoint
        self.role = role
    }
}
