import ArgumentParser
import CoevoCoordinator
import CoevoCore
import CoevoStore
import CoevoWire
import CoevoWorker
import Foundation
import Logging
import ServiceLifecycle
import Synchronization

/// `coevo bench scale`: one coordinator against W real workers (many per process).
struct ScaleBenchCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "scale",
        abstract: "One coordinator against 10, 100, 1000 workers: join time, dispatch rate, heartbeat load, CPU, RSS.",
        discussion: """
            Each worker is a real one to the coordinator (its own DEALER socket, READY, \
            heartbeats, leases, results), run many to a process by `coevo bench swarm` so a \
            thousand fit on one machine. For each W the coordinator (in this process) gets a \
            run of noop jobs that starts once all W have joined; then, with the run done and \
            the workers still connected, an idle window measures what heartbeats alone cost. \
            Coordinator CPU is this process's; the swarm processes are not counted.
            """)

    @Option(help: "Worker counts to measure, comma-separated.")
    var workers = "10,100,1000"
    @Option(help: "Processes the workers are spread over.")
    var processes = 4
    @Option(help: "Noop jobs per measurement.")
    var jobs = 50_000
    @Option(help: "Slots per worker.")
    var slots = 4
    @Option(help: "Idle window with every worker connected, in seconds.")
    var idleSeconds = 5
    @Option(help: "Heartbeat interval of coordinator and workers, in milliseconds.")
    var heartbeatMs: Int64 = 1000
    @OptionGroup var logging: LoggingOptions

    func validate() throws {
        guard !counts.isEmpty, counts.allSatisfy({ $0 >= 1 }) else { throw ValidationError("--workers takes counts like 10,100,1000") }
        guard processes >= 1, jobs >= 1, slots >= 1, idleSeconds >= 1, heartbeatMs >= 10 else {
            throw ValidationError("--processes, --jobs, --slots and --idle-seconds must be at least 1, --heartbeat-ms at least 10")
        }
    }

    var counts: [Int] { workers.split(separator: ",").compactMap { Int($0.trimmingCharacters(in: .whitespaces)) } }

    func run() async throws {
        let (measurement, directory) = try CoevoDispatchMeasurement.inScratchDirectory(logging: logging)
        defer { try? FileManager.default.removeItem(at: directory) }
        print("coevo scale benchmark: \(jobs) noop jobs per row, \(slots) slots per worker, workers over \(processes) processes, heartbeat \(heartbeatMs) ms, tcp loopback")
        print("workers   join s     jobs/s   run CPU   hb/s   idle CPU   RSS MiB   lost")
        for count in counts {
            let row = try await ScaleMeasurement(measurement: measurement, workers: count,
                                                 processes: min(processes, count), jobs: jobs, slots: slots,
                                                 idleSeconds: idleSeconds, heartbeatMs: heartbeatMs).measure()
            print(String(format: "%7d %8.2f %10.0f %8.0f%% %6.0f %9.1f%% %9.0f %6d",
                         count, row.joinSeconds, row.jobsPerSecond, row.runCPU * 100, row.heartbeatsPerSecond,
                         row.idleCPU * 100, row.peakRSSMiB, row.workersLost))
        }
        print("run CPU: coordinator CPU time over the run's wall time (100% = one core); idle CPU: the same with every worker connected and no jobs")
    }
}

/// One row of the scale benchmark.
struct ScaleMeasurement {
    /// Its scratch directory and logger, and the benchmark run's set-up.
    let measurement: CoevoDispatchMeasurement
    let workers: Int
    let processes: Int
    let jobs: Int
    let slots: Int
    let idleSeconds: Int
    let heartbeatMs: Int64

    struct Row {
        var joinSeconds: Double
        var jobsPerSecond: Double
        var runCPU: Double
        var heartbeatsPerSecond: Double
        var idleCPU: Double
        var peakRSSMiB: Double
        var workersLost: Int
    }

    /// What the observer saw, with when.
    final class Seen: Sendable {
        struct State {
            var firstResult: ContinuousClock.Instant?
            var cpuAtFirstResult = 0.0
            var finished: ContinuousClock.Instant?
            var snapshots: [(at: ContinuousClock.Instant, progress: CoordinatorProgress)] = []
            var lost = 0
        }
        let state = Mutex(State())
    }

