import ArgumentParser
import CoevoBackends
import CoevoCoordinator
import CoevoCore
import CoevoStore
import CoevoWire
import Foundation
import Logging
import ServiceLifecycle

/// `coevo-coordinator` (also `coevo coordinator`): the head-node process.
public struct CoordinatorCommand: AsyncParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "coordinator",
        abstract: "Run a coordinator: serve the config's run (or resume the database's unfinished runs) to workers.",
        discussion: """
            The coordinator binds a ZeroMQ ROUTER socket; start workers anywhere with \
            `coevo-worker --connect tcp://THIS-HOST:PORT`. Killing it (even with SIGKILL) loses \
            nothing: start it again on the same --database and it resumes, and workers \
            reconnect on their own. SIGTERM or Ctrl-C drains leased jobs first.
            """)

    @Option(name: .long, help: "Experiment config (YAML). Omit for the embedded defaults.")
    var config: String?

    @OptionGroup var resumeOptions: ResumeOptions

    @OptionGroup var coordinatorOptions: CoordinatorOverrides

    @Flag(name: .long, help: "Exit once every run in the database is finished.")
    var exitWhenDone = false

    @OptionGroup var dashboardOptions: DashboardOptions

    @OptionGroup var logging: LoggingOptions

    public init() {}

    public func run() async throws {
        let logger = logging.bootstrap(label: "coevo.coordinator")
        let dashboardSettings = try dashboardOptions.settings()
        let (config, text) = try loadConfig(self.config) { coordinatorOptions.apply(to: &$0) }

        try refuseAnExposedGrader(config)
        var settings = try coordinatorOptions.settings(for: config)
        settings.exitWhenDone = exitWhenDone
        let store = try openStore(config, logger: logger)
        // Ports first: a coordinator that cannot listen writes no run.
        var observer = CoordinatorObserver()
        let dashboard = DashboardOptions.server(dashboardSettings, store: store, logger: logger, observer: &observer)
        let service = CoordinatorService(settings: settings, store: store, logger: logger, observer: observer)
        try bindOrExplain(service, config: config)
        _ = try prepareRun(config, text: text, given: self.config != nil, resume: resumeOptions, store: store, logger: logger)
        try await runUntilShutdown([service] + (dashboard.map { [$0] } ?? []), logger: logger)
        store.writer.stop()
        ZMQContext.shared.terminate()
        try failIfTheStoreGaveUp(store)
    }
}

/// Agents sandboxed on this machine (a `coevo run`'s local workers, or workers beside the
/// coordinator) must not find the task's grader among what their sandboxes show.
func refuseAnExposedGrader(_ config: ExperimentConfig) throws {
    if let grader = config.discovery?.task.grader, let problem = GraderExposure.problem(grader: grader, shown: []) {
        throw UserFacingError(problem)
    }
}

/// A coordinator that stopped because its store could not be written exits non-zero.
func failIfTheStoreGaveUp(_ store: CoevoStore) throws {
    if let failure = store.writer.failure {
        throw UserFacingError("the database \(store.path) could not be written (\(failure)); the run stopped and resumes from what was committed once it can be written again")
    }
}

func openStore(_ config: ExperimentConfig, logger: Logger) throws -> CoevoStore {
    do {
        return try CoevoStore(path: config.coordinator.database, flushMilliseconds: config.coordinator.storeFlushMilliseconds)
    } catch {
        throw UserFacingError("cannot open database \(config.coordinator.database): \(error)")
    }
}

func bindOrExplain(_ service: CoordinatorService, config: ExperimentConfig) throws {
    do {
        try service.bind()
    } catch {
        throw UserFacingError("cannot bind \(config.coordinator.bind): \(error) (is another coordinator running there? pick another with --bind)")
    }
}

/// Runs services until they finish or SIGTERM/SIGINT asks them to drain.
func runUntilShutdown(_ services: [any Service], logger: Logger) async throws {
    let group = ServiceGroup(configuration: .init(
        // A service that returns on its own (a finished run) ends the group cleanly.
        services: services.map { .init(service: $0, successTerminationBehavior: .gracefullyShutdownGroup) },
        gracefulShutdownSignals: [.sigterm, .sigint],
        logger: logger))
    try await group.run()
}
