/// aider: `aider --message PROMPT --yes-always --no-auto-commits --no-check-update
/// --no-gitignore --no-analytics --chat-history-file HOME/.aider.chat.history.md
/// --input-history-file HOME/.aider.input.history [--model M | --model openai/MODEL
/// --openai-api-base URL/v1] [--restore-chat-history]`. Its session is its chat history
/// on the worker; with an `endpoint` it calls that OpenAI-compatible server. It prints
/// text: each model reply ends with `Tokens: 2.3k sent, 145 received.` and, for a model
/// it has a price for, `Cost: $0.01 message, $0.02 session.` It edits files but runs no
/// `coevo eval`: a clean exit submits what it changed.
struct AiderRuntime: AgentRuntime {
    static let chatHistory = ".aider.chat.history.md"

    var defaultProgram: String { "aider" }
    /// The APIs of the two providers aider picks a default model from by the keys it finds.
    var vendorDomains: [String] { ["anthropic.com", "openai.com"] }
    var endpointAPI: String? { "openai" }
    var resumes: Bool { true }

    func command(_ launch: AgentLaunch, prompt: String, home: String, resume session: String?) -> (argv: [String], environment: [String: String]) {
        // --no-gitignore: aider would otherwise add `.aider*` to the task's .gitignore,
        // and a clean exit submits every change.
        var argv = [launch.program, "--message", prompt, "--yes-always", "--no-auto-commits", "--no-check-update", "--no-gitignore",
                    "--no-analytics", "--chat-history-file", "\(home)/\(Self.chatHistory)",
                    "--input-history-file", "\(home)/.aider.input.history"]
        if let endpoint = launch.endpoint, let apiBase = launch.apiBase {
            argv += ["--model", "openai/\(launch.model ?? endpoint.model)", "--openai-api-base", apiBase, "--no-show-model-warnings"]
        } else if let model = launch.model {
            argv += ["--model", model]
        }
        if session != nil { argv.append("--restore-chat-history") }
        return (argv, [:])
    }

    func report(_ run: AgentRunOutput) -> AgentStepReport {
        var report = AgentStepReport()
        report.session = run.homeHas(Self.chatHistory) ? "aider-chat-history" : nil
        let text = String(decoding: run.stdout, as: UTF8.self)
        for line in text.split(separator: "\n") {
            guard let match = line.firstMatch(of: /Tokens: ([0-9.]+)(k?) sent, ([0-9.]+)(k?) received\./) else { continue }
            func count(_ digits: Substring, _ thousands: Substring) -> Int {
                Int(((Double(digits) ?? 0) * (thousands.isEmpty ? 1 : 1000)).rounded())
            }
            report.usage.promptTokens += count(match.1, match.2)
            report.usage.completionTokens += count(match.3, match.4)
            report.turns += 1
            if let cost = line.firstMatch(of: /Cost: \$([0-9.]+) message/), let usd = Double(cost.1) { report.costUSD += usd }
        }
        report.tokens = report.usage.total
        report.lastWords = text.isEmpty ? nil : String(text.suffix(2000))
        report.submitMessage = run.exitCode == 0 ? "aider: its changes" : nil
        return report
    }
}
