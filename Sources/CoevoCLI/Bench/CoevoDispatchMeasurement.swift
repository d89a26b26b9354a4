import CoevoCoordinator
import CoevoCore
import CoevoDashboard
import CoevoStore
import CoevoWire
import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import Logging
import ServiceLifecycle
import Synchronization

/// The coevo side of the dispatch benchmark: a real coordinator in this process, real
/// worker processes over tcp loopback, and results made durable in SQLite before a run
/// counts as finished.
struct CoevoDispatchMeasurement {
    let directory: URL
    let logger: Logger

    /// A measurement writing its databases to a fresh temporary directory (the caller
    /// removes it), logging warnings and worse unless told otherwise.
    static func inScratchDirectory(logging: LoggingOptions) throws -> (CoevoDispatchMeasurement, URL) {
        var options = logging
        options.logLevel = options.logLevel ?? "warning"
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("coevo-bench-\(getpid())")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        return (CoevoDispatchMeasurement(directory: directory, logger: options.bootstrap(label: "coevo.bench")), directory)
    }

    /// Timestamps taken by the observer on the coordinator's task.
    final class Clocked: Sendable {
        struct State {
            /// When the first result was applied.
            var firstResult: ContinuousClock.Instant?
            var resultCount = 0
            /// When each result was applied, kept only for round trips: a clock read and
            /// an append per job on the coordinator's task would slow what is measured.
            var results: [ContinuousClock.Instant] = []
            var firstWorkerLoss: ContinuousClock.Instant?
            var killedAt: ContinuousClock.Instant?
            /// Dashboard requests answered 200.
            var polls = 0
        }
        let state = Mutex(State())
        var resultCount: Int { state.withLock { $0.resultCount } }
    }

    /// Runs `jobs` noop jobs; jobs/s counts from the first result to the run being durable.
    /// With `curve`, every connection is CurveZMQ-encrypted and authenticated.
    /// With `dashboard`, the dashboard and metrics are served and a client asks for the
    /// summary and the run's figures every 100 ms, as a browser tab and a Prometheus would.
    /// `cpu`: CPU time per job, in µs, of this process (the coordinator) and of the
    /// worker processes, over the whole phase (start-up included): steadier from run to
    /// run on a shared machine than the rate.
    func throughput(jobs: Int, workers: Int, slots: Int, payloadBytes: Int, curve: Bool = false, dashboard: Bool = false)
        async throws -> (jobsPerSecond: Double, durable: Int, polls: Int, cpu: (coordinator: Double, workers: Double)) {
        let cpuBefore = (ProcessMemory.cpuSeconds(), ProcessMemory.cpuSeconds(children: true))
        let (clocked, finishedAt, store, run) = try await runPhase(
            name: curve ? "throughput-curve" : dashboard ? "throughput-dashboard" : "throughput", kind: .noop, jobs: jobs,
            payloadBytes: payloadBytes, workers: workers, slots: slots, curve: curve, dashboard: dashboard)
        let first = clocked.state.withLock { $0.firstResult }!
        let seconds = RawZeroMQBaseline.seconds(finishedAt - first)
        let durable = try store.counts(ofRun: run).results
        let perJob = 1e6 / Double(max(1, jobs))
        let cpu = ((ProcessMemory.cpuSeconds() - cpuBefore.0) * perJob, (ProcessMemory.cpuSeconds(children: true) - cpuBefore.1) * perJob)
        return (Double(jobs) / seconds, durable, clocked.state.withLock { $0.polls }, cpu)
    }

    /// One worker with one slot: each result is followed by the next lease, so the gap
    /// between consecutive results is one dispatch round trip.
    func roundTrip(samples: Int, payloadBytes: Int, curve: Bool = false) async throws -> LatencySummary {
        let (clocked, _, _, _) = try await runPhase(
            name: curve ? "latency-curve" : "latency", kind: .noop, jobs: samples + 100, payloadBytes: payloadBytes,
            workers: 1, slots: 1, curve: curve, timeEveryResult: true)
        let times = clocked.state.withLock { $0.results }.dropFirst(100)  // warm-up
        return LatencySummary(zip(times.dropFirst(), times).map { $0 - $1 })
    }

    /// SIGKILLs one of two workers mid-run and times how long until the coordinator takes
    /// its leases back (the default heartbeat settings: 1 s x liveness 3).
    func requeueAfterKill() async throws -> Double {
        let (clocked, _, _, _) = try await runPhase(
            name: "requeue", kind: .sleep, jobs: 200, payloadBytes: 8, workers: 2, slots: 4, sleepMilliseconds: 50,
            killFirstWorkerAfterResults: 16)
        guard let (killedAt, lostAt) = clocked.state.withLock({ s in s.firstWorkerLoss.map { (s.killedAt!, $0) } }) else {
            throw UserFacingError("the killed worker's leases were never taken back")
        }
        return RawZeroMQBaseline.seconds(lostAt - killedAt)
    }

    /// A chamber run over worker processes; agent jobs/s from the first result to the run
    /// being durable.
    func chamber(agents: Int, niches: Int, tasksPerStep: Int, steps: Int, workers: Int, slots: Int) async throws -> (jobsPerSecond: Double, jobs: Int) {
        let yaml = """
            chamber: {agents: \(agents), niches: \(niches), tasks_per_step: \(tasksPerStep), steps: \(steps)}
            evolution: {lifecycle: {max_population: \(agents * 2)}}
            """
        let (clocked, finishedAt, store, run) = try await runPhase(
            name: "chamber", kind: .noop, jobs: 0, payloadBytes: 0, workers: workers, slots: slots, configText: yaml)
        let first = clocked.state.withLock { $0.firstResult }!
        let jobs = try store.counts(ofRun: run).results
        return (Double(jobs) / RawZeroMQBaseline.seconds(finishedAt - first), jobs)
    }

