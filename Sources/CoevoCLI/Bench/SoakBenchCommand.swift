import ArgumentParser
import CoevoCoordinator
import CoevoCore
import CoevoStore
import Foundation
import Logging
import Synchronization

/// `coevo bench soak`: a long run with the coordinator's resident memory sampled.
struct SoakBenchCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "soak",
        abstract: "A long noop batch and a long simulated chamber through one coordinator, its RSS sampled.",
        discussion: """
            The coordinator runs in this process, the workers in their own; RSS is this \
            process's, read once a second. Each phase prints RSS at tenths of the run and \
            its growth from the first tenth (warm-up) to the end.
            """)

    @Option(help: "Noop jobs in the batch phase (0 skips it).")
    var jobs = 10_000_000
    @Option(help: "Steps of the chamber phase (0 skips it).")
    var chamberSteps = 200
    @Option(help: "Chamber agents.")
    var agents = 200
    @Option(help: "Chamber tasks per step.")
    var tasks = 400
    @Option(help: "Worker processes.")
    var workers = 2
    @Option(help: "Slots per worker.")
    var slots = 1024
    @OptionGroup var logging: LoggingOptions

    func run() async throws {
        let (measurement, directory) = try CoevoDispatchMeasurement.inScratchDirectory(logging: logging)
        defer { try? FileManager.default.removeItem(at: directory) }
        if jobs > 0 {
            let text = CoevoDispatchMeasurement.configText(
                name: "soak-batch", database: directory.appendingPathComponent("soak-batch.sqlite").path,
                kind: .noop, jobs: jobs, payloadBytes: 16)
            print("soak: \(jobs) noop jobs, \(workers) worker processes x \(slots) slots")
            try await measurement.soak(text, workers: workers, slots: slots, unit: "jobs").print()
        }
        if chamberSteps > 0 {
            let text = CoevoDispatchMeasurement.configText(
                name: "soak-chamber", database: directory.appendingPathComponent("soak-chamber.sqlite").path,
                kind: .noop, jobs: 0, payloadBytes: 0) + """
                chamber: {agents: \(agents), niches: 16, tasks_per_step: \(tasks), steps: \(chamberSteps)}
                evolution: {lifecycle: {max_population: \(agents * 2)}}
                """
            print("soak: chamber of \(agents) agents, \(chamberSteps) steps of \(tasks) tasks on the simulator")
            try await measurement.soak(text, workers: workers, slots: slots, unit: "agent jobs").print()
        }
    }
}

/// RSS over one soak run.
struct SoakSamples {
    var unit: String
    /// Results applied and RSS (MiB) once a second, and the peak.
    var samples: [(results: UInt64, residentMiB: Double)]
    var seconds: Double
    var peakMiB: Double

    func print() {
        guard let last = samples.last, last.results > 0 else { Swift.print("  (no results)"); return }
        Swift.print(String(format: "  %14@ %10@", unit, "RSS MiB"))
        var shown = 0
        for tenth in 1...10 {
            let mark = last.results * UInt64(tenth) / 10
            guard let index = samples.firstIndex(where: { $0.results >= mark }), index >= shown else { continue }
            shown = index + 1
            Swift.print(String(format: "  %14llu %10.0f", samples[index].results, samples[index].residentMiB))
        }
        let warm = samples.first { $0.results >= last.results / 10 } ?? last
        Swift.print(String(format: "  %llu %@ in %.0f s (%.0f/s); RSS %.0f MiB after the first tenth, %.0f MiB at the end (%+.0f%%), peak %.0f MiB",
                           last.results, unit, seconds, Double(last.results) / seconds, warm.residentMiB, last.residentMiB,
                           (last.residentMiB / max(1, warm.residentMiB) - 1) * 100, peakMiB))
    }
}

extension CoevoDispatchMeasurement {
    /// Runs `text`'s run to the end over worker processes, sampling RSS with each
    /// once-a-second progress report.
    func soak(_ text: String, workers: Int, slots: Int, unit: String) async throws -> SoakSamples {
        let (config, store, _) = try freshRun(text)
        let samples = Mutex<[(results: UInt64, residentMiB: Double)]>([])
        var observer = CoordinatorObserver()
        observer.progress = { progress in
            let rss = ProcessMemory.residentMiB()
            samples.withLock { $0.append((progress.resultsApplied, rss)) }
        }
        let finished = Mutex<UInt64>(0)
        observer.runFinished = { _, progress in finished.withLock { $0 = UInt64(progress.completed + progress.failed) } }
        var settings = CoordinatorSettings(config: config.coordinator)
        settings.exitWhenDone = true
        let service = CoordinatorService(settings: settings, store: store, logger: logger, observer: observer)
        try service.bind()
        try ProcessMemory.resetPeak()
        let local = LocalWorkers()
        try local.startWorkers(count: workers, endpoint: service.endpoint, slots: slots, idPrefix: "soak")
        defer { local.stop(grace: 5) }
        let started = ContinuousClock.now
        try await service.run()
        let seconds = RawZeroMQBaseline.seconds(ContinuousClock.now - started)
        store.writer.stop()
        var taken = samples.withLock { $0 }
        taken.append((finished.withLock { $0 }, ProcessMemory.residentMiB()))
        return SoakSamples(unit: unit, samples: taken, seconds: seconds, peakMiB: ProcessMemory.peakMiB())
    }
}
