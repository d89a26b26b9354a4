import ArgumentParser
import CoevoBackends
import CoevoCoordinator
import CoevoCore
import CoevoStore
import CoevoWire
import Foundation
import Logging
import Synchronization

/// `coevo run CONFIG`: the laptop path. A coordinator in this process plus local worker
/// processes, live progress, a summary at the end; Ctrl-C drains and the same command
/// resumes later.
public struct RunCommand: AsyncParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "run",
        abstract: "Run an experiment here: a coordinator plus local worker processes.",
        discussion: """
            Before anything is written it binds its ports, starts the config's model server and \
            asks every endpoint for one token; an endpoint that does not answer is refused \
            (exit 2) with its URL and the server's words. Progress is shown every second: \
            redrawn in place on a terminal, one line a second otherwise. --dashboard PORT \
            serves a live dashboard and Prometheus metrics. Ctrl-C (or SIGTERM) drains \
            in-flight jobs and exits; running the same command again resumes the run from its \
            database (an edited config asks for --resume or --new-run). A run whose every job \
            failed exits 1. The same config runs on a cluster with coevo-coordinator and \
            coevo-worker; `coevo validate CONFIG` checks it without running.
            """)

    @Argument(help: "Experiment config (YAML), e.g. Configs/quickstart.yaml. Omit for the embedded defaults: a 20,000-job runtime batch.")
    var config: String?

    @Option(name: .long, help: "Local worker processes to start (overrides workers.count).")
    var workers: Int?

    @Option(name: .long, help: "Slots per local worker (overrides workers.slots).")
    var slots: Int?

    @Flag(name: .long, help: "Let the local workers run discovery agents, candidates and graders without a sandbox where this machine cannot make one (no bubblewrap).")
    var unsandboxed = false

    @Flag(name: .long, help: "Start without asking each endpoint for one token first (by default a run whose endpoint does not answer is refused before anything is written).")
    var skipEndpointCheck = false

    @OptionGroup var resumeOptions: ResumeOptions

    @OptionGroup var coordinatorOptions: CoordinatorOverrides

    @OptionGroup var dashboardOptions: DashboardOptions

    @OptionGroup var logging: LoggingOptions

    public init() {}

    public func run() async throws {
        let logger = logging.bootstrap(label: "coevo.run")
        let dashboardSettings = try dashboardOptions.settings()
        let (config, text) = try loadConfig(self.config) { config in
            coordinatorOptions.apply(to: &config)
            if let workers { config.workers.count = workers }
            if let slots { config.workers.slots = slots }
        }

        var settings = try coordinatorOptions.settings(for: config)
        settings.exitWhenDone = true
        // Nobody but this run's own workers may join it, even from this machine (an agent
        // under a user of its own, a stray client): with no keys configured, CURVE still
        // runs, on a coordinator key made for this run and held in memory.
        let curve = try settings.curve ?? (CurveKeyPair.generate(), nil)
        settings.curve = curve
        if config.discovery != nil, !unsandboxed, let refusal = Confinement.detected.refusal {
            throw UserFacingError("\(refusal) (for coevo run: --unsandboxed)")
        }
        try refuseAnExposedGrader(config)
        let store = try openStore(config, logger: logger)
        try checkRun(config, text: text, given: self.config != nil, resume: resumeOptions, store: store)

        // Every port is bound, the model server is up and every endpoint has answered
        // before the run is written: a run that cannot go is refused with nothing left behind.
        let display = ProgressDisplay()
        var observer = CoordinatorObserver()
        observer.progress = { progress in progress.summary.map(display.show) }
        let dashboard = DashboardOptions.server(dashboardSettings, store: store, logger: logger, observer: &observer)
        let service = CoordinatorService(settings: settings, store: store, logger: logger, observer: observer)
        try bindOrExplain(service, config: config)
        // The local workers get a key made for this run, let in from memory.
        let localKey = try LocalWorkerKey(port: port(of: service.endpoint), coordinator: curve.keyPair.publicKey)
        defer { localKey.remove() }
        service.authorize(localKey.pair.publicKey, holder: "coevo run's local workers")

        var modelServer: ManagedModelServer?
        if let server = config.modelServer {
            let log = URL(fileURLWithPath: config.coordinator.database).deletingLastPathComponent().appendingPathComponent("model-server.log").path
            modelServer = try await startModelServer(server, logPath: log) { logger.info("\($0)") }
        }
        defer { modelServer?.stop() }
        if !skipEndpointCheck { try await checkEndpoints(config.endpoints, logger: logger) }

        let plan = try prepareRun(config, text: text, given: self.config != nil, resume: resumeOptions, store: store, logger: logger)
        let runIDs = plan.runIDs

        // The endpoint bound, not the one asked for: `tcp://127.0.0.1:*` picks a free port.
        let endpoint = localEndpoint(forBind: service.endpoint)
        let localWorkers = LocalWorkers { statuses in
            logger.error("every local worker exited (exit status \(statuses.map(String.init).joined(separator: ", "))) before the run finished; their messages are above. Nothing is lost: the run waits for workers (`coevo-worker --connect \(endpoint)`), or stop it with Ctrl-C and run the same command again once it is fixed")
        }
        try localWorkers.startWorkers(
            count: config.workers.count, endpoint: endpoint, slots: config.workers.slots,
            heartbeatMs: config.coordinator.heartbeatIntervalMilliseconds, liveness: config.coordinator.liveness,
            logLevel: logging.workerLevel,
            extraArguments: localKey.workerArguments + Self.permissions(config) + (unsandboxed ? ["--unsandboxed"] : []))
        logger.info("started \(config.workers.count) local worker(s) on \(endpoint)")
        if config.workers.count == 0 {
            logger.notice("no local workers: start some with `coevo-worker --connect \(endpoint)`")
        }
        if config.coordinator.minWorkers > config.workers.count {
            let missing = config.coordinator.minWorkers - config.workers.count
            logger.warning("coordinator.min_workers is \(config.coordinator.minWorkers) but \(config.workers.count) local worker(s) run: nothing is leased until \(missing) more join with `coevo-worker --connect \(endpoint)` (as this user on this machine: it finds this run's keys; from other machines set coordinator.curve_key and authorized_keys, docs/CLUSTER.md), or lower min_workers")
        }

        let started = Date()
        try await runUntilShutdown([service] + (dashboard.map { [$0] } ?? []), logger: logger)
        display.finish()
        localWorkers.stop()
        store.writer.stop()
        ZMQContext.shared.terminate()
        let failed = try printSummary(store: store, runs: runIDs, config: config, seconds: Date().timeIntervalSince(started))
        try failIfTheStoreGaveUp(store)
        fflush(nil)  // the summary (stdout) before the error (stderr)
        if let failed { throw UserFacingError(failed) }
    }

    /// The local workers may call the config's endpoints and send each its named key, run
    /// its discovery agents', grader's and candidate's programs and let agents reach their
    /// groups' egress: whoever runs `coevo run` owns both the config and the workers.
    static func permissions(_ config: ExperimentConfig) -> [String] {
        let endpoints = config.endpoints.flatMap { endpoint in
            ["--allow-endpoint", endpoint.url] + (endpoint.apiKeyEnv.map { ["--allow-key", "\($0)=\(endpoint.url)"] } ?? [])
        }
        guard let discovery = config.discovery else { return endpoints }
        let agents = discovery.agents.filter { $0.runtime != .evolve }.map { AgentLaunch(group: $0, seed: 0).program }
        let programs = Set(agents + discovery.task.gradeCommand.prefix(1) + discovery.task.candidateCommand.prefix(1))
        let egress = Set(discovery.agents.flatMap(\.egress))
        return endpoints + programs.sorted().flatMap { ["--allow-command", $0] } + egress.sorted().flatMap { ["--allow-egress", $0] }
    }

    /// Prints each run's summary; returns what to exit non-zero with when every finished
    /// job of a run failed.
    private func printSummary(store: CoevoStore, runs: [String], config: ExperimentConfig, seconds: Double) throws -> String? {
        var failure: String?
        for id in runs {
            let state = try store.run(id: id)?.state ?? .interrupted
            let counts = try store.counts(ofRun: id)
            var lines = ["run \(id): \(state.rawValue)"] + (try runSummary(store: store, run: id, counts: counts))
            lines.append(String(format: "  wall time  %.1f s", seconds) + " (\(LiveSummary.rate(Double(counts.results) / max(seconds, 0.001))))")
            lines.append("  database   \(store.path)")
            if state != .finished {
                lines.append("  resume     run the same command again; it continues where this one stopped")
            }
            print(lines.joined(separator: "\n"))
            if counts.failed > 0 && counts.succeeded == 0 {
                failure = "every finished job of run \(id) failed (\(counts.failed)); the first said: \(counts.firstFailure ?? "nothing")"
            }
        }
        return failure
    }
}

