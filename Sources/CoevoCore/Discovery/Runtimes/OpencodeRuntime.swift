/// opencode: `opencode run --format json [--model M] [--session SESSION] PROMPT`. Its
/// events carry `"sessionID"`, with `"tokens":{"input":…,"output":…}` and `"cost"` on
/// finished steps and `"text"` on text parts (checked against its documented formats).
struct OpencodeRuntime: AgentRuntime {
    var defaultProgram: String { "opencode" }
    /// Its own service, the model catalogue it reads at start, and the two main providers' APIs.
    var vendorDomains: [String] { ["opencode.ai", "models.dev", "anthropic.com", "openai.com"] }
    var endpointAPI: String? { nil }
    var resumes: Bool { true }
    /// Its CLI comes from npm only (no PyPI package bundles it, as one does Claude Code and
    /// codex), and nothing this project tests on can reach npm: the adapter is checked
    /// against opencode's documented formats, never against the tool.
    var unavailable: String? {
        "opencode is not supported yet: its CLI is distributed on npm only, which coevo's test machines cannot reach, "
            + "so no test runs it against the real tool; use claude-code, codex, aider or mini-swe-agent"
    }

    func command(_ launch: AgentLaunch, prompt: String, home: String, resume session: String?) -> (argv: [String], environment: [String: String]) {
        var argv = [launch.program, "run", "--format", "json"]
        if let model = launch.model { argv += ["--model", model] }
        if let session { argv += ["--session", session] }
        return (argv + [prompt], [:])
    }

    func report(_ run: AgentRunOutput) -> AgentStepReport {
        var report = AgentStepReport()
        var words = ""
        for event in AgentStepReport.jsonEvents(run.stdout) {
            let part = event["part"] as? [String: Any] ?? event
            if let id = (event["sessionID"] ?? part["sessionID"]) as? String { report.session = id }
            if let tokens = part["tokens"] as? [String: Any] {
                report.add(input: tokens["input"], output: tokens["output"])
                report.costUSD += part["cost"] as? Double ?? 0
                report.turns += 1
            }
            if part["type"] as? String == "text", let text = part["text"] as? String { words = text }
        }
        report.lastWords = AgentStepReport.kept(words)
        return report
    }
}
