/// How a step's agent is started, carried by the step job: the coordinator decides it from
/// the agent's group, and the worker builds the command line (its runtime's, see
/// `AgentRuntime` and the files in `Runtimes/`), because only the worker knows whether it
/// still holds the agent's last session (then the command resumes it).
public struct AgentLaunch: Codable, Hashable, Sendable {
    public var runtime: DiscoverySettings.Runtime
    /// `command`: the argv. Others: empty.
    public var argv: [String]
    public var program: String
    public var model: String?
    /// `mini-swe-agent`, and `aider`, `claude-code` or `codex` when its group names one: the
    /// endpoint's OpenAI base URL (`URL/v1`; Claude Code takes the URL itself), and the
    /// endpoint (the worker checks it against its policy and gives the agent its key, as
    /// for an `llm.chat` call).
    public var apiBase: String?
    public var endpoint: LLMJob.Endpoint?
    public var maxTurns: Int
    /// Sent with every model call that can carry one, so a replayed step asks for the same samples.
    public var seed: UInt64
    /// USD per million tokens of the agent's endpoint: what its tokens cost when it calls
    /// that endpoint (`cost(reported:usage:)`).
    public var price: Price
    public var secrets: [String]
    /// The group's plain environment settings, over the runtime's defaults; nil when it
    /// sets none (so a step job stored before there were any still decodes).
    public var environment: [String: String]?
    /// The group's `egress` (nil when none, so older step jobs still decode).
    public var egress: [String]?

    /// What an agent whose session is not on this worker is told first.
    public static let resumedPreface = """
        You were resumed: your earlier session is not on this worker, so you start a fresh one. \
        Your workspace holds your latest submission; `coevo memory attempts` and `.coevo/shared/` hold what the pool knows.


        """

    public init(group: DiscoverySettings.AgentGroup, seed: UInt64) {
        runtime = group.runtime
        argv = group.runtime == .command ? group.command : []
        program = group.runtime == .command ? (group.command.first ?? "") : (group.program ?? group.runtime.defaultProgram)
        // An agent that cannot run without an endpoint calls that endpoint's model.
        model = group.runtime.agent?.needsEndpoint == true ? group.resolvedEndpoint?.model : group.model
        apiBase = group.resolvedEndpoint.map { "\($0.url)/v1" }
        endpoint = group.callsAnEndpoint ? group.resolvedEndpoint : nil
        maxTurns = group.maxTurns
        self.seed = seed
        price = group.resolvedEndpoint.map { Price(inputPerMillion: $0.priceInputPerMillion, outputPerMillion: $0.priceOutputPerMillion) }
            ?? Price()
        secrets = group.secrets
        environment = group.environment.isEmpty ? nil : group.environment
        egress = group.egress.isEmpty ? nil : group.egress
    }

    /// Every host the agent may reach besides its endpoint: its tool's vendor when it calls
    /// no endpoint of the config, and its group's `egress`.
    public var egressDomains: [String] {
        (endpoint == nil ? runtime.agent?.vendorDomains ?? [] : []) + (egress ?? [])
    }

    /// A step's cost. An agent that calls a config endpoint pays that endpoint's prices for
    /// its tokens: a tool's own price table does not know a model served behind a gateway
    /// (Claude Code prices SmolLM2 behind LiteLLM at Sonnet's rates). Otherwise it is what
    /// the agent reported (claude-code signed in to Anthropic, say), 0 when it reports nothing.
    public func cost(reported: Double, usage: TokenUsage) -> Double {
        endpoint != nil ? price.cost(of: usage) : reported
    }

    /// The variable the agent reads its endpoint's key from; the worker puts the key there.
    public var keyVariable: String { runtime.endpointAPI == "anthropic" ? "ANTHROPIC_API_KEY" : "OPENAI_API_KEY" }

    /// What the worker sets for every command agent, over the runtime's and the group's
    /// settings: its workspace, its id, its home on the worker and a PATH that finds `coevo`.
    public static func workerEnvironment(workspace: String, agent: String, home: String, path: String) -> [String: String] {
        ["COEVO_WORKSPACE": workspace, "COEVO_AGENT": agent, "HOME": home, "PATH": path]
    }

    /// The names `workerEnvironment` sets: a group's `environment` may not name them.
    public static var workerVariables: Set<String> { Set(workerEnvironment(workspace: "", agent: "", home: "", path: "").keys) }

    /// The runtime's CLI keeps a session the next step can resume.
    public var resumes: Bool { runtime.agent?.resumes ?? false }

    /// The command line and plain environment settings (the runtime's, then the group's);
    /// `home` is the agent's home on the worker, `resume` the session it holds (nil: a
    /// fresh session).
    public func command(prompt: String, home: String, resume session: String?) -> (argv: [String], environment: [String: String]) {
        var (argv, defaults) = runtime.agent?.command(self, prompt: prompt, home: home, resume: session) ?? ([], [:])
        // A placeholder key for a keyless endpoint (the tools refuse to start without one);
        // the worker puts the endpoint's key here when it has one.
        if endpoint != nil { defaults[keyVariable] = "none" }
        return (argv, defaults.merging(environment ?? [:]) { _, configured in configured })
    }
}
