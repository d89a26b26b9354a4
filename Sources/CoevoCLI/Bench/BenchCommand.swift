import ArgumentParser
import Foundation

/// `coevo bench`: benchmarks that print their figures.
public struct BenchCommand: AsyncParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "bench",
        abstract: "Benchmarks that print figures (build with -c release first: make bench).",
        subcommands: [DispatchBenchCommand.self, ScaleBenchCommand.self, SoakBenchCommand.self, StepBenchCommand.self, ChamberBenchCommand.self, HTTPBenchCommand.self,
                      DiscoveryBenchCommand.self, ModelBenchCommand.self,
                      EchoPeerCommand.self, SwarmCommand.self])
    public init() {}
}

/// `coevo bench dispatch`: end-to-end durable noop jobs against a raw libzmq echo ceiling.
struct DispatchBenchCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "dispatch",
        abstract: "Durable noop jobs/s and round trips through coordinator + worker processes, vs raw libzmq.",
        discussion: """
            Both sides use the same number of worker processes over tcp loopback and the \
            same number of messages in flight (workers x slots). coevo's figure counts a job \
            only once its result is committed to SQLite.
            """)

    @Option(help: "Jobs (and raw messages) for the throughput figures.")
    var jobs = 200_000
    @Option(help: "Worker processes.")
    var workers = 2
    @Option(help: "Slots per worker: jobs (and raw messages) in flight per worker.")
    var slots = 1024
    @Option(help: "Payload bytes per job.")
    var payloadBytes = 16
    @Option(help: "Round trips timed for p50/p99.")
    var latencySamples = 3000
    @Option(help: "Rounds of raw and coevo throughput, measured in turn; the figures are each side's median and the median of the rounds' ratios (the raw ceiling of this machine moves between runs).")
    var rounds = 5
    @Flag(help: "Only the throughput rounds: no round trips, CURVE, dashboard or requeue.")
    var throughputOnly = false
    @Flag(help: "Skip the worker-kill requeue measurement (it takes a few seconds).")
    var skipRequeue = false
    @OptionGroup var logging: LoggingOptions

    func validate() throws {
        guard rounds >= 1 else { throw ValidationError("--rounds must be at least 1 (got \(rounds))") }
    }

    func run() async throws {
        let (coevo, directory) = try CoevoDispatchMeasurement.inScratchDirectory(logging: logging)
        defer { try? FileManager.default.removeItem(at: directory) }

        print("coevo dispatch benchmark: \(jobs) jobs, \(workers) worker processes x \(slots) slots, tcp loopback, payload \(payloadBytes) B, \(rounds) round(s)")
        let baseline = RawZeroMQBaseline(workers: workers, window: workers * slots, payload: Data(count: payloadBytes))
        // Raw and coevo in turn, so a drift of the machine's speed lands on both sides.
        var rawRates: [Double] = []
        var rates: [Double] = []
        var rawLatency: LatencySummary?
        var durable = jobs
        for round in 1...rounds {
            let raw = try baseline.measure(messages: jobs, latencySamples: round == 1 && !throughputOnly ? latencySamples : 0)
            if round == 1 { rawLatency = raw.roundTrip }
            let (rate, stored, _, cpu) = try await coevo.throughput(jobs: jobs, workers: workers, slots: slots, payloadBytes: payloadBytes)
            durable = min(durable, stored)
            rawRates.append(raw.messagesPerSecond)
            rates.append(rate)
            print(String(format: "round %d: raw %.0f msg/s, coevo %.0f durable jobs/s, %.1f%% of raw; CPU per job: coordinator %.1f µs, workers %.1f µs",
                         round, raw.messagesPerSecond, rate, rate / raw.messagesPerSecond * 100, cpu.coordinator, cpu.workers))
        }
        let share = Self.median(zip(rates, rawRates).map { $0 / $1 })
        let rate = Self.median(rates)
        if throughputOnly {
            print(String(format: "medians: raw %.0f msg/s, coevo %.0f jobs/s; coevo / raw: %.1f%% (20%% target: %@)",
                         Self.median(rawRates), rate, share * 100, share >= 0.2 ? "met" : "not yet"))
            if durable != jobs { throw UserFacingError("only \(durable) of \(jobs) results were durable") }
            return
        }
        let raw = RawZeroMQBaseline.Figures(messagesPerSecond: Self.median(rawRates), roundTrip: rawLatency!)
        let latency = try await coevo.roundTrip(samples: latencySamples, payloadBytes: payloadBytes)
        let (curveRate, curveDurable, _, _) = try await coevo.throughput(jobs: jobs, workers: workers, slots: slots, payloadBytes: payloadBytes, curve: true)
        let (watchedRate, watchedDurable, polls, _) = try await coevo.throughput(jobs: jobs, workers: workers, slots: slots,
                                                                               payloadBytes: payloadBytes, dashboard: true)
        let curveLatency = try await coevo.roundTrip(samples: latencySamples, payloadBytes: payloadBytes, curve: true)

        func pad(_ text: String, _ width: Int) -> String { text.padding(toLength: width, withPad: " ", startingAt: 0) }
        func row(_ name: String, _ rate: Double, _ unit: String, _ l: LatencySummary) -> String {
            pad(name, 32) + String(format: "%12.0f ", rate) + pad(unit, 7) + String(format: "%10.1f %10.1f", l.p50.microseconds, l.p99.microseconds)
        }
        print(pad("", 32) + pad("   throughput", 20) + "  p50 µs     p99 µs")
        print(row("raw libzmq ROUTER/DEALER echo", raw.messagesPerSecond, "msg/s", raw.roundTrip))
        print(row("coevo noop jobs, durable", rate, "jobs/s", latency))
        print(row("  the same with CURVE", curveRate, "jobs/s", curveLatency))
        let p50Ratio = latency.p50.microseconds / max(0.001, raw.roundTrip.p50.microseconds)
        print(String(format: "coevo / raw: %.1f%% of throughput (median of %d rounds), p50 round trip %.2fx raw", share * 100, rounds, p50Ratio))
        print(String(format: "CURVE (encrypted, authenticated): %.1f%% of the throughput without it, p50 round trip %.2fx",
                     curveRate / rate * 100, curveLatency.p50.microseconds / max(0.001, latency.p50.microseconds)))
        print(String(format: "dashboard and /metrics on, polled every 100 ms (%d requests answered): %.0f jobs/s, %.1f%% of the throughput without them",
                     polls, watchedRate, watchedRate / rate * 100))
        print("durable results: \(durable) of \(jobs) (with CURVE: \(curveDurable); with the dashboard: \(watchedDurable))")
        print(String(format: "targets: >= 50000 durable jobs/s: %@ (%.0f); p50 within 2x raw: %@ (%.2fx); 20%% of raw: %@ (%.1f%%)",
                     rate >= 50_000 ? "met" : "NOT met", rate, p50Ratio <= 2 ? "met" : "NOT met", p50Ratio,
                     share >= 0.2 ? "met" : "not yet", share * 100))
        if !skipRequeue {
            let requeue = try await coevo.requeueAfterKill()
            print(String(format: "SIGKILLed worker's jobs requeued after %.2f s (heartbeat 1 s x liveness 3; target < 3.5 s: %@)",
                         requeue, requeue < 3.5 ? "met" : "NOT met"))
        }
        if durable != jobs || curveDurable != jobs || watchedDurable != jobs {
            throw UserFacingError("only \(min(durable, curveDurable, watchedDurable)) of \(jobs) results were durable")
        }
    }

    static func median(_ values: [Double]) -> Double {
        let sorted = values.sorted()
        return sorted.count % 2 == 1 ? sorted[sorted.count / 2] : (sorted[sorted.count / 2 - 1] + sorted[sorted.count / 2]) / 2
    }
}

/// The raw baseline's peer process (internal to `bench dispatch`).
struct EchoPeerCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "echo-peer", abstract: "Raw libzmq echo peer for `coevo bench dispatch`.", shouldDisplay: false)
    @Option var connect: String
    @Option var id: String
    func run() throws {
        try RawZeroMQBaseline.echo(endpoint: connect, id: id)
    }
}
