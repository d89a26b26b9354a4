import ArgumentParser
import CoevoBackends
import CoevoCore
import Foundation

/// `coevo ablate`: the same chamber experiment under several CODREAM routing modes and
/// seeds, in process: on the simulator, or on the config's model (`backend: model`, each
/// turn a call through the worker's own chat executor); a table on stdout and a CSV.
struct AblateCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ablate",
        abstract: "Compare CODREAM routing modes on the simulator (table + CSV).",
        discussion: """
            Every run uses the config's chamber, evolution and simulator sections with only \
            evolution.codream.routing and the seed changed, so the difference between rows is \
            the routing. Accuracy is the mean team success rate over the second half of the \
            steps (after the population has had time to adapt).
            """)

    @Argument(help: "Experiment config with a chamber section (e.g. Configs/chamber-sim.yaml).")
    var config: String

    @Option(help: "Routing modes to compare, comma separated: asymmetric, symmetric, random-k, top-k, none (random-k and top-k deliver to as many agents per event as asymmetric).")
    var routing = "asymmetric,random-k,top-k,symmetric,none"

    @Option(help: "Seeds per mode: run.seed, run.seed + 1, ...")
    var seeds = 5

    @Flag(help: "Turn the heartbeats off (reflect, consolidate, pivot) to isolate CODREAM: an agent's own notes also carry lessons, and can hide what routing does.")
    var withoutHeartbeats = false

    @Option(help: "CSV output path (default: ablation-<run name>.csv).")
    var csv: String?

    struct Row {
        var mode: RoutingMode
        var seed: UInt64
        var accuracy: Double
        var specialists: Int
        var stableSpecialists: Int
        var concentration: Double
        var insightsRouted: Int
        var codreamEvents: Int
        var population: Int
        var tokens: Int
        var agentTurns: Int
    }

    @Option(help: "Also write a phase diagram (SVG, plus a CSV beside it): the paired accuracy difference of the first two --routing modes over distraction 0-0.3 x correlation 0-0.8, the simulator's context and error-correlation parameters across their literature ranges.")
    var phase: String?

    func run() async throws {
        let (experiment, _) = try loadConfig(config)
        guard let base = experiment.chamberSettings else {
            throw ConfigExit.fail(ConfigError(field: "chamber", problem: "ablate needs a chamber section"))
        }
        var modes: [RoutingMode] = []
        for name in routing.split(separator: ",").map({ $0.trimmingCharacters(in: .whitespaces) }) {
            guard let mode = RoutingMode(rawValue: name) else {
                throw ValidationError("unknown routing mode '\(name)' (expected: \(RoutingMode.allCases.map(\.rawValue).joined(separator: ", ")))")
            }
            modes.append(mode)
        }
        guard seeds >= 1 else { throw ValidationError("--seeds must be at least 1") }
        guard phase == nil || modes.count >= 2 else { throw ValidationError("--phase compares the first two --routing modes: name at least two") }
        guard phase == nil || base.backend == .simulator else { throw ValidationError("--phase sweeps simulator parameters: it needs backend: simulator") }
        var model: ModelTurns?
        if base.backend == .model {
            let pool = experiment.endpoints(forRole: "agent")
            guard !pool.isEmpty else { throw UserFacingError("\(config) has backend: model but no endpoints for the agent pool") }
            model = try await ModelTurns(pool: pool, server: experiment.modelServer)
        }
        defer { model?.stop() }

        var rows: [Row] = []
        for mode in modes {
            for k in 0..<seeds {
                let row = if let model { await model.runOnce(base, mode: mode, seed: base.seed + UInt64(k), options: self) }
                          else { runOnce(base, mode: mode, seed: base.seed + UInt64(k)) }
                rows.append(row)
                FileHandle.standardError.write(Data(String(format: "ablate: %@ seed %llu: accuracy %.3f\n",
                                                           mode.rawValue, row.seed, row.accuracy).utf8))
            }
        }
        printTable(rows, modes: modes)
        let path = csv ?? "ablation-\(experiment.run.name).csv"
        var text = "routing,seed,accuracy,specialists,stable_specialists,concentration,insights_routed,codream_events,population,tokens,agent_turns\n"
        for r in rows {
            text += "\(r.mode.rawValue),\(r.seed),\(String(format: "%.4f", r.accuracy)),\(r.specialists),\(r.stableSpecialists),"
                + "\(String(format: "%.4f", r.concentration)),\(r.insightsRouted),\(r.codreamEvents),\(r.population),\(r.tokens),\(r.agentTurns)\n"
        }
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        print("wrote \(path) (\(rows.count) runs)")
        if let phase { try writePhaseDiagram(base, modes: (modes[0], modes[1]), to: phase) }
    }

    /// The settings of one run: the config's, with `mode`, `seed` and the flags applied.
    func settings(_ base: ChamberSettings, mode: RoutingMode, seed: UInt64) -> ChamberSettings {
        var settings = base
        settings.seed = seed
        settings.evolution.codream.routing = mode
        if withoutHeartbeats {
            settings.evolution.heartbeats.reflectEvery = 0
            settings.evolution.heartbeats.consolidateEvery = 0
            settings.evolution.heartbeats.pivotAfter = 0
        }
        return settings
    }

    /// One run of the chamber under `mode` and `seed`, on the simulator, in process.
    func runOnce(_ base: ChamberSettings, mode: RoutingMode, seed: UInt64) -> Row {
        var engine = ChamberEngine(settings: settings(base, mode: mode, seed: seed))
        while !engine.isFinished { engine.runStepInProcess() }
        return Self.row(engine, mode: mode, seed: seed)
    }

    /// A finished run's figures.
    static func row(_ engine: ChamberEngine, mode: RoutingMode, seed: UInt64) -> Row {
        let late = engine.reports.suffix(max(1, engine.reports.count / 2))
        let accuracy = Double(late.reduce(0) { $0 + $1.successes }) / Double(late.reduce(0) { $0 + $1.tasks })
        let last = engine.reports.last!
        return Row(mode: mode, seed: seed, accuracy: accuracy, specialists: last.specialists,
                   stableSpecialists: last.stableSpecialists, concentration: last.concentration,
                   insightsRouted: engine.reports.reduce(0) { $0 + $1.insightsRouted },
                   codreamEvents: engine.reports.reduce(0) { $0 + $1.codreamEvents },
                   population: last.population, tokens: engine.reports.reduce(0) { $0 + $1.tokens },
                   agentTurns: engine.reports.reduce(0) { $0 + $1.agentTurns })
    }

    /// The table: per mode, accuracy with its 95% confidence interval, and the paired
    /// difference from the last mode (by default `none`) over the same seeds.
    func printTable(_ rows: [Row], modes: [RoutingMode]) {
        // Deliveries: insights handed to agents per CODREAM event. Tokens per turn: what an
        // agent turn costs (insights in the prompt included), so accuracy per 1k tokens a
        // turn says what the routing buys for what it costs.
        let reference = modes.last!
        let baseline = rows.filter { $0.mode == reference }.map(\.accuracy)
        print("routing      accuracy [95% CI]       vs \(reference.rawValue.padding(toLength: 10, withPad: " ", startingAt: 0)) [95% CI]   deliveries/event  tokens/turn  acc per 1k tok/turn  specialists (stable)  population")
        for mode in modes {
            let group = rows.filter { $0.mode == mode }
            let accuracy = PairedStatistics(group.map(\.accuracy))
            let difference = PairedStatistics(zip(group.map(\.accuracy), baseline).map { $0 - $1 })
            func avg(_ f: (Row) -> Double) -> Double { group.map(f).reduce(0, +) / Double(group.count) }
            let deliveries = avg { Double($0.insightsRouted) / Double(max(1, $0.codreamEvents)) }
            let perTurn = avg { Double($0.tokens) / Double(max(1, $0.agentTurns)) }
            print(mode.rawValue.padding(toLength: 12, withPad: " ", startingAt: 0)
                  + String(format: " %.3f [%.3f, %.3f]   %+.3f [%+.3f, %+.3f]   %8.2f          %7.1f      %8.3f             %6.1f (%4.1f)       %5.1f",
                           accuracy.mean, accuracy.low, accuracy.high, difference.mean, difference.low, difference.high,
                           deliveries, perTurn, accuracy.mean / max(0.001, perTurn / 1000),
                           avg { Double($0.specialists) }, avg { Double($0.stableSpecialists) }, avg { Double($0.population) }))
        }
    }

    /// The phase diagram: for each (distraction, correlation) cell, the paired accuracy
    /// difference `first - second` over the seeds, as an SVG heat map and a CSV.
    func writePhaseDiagram(_ base: ChamberSettings, modes: (RoutingMode, RoutingMode), to path: String) throws {
        let distractions = [0, 0.075, 0.15, 0.225, 0.3], correlations = [0, 0.2, 0.4, 0.6, 0.8]
        var cells: [PhaseDiagram.Cell] = []
        var csvText = "distraction,correlation,\(modes.0.rawValue),\(modes.1.rawValue),difference,low,high\n"
        for correlation in correlations {
            for distraction in distractions {
                var settings = base
                settings.simulator.distraction = distraction
                settings.simulator.correlation = correlation
                let first = (0..<seeds).map { runOnce(settings, mode: modes.0, seed: base.seed + UInt64($0)).accuracy }
                let second = (0..<seeds).map { runOnce(settings, mode: modes.1, seed: base.seed + UInt64($0)).accuracy }
                let difference = PairedStatistics(zip(first, second).map { $0 - $1 })
                cells.append(PhaseDiagram.Cell(x: distraction, y: correlation, value: difference.mean,
                                               significant: difference.low > 0 || difference.high < 0))
                csvText += String(format: "%.3f,%.2f,%.4f,%.4f,%.4f,%.4f,%.4f\n", distraction, correlation,
                                  first.reduce(0, +) / Double(seeds), second.reduce(0, +) / Double(seeds),
                                  difference.mean, difference.low, difference.high)
                FileHandle.standardError.write(Data(String(format: "phase: distraction %.3f correlation %.2f: %+.3f\n",
                                                           distraction, correlation, difference.mean).utf8))
            }
        }
        let svg = PhaseDiagram.svg(cells, title: "accuracy, \(modes.0.rawValue) minus \(modes.1.rawValue) (\(seeds) paired seeds)",
                                   xLabel: "distraction per irrelevant lesson (logit)", yLabel: "error correlation by shared memory")
        try svg.write(toFile: path, atomically: true, encoding: .utf8)
        let csvPath = (path.hasSuffix(".svg") ? String(path.dropLast(4)) : path) + ".csv"
        try csvText.write(toFile: csvPath, atomically: true, encoding: .utf8)
        print("wrote \(path) and \(csvPath) (\(cells.count) cells, \(cells.filter(\.significant).count) with a 95% CI that excludes 0)")
    }
}

