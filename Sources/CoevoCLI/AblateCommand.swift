import ArgumentParser
import CoevoCore
import Foundation

/// `coevo ablate`: the same chamber experiment under several CODREAM routing modes and
/// seeds, on the in-process simulator; a table on stdout and a CSV.
struct AblateCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ablate",
        abstract: "Compare CODREAM routing modes on the simulator (table + CSV).",
        discussion: """
            Every run uses the config's chamber, evolution and simulator sections with only
            evolution.codream.routing and the seed changed, so the difference between rows is
            the routing. Accuracy is the mean team success rate over the second half of the
            steps (after the population has had time to adapt).
            """)

    @Argument(help: "Experiment config with a chamber section (e.g. Configs/chamber-sim.yaml).")
    var config: String

    @Option(help: "Routing modes to compare, comma separated: asymmetric, symmetric, none.")
    var routing = "asymmetric,symmetric,none"

    @Option(help: "Seeds per mode: run.seed, run.seed + 1, ...")
    var seeds = 5

    @Option(help: "CSV output path (default: ablation-<run name>.csv).")
    var csv: String?

    struct Row {
        var mode: RoutingMode
        var seed: UInt64
        var accuracy: Double
        var specialists: Int
        var concentration: Double
        var insightsRouted: Int
        var population: Int
        var tokens: Int
    }

    func run() throws {
        let (experiment, _) = try loadConfig(config)
        guard let base = experiment.chamberSettings else {
            throw ConfigExit.fail(ConfigError(field: "chamber", problem: "ablate needs a chamber section"))
        }
        var modes: [RoutingMode] = []
        for name in routing.split(separator: ",").map({ $0.trimmingCharacters(in: .whitespaces) }) {
            guard let mode = RoutingMode(rawValue: name) else {
                throw ValidationError("unknown routing mode '\(name)' (expected: asymmetric, symmetric, none)")
            }
            modes.append(mode)
        }
        guard seeds >= 1 else { throw ValidationError("--seeds must be at least 1") }

        var rows: [Row] = []
        for mode in modes {
            for k in 0..<seeds {
                var settings = base
                settings.seed = base.seed + UInt64(k)
                settings.evolution.codream.routing = mode
                var engine = ChamberEngine(settings: settings)
                while !engine.isFinished { engine.runStepInProcess() }
                let late = engine.reports.suffix(max(1, engine.reports.count / 2))
                let accuracy = Double(late.reduce(0) { $0 + $1.successes }) / Double(late.reduce(0) { $0 + $1.tasks })
                let last = engine.reports.last!
                rows.append(Row(mode: mode, seed: settings.seed, accuracy: accuracy, specialists: last.specialists,
                                concentration: last.concentration,
                                insightsRouted: engine.reports.reduce(0) { $0 + $1.insightsRouted },
                                population: last.population, tokens: engine.reports.reduce(0) { $0 + $1.tokens }))
                FileHandle.standardError.write(Data(String(format: "ablate: %@ seed %llu: accuracy %.3f\n",
                                                           mode.rawValue, settings.seed, accuracy).utf8))
            }
        }

        print("routing      accuracy (mean ± sd)  specialists  concentration  insights routed  population")
        for mode in modes {
            let group = rows.filter { $0.mode == mode }
            let accuracies = group.map(\.accuracy)
            let mean = accuracies.reduce(0, +) / Double(accuracies.count)
            let sd = (accuracies.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / Double(max(1, accuracies.count - 1))).squareRoot()
            func avg(_ f: (Row) -> Double) -> Double { group.map(f).reduce(0, +) / Double(group.count) }
            print(mode.rawValue.padding(toLength: 12, withPad: " ", startingAt: 0)
                  + String(format: " %.3f ± %.3f        %6.1f       %6.3f        %9.0f        %5.1f",
                           mean, sd, avg { Double($0.specialists) }, avg(\.concentration),
                           avg { Double($0.insightsRouted) }, avg { Double($0.population) }))
        }
        let path = csv ?? "ablation-\(experiment.run.name).csv"
        var text = "routing,seed,accuracy,specialists,concentration,insights_routed,population,tokens\n"
        for r in rows {
            text += "\(r.mode.rawValue),\(r.seed),\(String(format: "%.4f", r.accuracy)),\(r.specialists),"
                + "\(String(format: "%.4f", r.concentration)),\(r.insightsRouted),\(r.population),\(r.tokens)\n"
        }
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        print("wrote \(path) (\(rows.count) runs)")
    }
}
