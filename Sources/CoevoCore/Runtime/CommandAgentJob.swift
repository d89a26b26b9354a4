/// The payload of an `agent.command` job: run a command-line agent (claude -p, codex exec,
/// a script...) in the agent's own workspace on the worker. The exchange is JSON: `input`
/// goes to the agent's stdin, and the agent prints one JSON value on stdout.
public struct CommandAgentJob: Hashable, Sendable, Codable {
    public var agent: String
    public var command: [String]
    /// JSON text for the agent's stdin.
    public var input: String
    /// A git repository the workspace is a worktree of; nil for a plain directory.
    public var repository: String?
    public var timeoutMs: Int
    /// Killed after this long without output (0: no watchdog).
    public var stallMs: Int
    public var maxOutputBytes: Int
    public var cpuSeconds: Int?
    public var memoryBytes: Int?
    public var openFiles: Int?
    /// Plain settings for the agent's environment (plus PATH). Never a secret: a job
    /// travels over the wire and is stored.
    public var environment: [String: String]
    /// Names of the worker's own environment variables (API keys) the agent gets: the
    /// values never leave the worker, and only names its `--allow-agent-key` lists are given.
    public var secretNames: [String]
    /// Run as this user id, so grader-private files stay out of reach (needs a root worker).
    public var userID: UInt32?

    public init(agent: String, command: [String], input: String, repository: String? = nil, timeoutMs: Int = 600_000,
                stallMs: Int = 0, maxOutputBytes: Int = 1 << 20, cpuSeconds: Int? = nil, memoryBytes: Int? = nil,
                openFiles: Int? = nil, environment: [String: String] = [:], secretNames: [String] = [], userID: UInt32? = nil) {
        self.agent = agent
        self.command = command
        self.input = input
        self.repository = repository
        self.timeoutMs = timeoutMs
        self.stallMs = stallMs
        self.maxOutputBytes = maxOutputBytes
        self.cpuSeconds = cpuSeconds
        self.memoryBytes = memoryBytes
        self.openFiles = openFiles
        self.environment = environment
        self.secretNames = secretNames
        self.userID = userID
    }
}
