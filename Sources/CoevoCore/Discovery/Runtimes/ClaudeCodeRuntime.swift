/// Claude Code: `claude -p PROMPT --output-format stream-json --verbose
/// --dangerously-skip-permissions --max-turns N [--model M] [--resume SESSION]`, with
/// `ANTHROPIC_BASE_URL=URL` and `--model MODEL` when its group names an endpoint (one that
/// speaks Anthropic's Messages API: Anthropic's, or a gateway such as LiteLLM in front of
/// any other model). Its stream-json output has a `{"type":"system","subtype":"init",
/// "session_id":…}` line first and a `{"type":"result","session_id":…,"num_turns":…,
/// "total_cost_usd":…,"usage":{"input_tokens":…,"output_tokens":…},"result":…}` line last.
struct ClaudeCodeRuntime: AgentRuntime {
    var defaultProgram: String { "claude" }
    /// Anthropic's API and its sign-in (a Claude subscription's token is refreshed there).
    var vendorDomains: [String] { ["anthropic.com", "claude.ai", "claude.com"] }
    var endpointAPI: String? { "anthropic" }
    var resumes: Bool { true }

    func command(_ launch: AgentLaunch, prompt: String, home: String, resume session: String?) -> (argv: [String], environment: [String: String]) {
        var argv = [launch.program, "-p", prompt, "--output-format", "stream-json", "--verbose",
                    "--dangerously-skip-permissions", "--max-turns", "\(launch.maxTurns)"]
        // No telemetry, update checks or error reports from a step. Claude Code refuses
        // to skip permission prompts as root unless told it is sandboxed: a worker in a
        // container is root, and the step's workspace is a throwaway worktree (run agents
        // under their own uid with `discovery.agent_user`).
        var environment = ["CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1", "IS_SANDBOX": "1"]
        if let endpoint = launch.endpoint {
            argv += ["--model", launch.model ?? endpoint.model]
            environment["ANTHROPIC_BASE_URL"] = endpoint.url
        } else if let model = launch.model {
            argv += ["--model", model]
        }
        if let session { argv += ["--resume", session] }
        return (argv, environment)
    }

    func report(_ run: AgentRunOutput) -> AgentStepReport {
        var report = AgentStepReport()
        var words = ""
        for event in AgentStepReport.jsonEvents(run.stdout) {
            if let id = event["session_id"] as? String { report.session = id }
            guard event["type"] as? String == "result" else { continue }
            let usage = event["usage"] as? [String: Any] ?? [:]
            report.add(input: usage["input_tokens"], output: usage["output_tokens"])
            report.costUSD += event["total_cost_usd"] as? Double ?? 0
            report.turns += event["num_turns"] as? Int ?? 0
            if let text = event["result"] as? String { words = text }
        }
        report.lastWords = AgentStepReport.kept(words)
        return report
    }
}
