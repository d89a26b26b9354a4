/// Any command line (`runtime: command`): the group's argv, run in the workspace with the
/// prompt on stdin (and in `.coevo/prompt.md`); it submits with `coevo eval -m MESSAGE`
/// and reports nothing of its own.
struct CommandRuntime: AgentRuntime {
    var defaultProgram: String { "" }
    var endpointAPI: String? { nil }
    var promptOnStdin: Bool { true }

    func command(_ launch: AgentLaunch, prompt: String, home: String, resume session: String?) -> (argv: [String], environment: [String: String]) {
        (launch.argv, [:])
    }

    func report(_ run: AgentRunOutput) -> AgentStepReport { AgentStepReport() }
}
