import CoevoCore
import Foundation

/// What a command-line coding agent's own output says about its step: the session it ran
/// in (resumed by the next step on the same worker), the tokens, cost and model turns it
/// reports, and its last words. Each tool prints JSON lines of its own:
/// - claude-code (`--output-format stream-json`): a `{"type":"system","subtype":"init",
///   "session_id":…}` line first, a `{"type":"result","session_id":…,"num_turns":…,
///   "total_cost_usd":…,"usage":{"input_tokens":…,"output_tokens":…},"result":…}` line last;
/// - codex (`exec --json`): `{"type":"thread.started","thread_id":…}`, then per turn
///   `{"type":"turn.completed","usage":{"input_tokens":…,"output_tokens":…}}` and
///   `{"type":"item.completed","item":{"type":"agent_message","text":…}}`;
/// - opencode (`run --format json`): events that carry `"sessionID"`, with
///   `"tokens":{"input":…,"output":…}` and `"cost"` on finished steps and `"text"` on
///   text parts;
/// - aider prints text: its session is its chat history file, kept in the agent's home;
///   each model reply ends with `Tokens: 2.3k sent, 145 received.` and, for a model it
///   has a price for, `Cost: $0.01 message, $0.02 session.`
/// Lines that are not JSON (warnings, progress) are skipped.
public struct CLIAgentReport: Hashable, Sendable {
    public var session: String?
    public var usage = TokenUsage(promptTokens: 0, completionTokens: 0)
    /// What the tool says its calls cost (0: it says nothing; codex never does).
    public var costUSD = 0.0
    public var turns = 0
    public var lastWords = ""
    public var tokens: Int { usage.total }

    public init(session: String? = nil, usage: TokenUsage = TokenUsage(promptTokens: 0, completionTokens: 0), costUSD: Double = 0,
                turns: Int = 0, lastWords: String = "") {
        self.session = session
        self.usage = usage
        self.costUSD = costUSD
        self.turns = turns
        self.lastWords = lastWords
    }

    private mutating func add(input: Any?, output: Any?) {
        usage.promptTokens += input as? Int ?? 0
        usage.completionTokens += output as? Int ?? 0
    }

    public static func read(_ runtime: DiscoverySettings.Runtime, stdout: Data, home: AgentFiles) -> CLIAgentReport {
        var report = CLIAgentReport()
        if runtime == .aider {
            report.session = home.exists(".aider.chat.history.md") ? "aider-chat-history" : nil
            let text = String(decoding: stdout, as: UTF8.self)
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
            report.lastWords = String(text.suffix(2000))
            return report
        }
        for line in stdout.split(separator: UInt8(ascii: "\n")) {
            guard let event = (try? JSONSerialization.jsonObject(with: Data(line))) as? [String: Any] else { continue }
            switch runtime {
            case .claudeCode:
                if let id = event["session_id"] as? String { report.session = id }
                if event["type"] as? String == "result" {
                    let usage = event["usage"] as? [String: Any] ?? [:]
                    report.add(input: usage["input_tokens"], output: usage["output_tokens"])
                    report.costUSD += event["total_cost_usd"] as? Double ?? 0
                    report.turns += event["num_turns"] as? Int ?? 0
                    if let text = event["result"] as? String { report.lastWords = text }
                }
            case .codex:
                if event["type"] as? String == "thread.started", let id = event["thread_id"] as? String { report.session = id }
                if event["type"] as? String == "turn.completed" {
                    let usage = event["usage"] as? [String: Any] ?? [:]
                    report.add(input: usage["input_tokens"], output: usage["output_tokens"])
                    report.turns += 1
                }
                if let item = event["item"] as? [String: Any], item["type"] as? String == "agent_message", let text = item["text"] as? String {
                    report.lastWords = text
                }
            case .opencode:
                let part = event["part"] as? [String: Any] ?? event
                if let id = (event["sessionID"] ?? part["sessionID"]) as? String { report.session = id }
                if let tokens = part["tokens"] as? [String: Any] {
                    report.add(input: tokens["input"], output: tokens["output"])
                    report.costUSD += part["cost"] as? Double ?? 0
                    report.turns += 1
                }
                if part["type"] as? String == "text", let text = part["text"] as? String { report.lastWords = text }
            default:
                break
            }
        }
        report.lastWords = String(report.lastWords.suffix(4000))
        return report
    }
}
