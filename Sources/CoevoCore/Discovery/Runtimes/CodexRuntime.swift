/// codex: `codex exec --json --skip-git-repo-check --sandbox workspace-write [-m M] PROMPT`,
/// resumed as `codex exec ... [-m M] resume SESSION PROMPT`; with an endpoint (one that
/// serves OpenAI's Responses API: OpenAI's, or a gateway such as LiteLLM) `-m MODEL -c
/// model_provider=coevo -c model_providers.coevo={name="coevo", base_url="URL/v1",
/// env_key="OPENAI_API_KEY", wire_api="responses"}` instead of `-m M`. Its JSON lines:
/// `{"type":"thread.started","thread_id":…}`, then per turn `{"type":"turn.completed",
/// "usage":{"input_tokens":…,"output_tokens":…}}` and `{"type":"item.completed","item":
/// {"type":"agent_message","text":…}}`. It never says what its calls cost.
struct CodexRuntime: AgentRuntime {
    var defaultProgram: String { "codex" }
    /// OpenAI's API, its sign-in, and ChatGPT's backend (a ChatGPT plan's codex calls it).
    var vendorDomains: [String] { ["openai.com", "chatgpt.com"] }
    var endpointAPI: String? { "openai" }
    var resumes: Bool { true }

    func command(_ launch: AgentLaunch, prompt: String, home: String, resume session: String?) -> (argv: [String], environment: [String: String]) {
        var argv = [launch.program, "exec", "--json", "--skip-git-repo-check", "--sandbox", "workspace-write"]
        if let endpoint = launch.endpoint, let apiBase = launch.apiBase {
            // A model provider of its own for the step, defined on the command line.
            argv += ["-m", launch.model ?? endpoint.model, "-c", "model_provider=coevo", "-c",
                     #"model_providers.coevo={name="coevo", base_url="\#(apiBase)", env_key="\#(launch.keyVariable)", wire_api="responses"}"#]
        } else if let model = launch.model {
            argv += ["-m", model]
        }
        if let session { argv += ["resume", session] }
        return (argv + [prompt], [:])
    }

    func report(_ run: AgentRunOutput) -> AgentStepReport {
        var report = AgentStepReport()
        var words = ""
        for event in AgentStepReport.jsonEvents(run.stdout) {
            if event["type"] as? String == "thread.started", let id = event["thread_id"] as? String { report.session = id }
            if event["type"] as? String == "turn.completed" {
                let usage = event["usage"] as? [String: Any] ?? [:]
                report.add(input: usage["input_tokens"], output: usage["output_tokens"])
                report.turns += 1
            }
            if let item = event["item"] as? [String: Any], item["type"] as? String == "agent_message", let text = item["text"] as? String {
                words = text
            }
        }
        report.lastWords = AgentStepReport.kept(words)
        return report
    }
}
