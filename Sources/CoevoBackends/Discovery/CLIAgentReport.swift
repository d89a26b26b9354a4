import CoevoCore
import Foundation

/// What a command-line coding agent's own output says about its step: the session it ran
/// in (resumed by the next step on the same worker), the tokens and model turns it
/// reports, and its last words. Each tool prints JSON lines of its own:
/// - claude-code (`--output-format stream-json`): a `{"type":"system","subtype":"init",
///   "session_id":…}` line first, a `{"type":"result","session_id":…,"num_turns":…,
///   "usage":{"input_tokens":…,"output_tokens":…},"result":…}` line last;
/// - codex (`exec --json`): `{"type":"thread.started","thread_id":…}`, then per turn
///   `{"type":"turn.completed","usage":{"input_tokens":…,"output_tokens":…}}` and
///   `{"type":"item.completed","item":{"type":"agent_message","text":…}}`;
/// - opencode (`run --format json`): events that carry `"sessionID"`, with
///   `"tokens":{"input":…,"output":…}` on finished steps and `"text"` on text parts;
/// - aider prints text: its session is its chat history file, kept in the agent's home.
/// Lines that are not JSON (warnings, progress) are skipped.
public struct CLIAgentReport: Hashable, Sendable {
    public var session: String?
    public var tokens = 0
    public var turns = 0
    public var lastWords = ""

    public init(session: String? = nil, tokens: Int = 0, turns: Int = 0, lastWords: String = "") {
        self.session = session
        self.tokens = tokens
        self.turns = turns
        self.lastWords = lastWords
    }

    public static func read(_ runtime: DiscoverySettings.Runtime, stdout: Data, home: URL) -> CLIAgentReport {
        var report = CLIAgentReport()
        if runtime == .aider {
            let history = home.appendingPathComponent(".aider.chat.history.md")
            report.session = FileManager.default.fileExists(atPath: history.path) ? "aider-chat-history" : nil
            report.lastWords = String(decoding: stdout.suffix(2000), as: UTF8.self)
            return report
        }
        for line in stdout.split(separator: UInt8(ascii: "\n")) {
            guard let event = (try? JSONSerialization.jsonObject(with: Data(line))) as? [String: Any] else { continue }
            switch runtime {
            case .claudeCode:
                if let id = event["session_id"] as? String { report.session = id }
                if event["type"] as? String == "result" {
                    let usage = event["usage"] as? [String: Any] ?? [:]
                    report.tokens += (usage["input_tokens"] as? Int ?? 0) + (usage["output_tokens"] as? Int ?? 0)
                    report.turns += event["num_turns"] as? Int ?? 0
                    if let text = event["result"] as? String { report.lastWords = text }
                }
            case .codex:
                if event["type"] as? String == "thread.started", let id = event["thread_id"] as? String { report.session = id }
                if event["type"] as? String == "turn.completed" {
                    let usage = event["usage"] as? [String: Any] ?? [:]
                    report.tokens += (usage["input_tokens"] as? Int ?? 0) + (usage["output_tokens"] as? Int ?? 0)
                    report.turns += 1
                }
                if let item = event["item"] as? [String: Any], item["type"] as? String == "agent_message", let text = item["text"] as? String {
                    report.lastWords = text
                }
            case .opencode:
                let part = event["part"] as? [String: Any] ?? event
                if let id = (event["sessionID"] ?? part["sessionID"]) as? String { report.session = id }
                if let tokens = part["tokens"] as? [String: Any] {
                    report.tokens += (tokens["input"] as? Int ?? 0) + (tokens["output"] as? Int ?? 0)
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
