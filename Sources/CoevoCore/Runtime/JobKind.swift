/// The job kinds the runtime ships. Later issues add kinds for agent backends.
public enum JobKind: String, CaseIterable, Sendable {
    /// Returns its payload unchanged: the dispatch benchmark's unit of work.
    case noop
    /// Sleeps for the milliseconds in its payload (8 bytes, little endian), then returns
    /// the payload: long-running jobs for fault tests.
    case sleep
    /// One chat call to the endpoint in its payload (`LLMJob`), answered with `LLMJobOutput`.
    case llm = "llm.chat"
    /// A command-line agent run in its own workspace (`CommandAgentJob`).
    case agentCommand = "agent.command"
}