/// The model backend of `coevo ablate`: each turn the engine asks for is an `llm.chat`
/// call made in process, through the worker's own executor, as `coevo run` would lease
/// it (`ChamberTurnPrompt.job`); a failed call is an empty turn, as there.
final class ModelTurns: @unchecked Sendable {
    let pool: [LLMJob.Endpoint]
    let executor = LLMChatExecutor()
    let server: ManagedModelServer?

    init(pool: [LLMJob.Endpoint], server section: ExperimentConfig.ModelServerSection?) async throws {
        self.pool = pool
        guard let section else {
            server = nil
            return
        }
        server = try await startModelServer(section, logPath: "runs/ablate-model-server.log") {
            FileHandle.standardError.write(Data("ablate: \($0)\n".utf8))
        }
    }

    func stop() { server?.stop() }

    func runOnce(_ base: ChamberSettings, mode: RoutingMode, seed: UInt64, options: AblateCommand) async -> AblateCommand.Row {
        var engine = ChamberEngine(settings: options.settings(base, mode: mode, seed: seed))
        // A step's last turn brings the next step's first: the turns run out at the end.
        var due = engine.start().requests
        while !due.isEmpty {
            let results = await answer(due, settings: engine.settings)
            var next: [TurnRequest] = []
            for (request, result) in zip(due, results) { next += engine.complete(request, result).requests }
            due = next
        }
        return AblateCommand.row(engine, mode: mode, seed: seed)
    }

    /// The turns' results in request order (a failed call is an empty turn), at most the
    /// pool's concurrency in flight.
    private func answer(_ requests: [TurnRequest], settings: ChamberSettings) async -> [TurnResult] {
        let jobs = requests.map { ChamberTurnPrompt.job(for: $0, settings: settings, pool: pool) }
        let outputs = await runChatJobs(jobs, executor: executor, limit: pool.map(\.concurrency).reduce(0, +))
        return zip(requests, outputs).map { request, output in
            output.map { ChamberTurnPrompt.result(for: request, reply: $0.text, tokens: $0.promptTokens + $0.completionTokens) }
                ?? TurnResult.empty
        }
    }
}

