import ArgumentParser
import CoevoCoordinator
import CoevoDashboard
import CoevoStore
import Foundation
import Logging
import ServiceLifecycle

/// `--dashboard` and `--dashboard-token`, shared by `coevo run` and `coevo-coordinator`.
struct DashboardOptions: ParsableArguments {
    @Option(name: .long, help: ArgumentHelp(
        "Serve the live dashboard and Prometheus /metrics on [HOST:]PORT (e.g. 8080, or 0.0.0.0:8080 with a token).",
        valueName: "[HOST:]PORT"))
    var dashboard: String?

    @Option(name: .long, help: "Token that requests from other machines must show (default: $COEVO_DASHBOARD_TOKEN).")
    var dashboardToken: String?

    /// Checked before anything else starts: a dashboard open to the network without a
    /// token, or on a port something listens on, is refused before the database is touched.
    func settings() throws -> DashboardSettings? {
        try dashboard.map { try Self.settings($0, token: dashboardToken) }
    }

    /// `[HOST:]PORT` and the token (default: $COEVO_DASHBOARD_TOKEN) as settings whose
    /// port is free; `coevo dashboard` takes the same.
    static func settings(_ address: String, token: String?) throws -> DashboardSettings {
        do {
            let settings = try DashboardSettings.parse(address, token: token ?? ProcessInfo.processInfo.environment["COEVO_DASHBOARD_TOKEN"])
            try settings.checkPortIsFree()
            return settings
        } catch let error as DashboardError {
            throw UserFacingError(error.description)
        }
    }

    /// The server, with `observer` chained so it sees progress and job activity; nil
    /// without --dashboard.
    static func server(_ settings: DashboardSettings?, store: CoevoStore, logger: Logger,
                       observer: inout CoordinatorObserver) -> DashboardServer? {
        guard let settings else { return nil }
        let server = DashboardServer(settings: settings, store: store, logger: logger)
        observer = server.observing(observer)
        return server
    }
}
