import Foundation

/// mini-swe-agent (PyPI) in its text-based mode, on a model endpoint of the config:
/// `PROGRAM -m openai/MODEL --model-class litellm_textbased -y --exit-immediately
/// -c mini_textbased.yaml -c model.model_kwargs.api_base=URL/v1 -c model.model_kwargs.seed=SEED
/// -c agent.step_limit=N -c model.action_regex=... -o .coevo/trajectory.json -t PROMPT`.
/// No sessions: each step starts afresh. Its trajectory file says how it ended, its model
/// calls and tokens and its last replies; it finishes by echoing its own submit marker
/// rather than calling `coevo eval`, which counts as a submission of what it changed.
struct MiniSweAgentRuntime: AgentRuntime {
    /// Where it writes its trajectory, in the workspace (never committed).
    static let trajectory = ".coevo/trajectory.json"

    var defaultProgram: String { "mini" }
    var endpointAPI: String? { "openai" }
    var needsEndpoint: Bool { true }

    func command(_ launch: AgentLaunch, prompt: String, home: String, resume session: String?) -> (argv: [String], environment: [String: String]) {
        // Text-based mode: actions are fenced shell blocks, so a model without tool
        // calling can act. `-y --exit-immediately`: no confirmations, no closing prompt.
        let argv = [launch.program, "-m", "openai/\(launch.model ?? "model")", "--model-class", "litellm_textbased",
                    "-y", "--exit-immediately", "-c", "mini_textbased.yaml",
                    "-c", "model.model_kwargs.api_base=\(launch.apiBase ?? "")",
                    "-c", "model.model_kwargs.seed=\(launch.seed)",
                    "-c", "agent.step_limit=\(launch.maxTurns)",
                    // Small models rarely write the `mswea_bash_command` tag: plain shell fences count too.
                    "-c", #"model.action_regex=```(?:mswea_bash_command|bash|sh|shell)\s*\n(.*?)\n```"#,
                    "-o", Self.trajectory, "-t", prompt]
        // No first-run set-up, no cost lookups on the internet.
        return (argv, ["MSWEA_CONFIGURED": "true", "MSWEA_COST_TRACKING": "ignore_errors", "LITELLM_LOCAL_MODEL_COST_MAP": "True"])
    }

    func report(_ run: AgentRunOutput) -> AgentStepReport {
        guard let data = run.workspaceFile(Self.trajectory), let trajectory = try? JSONDecoder().decode(MiniSweTrajectory.self, from: data) else {
            return AgentStepReport(exitNote: "; mini-swe-agent left no trajectory")
        }
        let status = trajectory.info.exitStatus ?? "unknown"
        // Its `instance_cost` is not read: it always calls an endpoint of the config, whose
        // prices are the step's.
        return AgentStepReport(
            usage: trajectory.usage,
            tokens: trajectory.messages.reduce(0) { $0 + ($1.extra?.response?.usage?.totalTokens ?? 0) },
            turns: trajectory.info.modelStats?.apiCalls ?? 0,
            lastWords: trajectory.messages.compactMap { $0.extra?.modelResponse }.suffix(3).joined(separator: "\n---\n"),
            exitNote: "; mini-swe-agent: \(status)",
            submitMessage: status == "Submitted" ? "mini-swe-agent: submitted" : nil)
    }
}