    /// A benchmark run's config: its own database, a free port, the workload.
    static func configText(name: String, database: String, kind: JobKind, jobs: Int, payloadBytes: Int,
                           sleepMilliseconds: Int64 = 0, extraCoordinator: String = "") -> String {
        """
        run: {name: bench-\(name), seed: 1}
        coordinator: {bind: "tcp://127.0.0.1:*", database: "\(database)"\(extraCoordinator)}
        \(jobs > 0 ? "workload: {kind: \(kind.rawValue), jobs: \(jobs), payload_bytes: \(payloadBytes), sleep_ms: \(sleepMilliseconds)}" : "")

        """
    }

    /// The run of a benchmark config, created in its own empty database.
    func freshRun(_ text: String) throws -> (ExperimentConfig, CoevoStore, StoredRun) {
        let config = try ConfigLoader.parse(text)
        let store = try CoevoStore(path: config.coordinator.database)
        let plan = try RunLauncher.prepare(config: config, configText: text, store: store, logger: logger)
        guard plan.resumed.isEmpty, let run = plan.created else {
            throw UserFacingError("benchmark database \(config.coordinator.database) was not empty")
        }
        return (config, store, run)
    }

    private func runPhase(
        name: String, kind: JobKind, jobs: Int, payloadBytes: Int, workers: Int, slots: Int,
        sleepMilliseconds: Int64 = 0, killFirstWorkerAfterResults: Int? = nil, configText: String = "", curve: Bool = false,
        dashboard: Bool = false, timeEveryResult: Bool = false
    ) async throws -> (Clocked, ContinuousClock.Instant, CoevoStore, String) {
        // As text, because the run stores its config text and is served from it.
        let text = Self.configText(name: name, database: directory.appendingPathComponent("\(name).sqlite").path,
                                   kind: kind, jobs: jobs, payloadBytes: payloadBytes, sleepMilliseconds: sleepMilliseconds)
            + configText
        let (config, store, run) = try freshRun(text)

        let clocked = Clocked()
        let clock = ContinuousClock()
        let finished = Mutex<ContinuousClock.Instant?>(nil)
        var observer = CoordinatorObserver()
        observer.resultApplied = { _ in
            clocked.state.withLock { state in
                state.resultCount += 1
                if state.firstResult == nil { state.firstResult = clock.now }
                if timeEveryResult { state.results.append(clock.now) }
            }
        }
        observer.runFinished = { _, _ in finished.withLock { $0 = clock.now } }
        observer.schedulerEvent = { event, _ in
            if case .leaseLost(_, _, _, .workerLost) = event {
                let now = clock.now
                clocked.state.withLock { if $0.firstWorkerLoss == nil { $0.firstWorkerLoss = now } }
            }
        }
        var settings = CoordinatorSettings(config: config.coordinator)
        settings.exitWhenDone = true
        if curve { settings.curve = (try CurveKeyPair.generate(), nil) }
        let server = dashboard ? DashboardServer(settings: DashboardSettings(port: 0), store: store, logger: logger) : nil
        if let server { observer = server.observing(observer) }
        // Stopped gracefully at the end, as `coevo run` stops it (cancelling it is noisy).
        let group = server.map { ServiceGroup(services: [$0], gracefulShutdownSignals: [], logger: logger) }
        let serving = Task { try await group?.run() }
        defer {
            Task {
                await group?.triggerGracefulShutdown()
                _ = await serving.result
            }
        }
        // Stopped by a flag, never cancelled: cancelling a request in flight trips an
        // assertion in FoundationNetworking's URLSession on Linux and kills the process.
        let polling = Atomic<Bool>(true)
        let poller = Task {
            guard let server else { return }
            while server.port == nil { try await Task.sleep(for: .milliseconds(10)) }
            let base = "http://127.0.0.1:\(server.port!)"
            while polling.load(ordering: .relaxed) {
                for path in ["/api/summary", "/api/runs/\(run.id)", "/metrics"] {
                    // A refused or failed request (the server starting) is simply not counted.
                    let response = try? await URLSession.shared.data(from: URL(string: base + path)!).1
                    if (response as? HTTPURLResponse)?.statusCode == 200 { clocked.state.withLock { $0.polls += 1 } }
                }
                try await Task.sleep(for: .milliseconds(100))
            }
        }
        defer { polling.store(false, ordering: .relaxed) }
        let service = CoordinatorService(settings: settings, store: store, logger: logger, observer: observer)
        try service.bind()
        let workerKey = try settings.curve.map { try LocalWorkerKey(port: port(of: service.endpoint), coordinator: $0.keyPair.publicKey, directory: directory.path) }
        defer { workerKey?.remove() }
        if let workerKey { service.authorize(workerKey.pair.publicKey, holder: "bench workers") }
        let local = LocalWorkers()
        try local.startWorkers(count: workers, endpoint: service.endpoint, slots: slots, idPrefix: "bench",
                               extraArguments: workerKey?.workerArguments ?? [])
        defer { local.stop(grace: 5) }

        let victim = local.processes[0].processIdentifier
        let killer = Task {
            guard let threshold = killFirstWorkerAfterResults else { return }
            while clocked.resultCount < threshold { try await Task.sleep(for: .milliseconds(5)) }
            kill(victim, SIGKILL)
            let now = clock.now
            clocked.state.withLock { $0.killedAt = now }
        }
        try await service.run()
        killer.cancel()
        polling.store(false, ordering: .relaxed)
        _ = await poller.result
        store.writer.stop()
        guard let end = finished.withLock({ $0 }) else { throw UserFacingError("benchmark run \(name) did not finish") }
        return (clocked, end, store, run.id)
    }
}
