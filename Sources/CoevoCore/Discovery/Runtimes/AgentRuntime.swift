import Foundation

/// One command-line agent runtime (a plain command, mini-swe-agent, Claude Code, codex,
/// opencode, aider): everything coevo knows about a tool, in the tool's own file. The
/// worker runs every runtime the same way and asks it only what this protocol asks;
/// `DiscoverySettings.Runtime.agent` is the registry. A new runtime is a file in this
/// folder, a case in `DiscoverySettings.Runtime` and one line in `agent`.
///
/// Pure: a runtime builds command lines and reads what its tool left; the worker starts
/// the process, in its sandbox, and reads the files.
public protocol AgentRuntime: Sendable {
    /// The program a group runs unless it names one ("" for a plain command: its argv).
    var defaultProgram: String { get }
    /// The API the tool speaks when it calls an endpoint itself ("openai", "anthropic");
    /// nil: it never calls a config endpoint.
    var endpointAPI: String? { get }
    /// True when an agent of this runtime cannot run without an endpoint of the config.
    var needsEndpoint: Bool { get }
    /// True when the tool keeps a session the next step on the same worker resumes.
    var resumes: Bool { get }
    /// True when the prompt goes on stdin rather than on the command line.
    var promptOnStdin: Bool { get }
    /// The hosts the tool calls when it has no endpoint of the config (its vendor's API and
    /// sign-in), as `EgressProxy` domains: all the network its sandbox gets then.
    var vendorDomains: [String] { get }
    /// Why a config may not use this runtime yet (nil: it may): a runtime no test runs
    /// against its real tool is refused, not shipped on trust.
    var unavailable: String? { get }
    /// The command line and the runtime's own environment settings for one step; `home`
    /// is the agent's home on the worker, `session` the session to resume (nil: a fresh one).
    func command(_ launch: AgentLaunch, prompt: String, home: String, resume session: String?) -> (argv: [String], environment: [String: String])
    /// What the tool's output and files say about the step.
    func report(_ run: AgentRunOutput) -> AgentStepReport
}

extension AgentRuntime {
    public var needsEndpoint: Bool { false }
    public var resumes: Bool { false }
    public var promptOnStdin: Bool { false }
    public var vendorDomains: [String] { [] }
    public var unavailable: String? { nil }
}

/// What a step's process left for its runtime to read.
public struct AgentRunOutput {
    public var stdout: Data
    public var exitCode: Int32?
    /// Reads a file of the agent's workspace (nil: absent or unreadable).
    public var workspaceFile: (String) -> Data?
    /// Whether the agent's home on the worker holds a file.
    public var homeHas: (String) -> Bool

    public init(stdout: Data, exitCode: Int32?, workspaceFile: @escaping (String) -> Data? = { _ in nil },
                homeHas: @escaping (String) -> Bool = { _ in false }) {
        self.stdout = stdout
        self.exitCode = exitCode
        self.workspaceFile = workspaceFile
        self.homeHas = homeHas
    }
}

/// What a runtime reads out of its tool's step.
public struct AgentStepReport: Hashable, Sendable {
    /// The session the tool ran in, which the next step on this worker resumes.
    public var session: String?
    public var usage = TokenUsage(promptTokens: 0, completionTokens: 0)
    /// The tokens the step used, as the tool counts them.
    public var tokens = 0
    /// What the tool says its calls cost (0: it says nothing).
    public var costUSD = 0.0
    /// Model calls (turns) the tool reports.
    public var turns = 0
    /// The tool's last words, shown as the step's transcript (nil: the output's tail is).
    public var lastWords: String?
    /// Said after how the process ended ("; mini-swe-agent: Submitted").
    public var exitNote = ""
    /// The commit message when the step counts as a submission though the agent ran no
    /// `coevo eval` (its tool ends otherwise); nil: only `coevo eval` submits.
    public var submitMessage: String?

    public init(session: String? = nil, usage: TokenUsage = TokenUsage(promptTokens: 0, completionTokens: 0), tokens: Int? = nil,
                costUSD: Double = 0, turns: Int = 0, lastWords: String? = nil, exitNote: String = "", submitMessage: String? = nil) {
        self.session = session
        self.usage = usage
        self.tokens = tokens ?? usage.total
        self.costUSD = costUSD
        self.turns = turns
        self.lastWords = lastWords
        self.exitNote = exitNote
        self.submitMessage = submitMessage
    }

    /// Adds a JSON event's token counts.
    mutating func add(input: Any?, output: Any?) {
        usage.promptTokens += input as? Int ?? 0
        usage.completionTokens += output as? Int ?? 0
        tokens = usage.total
    }

    /// Each line of a tool's output that is a JSON object, in order; other lines
    /// (warnings, progress) are skipped.
    static func jsonEvents(_ stdout: Data) -> [[String: Any]] {
        stdout.split(separator: UInt8(ascii: "\n")).compactMap { (try? JSONSerialization.jsonObject(with: Data($0))) as? [String: Any] }
    }

    /// The last words kept: at most 4,000 characters, nil when there are none.
    static func kept(_ words: String) -> String? { words.isEmpty ? nil : String(words.suffix(4000)) }
}
