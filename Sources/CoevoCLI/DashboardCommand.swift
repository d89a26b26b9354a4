import ArgumentParser
import CoevoDashboard
import Foundation

/// `coevo dashboard DB`: the live dashboard's pages over a database no coordinator is
/// serving (a finished run, or one stopped), to look at after the fact.
public struct DashboardCommand: AsyncParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "dashboard",
        abstract: "Serve the dashboard over a run database: its runs' charts, heatmaps, lineage and agents' words.",
        discussion: """
            The same pages as `coevo run --dashboard`, read from the database; there is no \
            coordinator, so no live summary (/api/summary answers 503). Ctrl-C stops it.
            Example: coevo dashboard runs/quickstart.sqlite --port 8080
            """)

    @Argument(help: "The run database, or a config that names it.")
    var source: String

    @Option(name: .long, help: ArgumentHelp("Where to serve it: PORT or HOST:PORT (another machine's access needs --dashboard-token).",
                                            valueName: "[HOST:]PORT"))
    var port: String = "8080"

    @Option(name: .long, help: "Token that requests from other machines must show (default: $COEVO_DASHBOARD_TOKEN).")
    var dashboardToken: String?

    @OptionGroup var logging: LoggingOptions

    public init() {}

    public func run() async throws {
        let logger = logging.bootstrap(label: "coevo.dashboard")
        let store = try openDatabase(source)
        defer { store.writer.stop() }
        let settings = try DashboardOptions.settings(port, token: dashboardToken)
        let runs = try store.runs()
        logger.notice("\(runs.count) run(s) in \(store.path): \(runs.map(\.id).joined(separator: ", "))")
        try await runUntilShutdown([DashboardServer(settings: settings, store: store, logger: logger)], logger: logger)
    }
}
