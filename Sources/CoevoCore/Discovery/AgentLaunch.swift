/// How a step's agent is started, carried by the step job: the coordinator decides it from
/// the agent's group, and the worker builds the command line, because only the worker knows
/// whether it still holds the agent's last session (then the command resumes it).
///
/// The command each runtime runs (PROMPT is the step's prompt, SESSION the session to resume):
/// - `mini-swe-agent`: `PROGRAM -m openai/MODEL --model-class litellm_textbased -y
///   --exit-immediately -c mini_textbased.yaml -c model.model_kwargs.api_base=URL/v1
///   -c model.model_kwargs.seed=SEED -c agent.step_limit=N -c model.action_regex=... -o
///   .coevo/trajectory.json -t PROMPT` (no sessions: each step starts afresh)
/// - `claude-code`: `claude -p PROMPT --output-format stream-json --verbose
///   --dangerously-skip-permissions --max-turns N [--model M] [--resume SESSION]`, with
///   `ANTHROPIC_BASE_URL=URL` and `--model MODEL` when its group names an endpoint (one
///   that speaks Anthropic's Messages API: Anthropic's, or a gateway such as LiteLLM in
///   front of any other model)
/// - `codex`: `codex exec --json --skip-git-repo-check --sandbox workspace-write [-m M]
///   PROMPT`, resumed as `codex exec --json --skip-git-repo-check --sandbox workspace-write
///   [-m M] resume SESSION PROMPT`; with an endpoint (one that serves OpenAI's Responses
///   API: OpenAI's, or a gateway such as LiteLLM) `-m MODEL -c model_provider=coevo -c
///   model_providers.coevo={name="coevo", base_url="URL/v1", env_key="OPENAI_API_KEY",
///   wire_api="responses"}` instead of `-m M`
/// - `opencode`: `opencode run --format json [--model M] [--session SESSION] PROMPT`
/// - `aider`: `aider --message PROMPT --yes-always --no-auto-commits --no-check-update
///   --no-gitignore --no-analytics --chat-history-file HOME/.aider.chat.history.md
///   --input-history-file HOME/.aider.input.history [--model M | --model openai/MODEL
///   --openai-api-base URL/v1] [--restore-chat-history]` (its session is its chat history
///   on the worker; with an `endpoint` it calls that OpenAI-compatible server)
/// - `command`: the group's argv, the prompt on stdin.
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

    /// Where mini-swe-agent writes its trajectory, in the workspace (never committed).
    public static let trajectory = ".coevo/trajectory.json"
    /// What an agent whose session is not on this worker is told first.
    public static let resumedPreface = """
        You were resumed: your earlier session is not on this worker, so you start a fresh one. \
        Your workspace holds your latest submission; `coevo memory attempts` and `.coevo/shared/` hold what the pool knows.


        """

    public init(group: DiscoverySettings.AgentGroup, seed: UInt64) {
        runtime = group.runtime
        argv = group.runtime == .command ? group.command : []
        program = group.runtime == .command ? (group.command.first ?? "") : (group.program ?? group.runtime.defaultProgram)
        model = group.runtime == .miniSweAgent ? group.resolvedEndpoint?.model : group.model
        apiBase = group.resolvedEndpoint.map { "\($0.url)/v1" }
        endpoint = group.callsAnEndpoint ? group.resolvedEndpoint : nil
        maxTurns = group.maxTurns
        self.seed = seed
        price = group.resolvedEndpoint.map { Price(inputPerMillion: $0.priceInputPerMillion, outputPerMillion: $0.priceOutputPerMillion) }
            ?? Price()
        secrets = group.secrets
        environment = group.environment.isEmpty ? nil : group.environment
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

    /// Runtimes whose CLI keeps a session the next step can resume.
    public var resumes: Bool { [.claudeCode, .codex, .opencode, .aider].contains(runtime) }

    /// The command line and plain environment settings (the runtime's, then the group's);
    /// `home` is the agent's home on the worker, `resume` the session it holds (nil: a
    /// fresh session).
    public func command(prompt: String, home: String, resume session: String?) -> (argv: [String], environment: [String: String]) {
        var (argv, defaults) = runtimeCommand(prompt: prompt, home: home, resume: session)
        // A placeholder key for a keyless endpoint (the tools refuse to start without one);
        // the worker puts the endpoint's key here when it has one.
        if endpoint != nil { defaults[keyVariable] = "none" }
        return (argv, defaults.merging(environment ?? [:]) { _, configured in configured })
    }

    private func runtimeCommand(prompt: String, home: String, resume session: String?) -> (argv: [String], environment: [String: String]) {
        let model = self.model
        switch runtime {
        case .evolve:
            return ([], [:])
        case .command:
            return (argv, [:])
        case .miniSweAgent:
            // Text-based mode: actions are fenced shell blocks, so a model without tool
            // calling can act. `-y --exit-immediately`: no confirmations, no closing prompt.
            let argv = [program, "-m", "openai/\(model ?? "model")", "--model-class", "litellm_textbased",
                        "-y", "--exit-immediately", "-c", "mini_textbased.yaml",
                        "-c", "model.model_kwargs.api_base=\(apiBase ?? "")",
                        "-c", "model.model_kwargs.seed=\(seed)",
                        "-c", "agent.step_limit=\(maxTurns)",
                        // Small models rarely write the `mswea_bash_command` tag: plain shell fences count too.
                        "-c", #"model.action_regex=```(?:mswea_bash_command|bash|sh|shell)\s*\n(.*?)\n```"#,
                        "-o", Self.trajectory, "-t", prompt]
            // No first-run set-up, no cost lookups on the internet.
            return (argv, ["MSWEA_CONFIGURED": "true", "MSWEA_COST_TRACKING": "ignore_errors",
                           "LITELLM_LOCAL_MODEL_COST_MAP": "True"])
        case .claudeCode:
            var argv = [program, "-p", prompt, "--output-format", "stream-json", "--verbose",
                        "--dangerously-skip-permissions", "--max-turns", "\(maxTurns)"]
            // No telemetry, update checks or error reports from a step. Claude Code refuses
            // to skip permission prompts as root unless told it is sandboxed: a worker in a
            // container is root, and the step's workspace is a throwaway worktree (run agents
            // under their own uid with `discovery.agent_user`).
            var environment = ["CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1", "IS_SANDBOX": "1"]
            if let endpoint {
                argv += ["--model", model ?? endpoint.model]
                environment["ANTHROPIC_BASE_URL"] = endpoint.url
            } else if let model {
                argv += ["--model", model]
            }
            if let session { argv += ["--resume", session] }
            return (argv, environment)
        case .codex:
            var argv = [program, "exec", "--json", "--skip-git-repo-check", "--sandbox", "workspace-write"]
            if let endpoint, let apiBase {
                // A model provider of its own for the step, defined on the command line.
                argv += ["-m", model ?? endpoint.model, "-c", "model_provider=coevo", "-c",
                         #"model_providers.coevo={name="coevo", base_url="\#(apiBase)", env_key="\#(keyVariable)", wire_api="responses"}"#]
            } else if let model {
                argv += ["-m", model]
            }
            if let session { argv += ["resume", session] }
            return (argv + [prompt], [:])
        case .opencode:
            var argv = [program, "run", "--format", "json"]
            if let model { argv += ["--model", model] }
            if let session { argv += ["--session", session] }
            return (argv + [prompt], [:])
        case .aider:
            // --no-gitignore: aider would otherwise add `.aider*` to the task's .gitignore,
            // and a clean exit submits every change.
            var argv = [program, "--message", prompt, "--yes-always", "--no-auto-commits", "--no-check-update", "--no-gitignore",
                        "--no-analytics", "--chat-history-file", "\(home)/.aider.chat.history.md",
                        "--input-history-file", "\(home)/.aider.input.history"]
            if let endpoint, let apiBase {
                argv += ["--model", "openai/\(model ?? endpoint.model)", "--openai-api-base", apiBase, "--no-show-model-warnings"]
            } else if let model {
                argv += ["--model", model]
            }
            if session != nil { argv.append("--restore-chat-history") }
            return (argv, [:])
        }
    }
}