    func measure() async throws -> Row {
        let text = CoevoDispatchMeasurement.configText(
            name: "scale-\(workers)", database: measurement.directory.appendingPathComponent("scale-\(workers).sqlite").path,
            kind: .noop, jobs: jobs, payloadBytes: 16,
            extraCoordinator: ", min_workers: \(workers), heartbeat_interval_ms: \(heartbeatMs)")
        let (config, store, run) = try measurement.freshRun(text)

        let clock = ContinuousClock()
        let seen = Seen()
        var observer = CoordinatorObserver()
        observer.resultApplied = { _ in
            let now = clock.now
            seen.state.withLock {
                if $0.firstResult == nil { ($0.firstResult, $0.cpuAtFirstResult) = (now, ProcessMemory.cpuSeconds()) }
            }
        }
        observer.runFinished = { _, _ in
            let now = clock.now
            seen.state.withLock { $0.finished = now }
        }
        observer.progress = { progress in
            let now = clock.now
            seen.state.withLock { $0.snapshots.append((now, progress)) }
        }
        observer.schedulerEvent = { event, _ in
            if case .workerExpired = event { seen.state.withLock { $0.lost += 1 } }
        }
        let service = CoordinatorService(settings: CoordinatorSettings(config: config.coordinator), store: store,
                                         logger: measurement.logger, observer: observer)
        try service.bind()
        let group = ServiceGroup(services: [service], logger: measurement.logger)
        let serving = Task { try await group.run() }

        try ProcessMemory.resetPeak()
        let started = clock.now
        let swarm = LocalWorkers()
        let perProcess = (workers + processes - 1) / processes
        try swarm.start(count: processes) { index in
            let first = index * perProcess
            return ["bench", "swarm", "--connect", service.endpoint, "--first", "\(first)",
                    "--count", "\(max(0, min(perProcess, workers - first)))", "--slots", "\(slots)",
                    "--heartbeat-ms", "\(heartbeatMs)", "--parent-pid", "\(getpid())"]
        }
        defer { swarm.stop(grace: 10) }

        // The run: leasing starts once all W have joined (min_workers), so the first
        // result marks the end of joining.
        let deadline = started + .seconds(600)
        while seen.state.withLock({ $0.finished }) == nil {
            guard clock.now < deadline, !serving.isCancelled else { throw UserFacingError("the run of \(workers) workers did not finish in 10 minutes") }
            try await Task.sleep(for: .milliseconds(20))
        }
        let cpuAtFinish = ProcessMemory.cpuSeconds()
        let (first, finished, cpuAtFirst) = seen.state.withLock { ($0.firstResult!, $0.finished!, $0.cpuAtFirstResult) }

        // Idle: every worker connected, nothing to do but heartbeats.
        let idleFrom = clock.now
        try await Task.sleep(for: .seconds(idleSeconds))
        let cpuAtIdleEnd = ProcessMemory.cpuSeconds()
        let idleTo = clock.now
        let idle = seen.state.withLock { $0.snapshots.filter { $0.at >= idleFrom && $0.at <= idleTo } }
        var heartbeatsPerSecond = 0.0
        if let a = idle.first, let b = idle.last, b.at > a.at {
            heartbeatsPerSecond = Double(b.progress.heartbeatsReceived - a.progress.heartbeatsReceived) / RawZeroMQBaseline.seconds(b.at - a.at)
        }
        let peak = ProcessMemory.peakMiB()
        await group.triggerGracefulShutdown()
        try await serving.value
        store.writer.stop()
        let durable = try store.counts(ofRun: run.id).results
        guard durable == jobs else { throw UserFacingError("only \(durable) of \(jobs) results were durable with \(workers) workers") }

        let runSeconds = RawZeroMQBaseline.seconds(finished - first)
        return Row(joinSeconds: RawZeroMQBaseline.seconds(first - started), jobsPerSecond: Double(jobs) / runSeconds,
                   runCPU: (cpuAtFinish - cpuAtFirst) / runSeconds,
                   heartbeatsPerSecond: heartbeatsPerSecond,
                   idleCPU: (cpuAtIdleEnd - cpuAtFinish) / RawZeroMQBaseline.seconds(idleTo - idleFrom),
                   peakRSSMiB: peak, workersLost: seen.state.withLock { $0.lost })
    }
}

/// Many workers in one process, each with its own socket and session (internal to
/// `bench scale`): the coordinator cannot tell them from worker processes.
struct SwarmCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "swarm", abstract: "Many workers in one process, for `coevo bench scale`.", shouldDisplay: false)
    @Option var connect: String
    @Option var first: Int
    @Option var count: Int
    @Option var slots: Int
    @Option var heartbeatMs: Int64
    @Option var parentPid: Int32
    @OptionGroup var logging: LoggingOptions

    func run() async throws {
        var options = logging
        options.logLevel = options.logLevel ?? "warning"
        let logger = options.bootstrap(label: "coevo.swarm")
        let services = (first..<first + count).map { index in
            var settings = WorkerSettings(coordinator: connect, id: WorkerID("swarm-\(index)"), slots: slots)
            settings.heartbeatIntervalMilliseconds = heartbeatMs
            settings.parentPID = parentPid
            return WorkerService(settings: settings, logger: logger) as any Service
        }
        try await runUntilShutdown(services, logger: logger)
        ZMQContext.shared.terminate()
    }
}
