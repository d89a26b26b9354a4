import ArgumentParser
import CoevoBackends
import CoevoCoordinator
import CoevoCore
import CoevoStore
import Foundation
import Logging

/// `coevo validate CONFIG`: everything `coevo run` checks before it starts, without
/// starting anything or writing anything.
public struct ValidateCommand: AsyncParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "validate",
        abstract: "Check a config, its endpoints and its database without running it.",
        discussion: """
            Loads and checks the config (exit 2 naming the field on a problem), asks each \
            endpoint for one token (endpoints the config's model_server serves are skipped: \
            coevo run starts that server first), and says what `coevo run` would do with \
            the database: start a new run, resume one, or refuse an edited config.
            """)

    @Argument(help: "Experiment config (YAML). Omit for the embedded defaults.")
    var config: String?

    @Flag(name: .long, help: "Do not call the endpoints.")
    var skipEndpointCheck = false

    @OptionGroup var resumeOptions: ResumeOptions

    public init() {}

    public func run() async throws {
        let (config, text) = try loadConfig(self.config)
        print("config \(self.config ?? "(embedded defaults)"): valid")
        print("  run        \(config.run.name), seed \(config.run.seed): \(Self.experiment(config))")
        print("  workers    \(config.workers.count) local x \(config.workers.slots) slots; coordinator on \(config.coordinator.bind)")
        var problems = 0

        let served = config.modelServer.flatMap { URL(string: $0.healthURL) }
        for endpoint in config.endpoints {
            let url = URL(string: endpoint.url)
            if let served, url?.host == served.host, url?.port == served.port {
                print("  endpoint   \(endpoint.name) (\(endpoint.url)): served by model_server, which coevo run starts; not checked")
            } else if skipEndpointCheck {
                print("  endpoint   \(endpoint.name) (\(endpoint.url)): not checked")
            } else if let problem = await EndpointCheck.problem(endpoint, http: CurlClient()) {
                print("  endpoint   \(problem)")
                problems += 1
            } else {
                print("  endpoint   \(endpoint.name) (\(endpoint.url), model '\(endpoint.model)'): answered")
            }
        }

        let database = config.coordinator.database
        if FileManager.default.fileExists(atPath: database) {
            let store = try openDatabase(database)
            do {
                try RunLauncher.check(config: config, configText: text, store: store, configGiven: self.config != nil,
                                      intent: resumeOptions.intent)
                let unfinished = try store.unfinishedRuns().filter { $0.name == config.run.name }
                let action = unfinished.last.map { "coevo run would resume run \($0.id)" } ?? "coevo run would start a new run"
                print("  database   \(database): \(action)")
            } catch let refusal as RunLauncher.Refusal {
                print("  database   \(database): coevo run would refuse: \(refusal)")
                problems += 1
            }
        } else {
            print("  database   \(database): new; coevo run would create it")
        }
        if problems > 0 { throw ExitCode(2) }
    }

    static func experiment(_ config: ExperimentConfig) -> String {
        if let ps = config.proposerSolver { return "proposer/solver, \(ps.rounds) rounds" }
        if let rb = config.redBlue { return "red-blue, \(rb.rounds) rounds" }
        if let chamber = config.chamber { return "chamber, \(chamber.steps) steps" }
        if let discovery = config.discovery { return "discovery, \(discovery.rounds) rounds" }
        return "a batch of \(config.workload.jobs) \(config.workload.kind.rawValue) jobs"
    }
}
