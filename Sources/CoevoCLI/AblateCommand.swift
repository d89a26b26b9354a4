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

    func run() throws {
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

        var rows: [Row] = []
        for mode in modes {
            for k in 0..<seeds {
                var settings = base
                settings.seed = base.seed + UInt64(k)
                settings.evolution.codream.routing = mode
                if withoutHeartbeats {
                    settings.evolution.heartbeats.reflectEvery = 0
                    settings.evolution.heartbeats.consolidateEvery = 0
                    settings.evolution.heartbeats.pivotAfter = 0
                }
                var engine = ChamberEngine(settings: settings)
                while !engine.isFinished { engine.runStepInProcess() }
                let late = engine.reports.suffix(max(1, engine.reports.count / 2))
                let accuracy = Double(late.reduce(0) { $0 + $1.successes }) / Double(late.reduce(0) { $0 + $1.tasks })
                let last = engine.reports.last!
                rows.append(Row(mode: mode, seed: settings.seed, accuracy: accuracy, specialists: last.specialists,
                                stableSpecialists: last.stableSpecialists, concentration: last.concentration,
                                insightsRouted: engine.reports.reduce(0) { $0 + $1.insightsRouted },
                                codreamEvents: engine.reports.reduce(0) { $0 + $1.codreamEvents },
                                population: last.population, tokens: engine.reports.reduce(0) { $0 + $1.tokens },
                                agentTurns: engine.reports.reduce(0) { $0 + $1.agentTurns }))
                FileHandle.standardError.write(Data(String(format: "ablate: %@ seed %llu: accuracy %.3f\n",
                                                           mode.rawValue, settings.seed, accuracy).utf8))
            }
        }

        // Deliveries: insights handed to agents per CODREAM event. Tokens per turn: what an
        // agent turn costs (insights in the prompt included), so accuracy per 1k tokens a
        // turn says what the routing buys for what it costs.
        print("routing      accuracy (mean ± sd)  deliveries/event  tokens/turn  accuracy per 1k tok/turn  specialists (stable)  concentration  population")
        for mode in modes {
            let group = rows.filter { $0.mode == mode }
            let accuracies = group.map(\.accuracy)
            let mean = accuracies.reduce(0, +) / Double(accuracies.count)
            let sd = (accuracies.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / Double(max(1, accuracies.count - 1))).squareRoot()
            func avg(_ f: (Row) -> Double) -> Double { group.map(f).reduce(0, +) / Double(group.count) }
            let deliveries = avg { Double($0.insightsRouted) / Double(max(1, $0.codreamEvents)) }
            let perTurn = avg { Double($0.tokens) / Double(max(1, $0.agentTurns)) }
            print(mode.rawValue.padding(toLength: 12, withPad: " ", startingAt: 0)
                  + String(format: " %.3f ± %.3f        %8.2f          %7.1f      %8.3f                  %6.1f (%4.1f)       %6.3f        %5.1f",
                           mean, sd, deliveries, perTurn, mean / max(0.001, perTurn / 1000),
                           avg { Double($0.specialists) }, avg { Double($0.stableSpecialists) }, avg(\.concentration),
                           avg { Double($0.population) }))
        }
        let path = csv ?? "ablation-\(experiment.run.name).csv"
        var text = "routing,seed,accuracy,specialists,stable_specialists,concentration,insights_routed,codream_events,population,tokens,agent_turns\n"
        for r in rows {
            text += "\(r.mode.rawValue),\(r.seed),\(String(format: "%.4f", r.accuracy)),\(r.specialists),\(r.stableSpecialists),"
                + "\(String(format: "%.4f", r.concentration)),\(r.insightsRouted),\(r.codreamEvents),\(r.population),\(r.tokens),\(r.agentTurns)\n"
        }
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        print("wrote \(path) (\(rows.count) runs)")
    }
}