/// A run's figures from the store, as `coevo run` prints them at the end and `coevo
/// report` prints them later: its jobs, what the experiment measured, its results.
func runSummary(store: CoevoStore, run: String, counts: CoevoStore.RunCounts) throws -> [String] {
    let kinds = try store.jobKinds(ofRun: run)
    let labels = kinds.keys.sorted().map { kind in
        switch kind {
        case JobKind.simTurn.rawValue: "sim.turn agent turns"
        case JobKind.llm.rawValue: "llm.chat agent calls"
        default: kind
        }
    }
    var lines = ["  jobs       \(counts.jobs) (\(labels.isEmpty ? "none" : labels.joined(separator: ", ")))"]
    lines += try chamberSummary(store: store, run: run, simulated: kinds[JobKind.simTurn.rawValue] != nil)
    lines += try protocolSummary(store: store, run: run)
    lines.append("  results    \(counts.results) durable, \(counts.succeeded) succeeded, \(counts.failed) failed")
    if let first = counts.firstFailure { lines.append("  1st fail   \(first.prefix(300))") }
    return lines
}

/// The chamber's figures from the event log: the last step, and totals of what the
/// operators did.
func chamberSummary(store: CoevoStore, run: String, simulated: Bool) throws -> [String] {
    let steps = try store.reports(StepReport.self, run: run)
    guard let last = steps.last else { return [] }
    let late = steps.suffix(max(1, steps.count / 2))
    let accuracy = Double(late.reduce(0) { $0 + $1.successes }) / Double(max(1, late.reduce(0) { $0 + $1.tasks }))
    var lifecycle: [String] = []
    for kind in EventKind.chamberLifecycle {
        let n = try store.events(kind: kind, run: run).count
        lifecycle.append("\(n) \(kind.rawValue.dropFirst("chamber_".count))")
    }
    return [
        String(format: "  chamber    %d steps; accuracy %.3f over the second half (last step %.3f)", steps.count, accuracy, last.accuracy),
        "  population \(last.population) agents, \(last.specialists) niche leaders (\(last.stableSpecialists) stable); lineage: \(lifecycle.joined(separator: ", "))",
        "  CODREAM    \(steps.reduce(0) { $0 + $1.codreamEvents }) events, \(steps.reduce(0) { $0 + $1.insightsRouted }) insights routed",
        "  tokens     \(steps.reduce(0) { $0 + $1.tokens })\(simulated ? " (simulated)" : "")",
    ]
}

