/// How a step's agent is started: its argv and the plain settings of its environment, a
/// function of the agent's group and the step's prompt (so the coordinator decides it and a
/// job carries it). `evolve` runs in the worker and needs neither.
public enum AgentLaunch {
    /// Where mini-swe-agent writes its trajectory, in the workspace (never committed).
    public static let trajectory = ".coevo/trajectory.json"

    /// `seed` goes with every model call of the step (llama.cpp and vLLM honour it), so a
    /// replayed step asks for the same samples.
    public static func command(for group: DiscoverySettings.AgentGroup, prompt: String, seed: UInt64 = 0)
        -> (argv: [String], environment: [String: String]) {
        switch group.runtime {
        case .evolve:
            return ([], [:])
        case .command:
            return (group.command, [:])
        case .miniSweAgent:
            // Text-based mode: actions are fenced shell blocks, so a model without tool
            // calling can act. `-y --exit-immediately`: no confirmations, no closing prompt.
            let endpoint = group.resolvedEndpoint
            let argv = [group.program, "-m", "openai/\(endpoint?.model ?? "model")", "--model-class", "litellm_textbased",
                        "-y", "--exit-immediately", "-c", "mini_textbased.yaml",
                        "-c", "model.model_kwargs.api_base=\(endpoint?.url ?? "")/v1",
                        "-c", "model.model_kwargs.seed=\(seed)",
                        "-c", "agent.step_limit=\(group.maxTurns)",
                        // Small models rarely write the `mswea_bash_command` tag: plain shell fences count too.
                        "-c", #"model.action_regex=```(?:mswea_bash_command|bash|sh|shell)\s*\n(.*?)\n```"#,
                        "-o", trajectory, "-t", prompt]
            // No first-run set-up, no cost lookups on the internet, a placeholder key for a
            // keyless local server.
            let environment = ["MSWEA_CONFIGURED": "true", "MSWEA_COST_TRACKING": "ignore_errors",
                               "LITELLM_LOCAL_MODEL_COST_MAP": "True", "OPENAI_API_KEY": "none"]
            return (argv, environment)
        }
    }
}
