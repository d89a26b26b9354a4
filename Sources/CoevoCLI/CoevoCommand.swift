import ArgumentParser

/// `coevo`: the researcher's entry point.
public struct CoevoCommand: AsyncParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "coevo",
        abstract: "Distributed multi-agent co-evolution runtime.",
        discussion: """
            Start here:  coevo run Configs/quickstart.yaml
            On a cluster: coevo-coordinator --config X.yaml on the head node, coevo-worker --connect tcp://HEAD:5555 on every node.
            """,
        subcommands: [
            RunCommand.self, ValidateCommand.self, CoordinatorCommand.self, WorkerCommand.self, StatusCommand.self, ReportCommand.self, DashboardCommand.self, AblateCommand.self,
            BenchCommand.self, KeysCommand.self, CalibrateCommand.self, MemoryCommand.self, EvalCommand.self,
        ])

    public init() {}
}