/// A model-call protocol's summary (the engine's own lines) and where its exports are.
func protocolSummary(store: CoevoStore, run: String) throws -> [String] {
    var lines: [String] = []
    if let event = try store.events(kind: .protocolSummary, run: run).last {
        lines += summaryLines(event.detail).map { "  \($0)" }
    }
    if let exports = try store.events(kind: .exportsWritten, run: run).last {
        lines.append("  exports    \(exports.detail)/*.jsonl")
    }
    return lines
}

/// A stored `protocol_summary` as lines. Databases written before summaries were
/// stored as JSON hold the lines themselves, joined by newlines.
func summaryLines(_ detail: String) -> [String] {
    guard let summary = RunSummary(json: detail) else { return detail.split(separator: "\n").map(String.init) }
    return summary.lines.map(\.rendered)
}

/// Shows the coordinator's summary once a second on stderr: redrawn in place on a
/// terminal, as plain lines (the same figures) when stderr is a file or a pipe.
struct ProgressDisplay: Sendable {
    func show(_ summary: LiveSummary) {
        if TerminalBlock.isTerminal {
            TerminalBlock.draw(summary.lines)
        } else {
            FileHandle.standardError.write(Data(("progress: " + summary.lines.joined(separator: "; ") + "\n").utf8))
        }
    }

    /// What follows (the summary) goes below the last display.
    func finish() { TerminalBlock.release() }
}
