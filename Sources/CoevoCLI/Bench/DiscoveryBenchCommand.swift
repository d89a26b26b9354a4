import ArgumentParser
import CoevoBackends
import CoevoCoordinator
import CoevoCore
import CoevoStore
import Foundation

/// `coevo bench discovery`: each agent runtime of a discovery config alone on the same
/// task, evaluation budget and seeds (the improvement CORAL claims over a fixed
/// evolutionary search is measured this way), then grading with several graders at once
/// against one at a time, then what the sandbox costs a step and a grade. Every run is a
/// real `coevo run` of a variant of the config.
struct DiscoveryBenchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "discovery",
        abstract: "Per runtime: best score and improvement per evaluation on the same budget and seeds; parallel vs serial grading.",
        discussion: """
            Example: coevo bench discovery Configs/discovery.yaml --seeds 3
            Each agent group of the config runs alone with the config's total number of agents, \
            rounds and seeds 1..N. The grading figure runs the evolve baseline with --grading-agents \
            agents and 1 grader, then with --graders (the config's task.graders).
            """)

    @Argument(help: "A discovery config.")
    var config: String
    @Option(help: "Seeds per runtime (1..N).")
    var seeds = 3
    @Option(help: "Override the config's rounds (the evaluation budget is rounds x agents).")
    var rounds: Int?
    @Option(help: "Graders at once in the parallel grading measurement (default: the config's task.graders, at least 2).")
    var graders: Int?
    @Option(help: "Evolve agents in the grading measurement (each round grades this many submissions).")
    var gradingAgents = 8
    @Flag(help: "Skip the grading measurement.")
    var skipGrading = false
    @Flag(help: "Skip the sandbox measurement (command agents' steps and grades with and without bubblewrap).")
    var skipSandbox = false
    @Option(help: "Runs of each mode in the sandbox measurement, alternated.")
    var sandboxRuns = 3

    func run() throws {
        let text = try String(contentsOfFile: config, encoding: .utf8)
        let parsed = try loadConfig(config).0
        guard let discovery = parsed.discovery else { throw UserFacingError("\(config) has no discovery section") }
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("coevo-bench-discovery-\(getpid())")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let agents = discovery.agents.reduce(0) { $0 + $1.count }
        let roundCount = rounds ?? discovery.rounds
        print("coevo discovery benchmark: \(config), \(agents) agents x \(roundCount) rounds (\(agents * roundCount) evaluations at most) per run, seeds 1-\(seeds)")

        print("runtime          seed  evaluations  submitted/steps  improved  first     best      best-first/eval  wall s")
        var rows: [(runtime: String, runs: [Outcome])] = []
        for (index, group) in discovery.agents.enumerated() {
            var runs: [Outcome] = []
            for seed in 1...max(1, seeds) {
                let outcome = try measure(text, in: directory, name: "g\(index)-s\(seed)") { tree in
                    var section = tree["discovery"] as? [String: Any] ?? [:]
                    var groups = section["agents"] as? [[String: Any]] ?? []
                    var only = groups[index]
                    only["count"] = agents
                    groups = [only]
                    section["agents"] = groups
                    section["rounds"] = roundCount
                    tree["discovery"] = section
                    tree["run"] = ["name": "bench-discovery", "seed": seed]
                    // A group that calls no model runs without the config's model server.
                    if [.evolve, .command].contains(group.runtime) { tree["model_server"] = nil }
                }
                print(row(group.runtime.rawValue, seed, outcome))
                runs.append(outcome)
            }
            rows.append((group.runtime.rawValue, runs))
        }
        for (runtime, runs) in rows {
            let best = runs.compactMap(\.best)
            let rate = runs.map(\.improvementPerEvaluation)
            print(String(format: "%@: mean best %@, mean (best - first) per evaluation %.5f, %d of %d evaluations improved",
                         runtime, best.isEmpty ? "none" : String(format: "%.5f", best.reduce(0, +) / Double(best.count)),
                         rate.reduce(0, +) / Double(max(1, rate.count)), runs.reduce(0) { $0 + $1.improved },
                         runs.reduce(0) { $0 + $1.evaluations }))
        }

        if !skipGrading { try measureGrading(text, discovery, in: directory) }
        if !skipSandbox { try measureSandbox(text, discovery, in: directory) }
    }

    private func measureGrading(_ text: String, _ discovery: DiscoverySettings, in directory: URL) throws {
        let graders = self.graders ?? max(2, discovery.task.graders)
        var walls: [Int: Outcome] = [:]
        for count in [1, graders] {
            walls[count] = try measure(text, in: directory, name: "graders-\(count)") { tree in
                var section = tree["discovery"] as? [String: Any] ?? [:]
                var task = section["task"] as? [String: Any] ?? [:]
                task["graders"] = count
                section["task"] = task
                section["agents"] = [["runtime": "evolve", "count": gradingAgents, "files": Self.evolveFiles(discovery)]]
                section["rounds"] = 3
                section["target_score"] = nil
                tree["discovery"] = section
                tree["model_server"] = nil
                tree["run"] = ["name": "bench-grading", "seed": 1]
            }
        }
        let serial = walls[1]!, parallel = walls[graders]!
        print(String(format: "grading, %d evolve agents x 3 rounds: 1 grader %.1f s (%.1f grades/s), %d graders %.1f s (%.1f grades/s): %.2fx",
                     gradingAgents, serial.seconds, Double(serial.evaluations) / serial.seconds, graders, parallel.seconds,
                     Double(parallel.evaluations) / parallel.seconds, serial.seconds / parallel.seconds))
    }

    /// What bubblewrap costs: the same command agents' steps (append a line, `coevo eval`)
    /// and their grades, run sandboxed and with `--unsandboxed`, alternated. On a root
    /// worker both give each agent its own user, so the difference is the sandbox's alone.
    private func measureSandbox(_ text: String, _ discovery: DiscoverySettings, in directory: URL) throws {
        guard Confinement.detected.refusal == nil, Confinement.detected.bubblewrap != nil else {
            print("sandbox: this machine cannot sandbox (\(Confinement.detected.refusal ?? "no bubblewrap")); not measured")
            return
        }
        let file = Self.evolveFiles(discovery).first ?? "TASK.md"
        // Durations in microseconds, by job kind, keyed by whether the run was sandboxed.
        var samples: [JobKind: [Bool: [Int]]] = [.discoveryStep: [:], .discoveryGrade: [:]]
        for index in 0..<(2 * max(1, sandboxRuns)) {
            let sandboxed = index % 2 == 0
            let variant = try VariantRun.start(text, in: directory, name: "sandbox-\(index)", arguments: sandboxed ? [] : ["--unsandboxed"]) { tree in
                var section = tree["discovery"] as? [String: Any] ?? [:]
                section["agents"] = [["runtime": "command", "count": 4,
                                      "command": ["sh", "-c", "read -r first; echo \"# $(date +%N)\" >> \(file); coevo eval -m step"]]]
                section["rounds"] = 5
                section["target_score"] = nil
                tree["discovery"] = section
                tree["model_server"] = nil
                tree["run"] = ["name": "bench-sandbox", "seed": 1]
            }
            let store = try CoevoStore(path: variant.database)
            defer { store.writer.stop() }
            for kind in samples.keys { samples[kind]![sandboxed, default: []] += try store.resultDurations(kind: kind) }
        }
        func median(_ values: [Int]) -> Double {
            let sorted = values.sorted()
            return sorted.isEmpty ? 0 : Double(sorted[sorted.count / 2]) / 1000
        }
        for (noun, kind) in [("step", JobKind.discoveryStep), ("grade", JobKind.discoveryGrade)] {
            let on = samples[kind]![true] ?? [], off = samples[kind]![false] ?? []
            print(String(format: "sandbox, %@ (median of %d / %d): %.1f ms sandboxed, %.1f ms unsandboxed: %+.1f ms", noun,
                         on.count, off.count, median(on), median(off), median(on) - median(off)))
        }
    }

    /// The files the config's evolve agents mutate (the grading measurement runs evolve).
    static func evolveFiles(_ discovery: DiscoverySettings) -> [String] {
        discovery.agents.first { $0.runtime == .evolve }?.files ?? discovery.seedFiles.map(\.path).filter { $0.hasSuffix(".py") }
    }

    struct Outcome {
        var evaluations = 0
        var steps = 0
        var improved = 0
        var first: Double?
        var best: Double?
        var seconds = 0.0
        var improvementPerEvaluation: Double {
            guard let first, let best, evaluations > 0 else { return 0 }
            return (best - first) / Double(evaluations)
        }
    }

    /// Runs a variant of the config with `coevo run` on its own database and port.
    private func measure(_ text: String, in directory: URL, name: String, _ change: (inout [String: Any]) -> Void) throws -> Outcome {
        let variant = try VariantRun.start(text, in: directory, name: name, change)
        var outcome = Outcome(seconds: variant.seconds)
        let store = try CoevoStore(path: variant.database)
        defer { store.writer.stop() }
        guard let run = try store.runs().first else { return outcome }
        let attempts = try store.attempts(ofRun: run.id)
        let direction = RunRecord(run).direction
        outcome.evaluations = attempts.count
        outcome.steps = try store.jobKinds(ofRun: run.id)[JobKind.discoveryStep.rawValue] ?? 0
        outcome.improved = attempts.filter { $0.status == .improved }.count
        outcome.first = attempts.compactMap(\.score).first
        outcome.best = Attempt.ranked(attempts, direction).first?.score
        if direction == .minimize, let first = outcome.first, let best = outcome.best {
            outcome.first = -first
            outcome.best = -best  // so that "best - first" is a gain either way
        }
        return outcome
    }

    private func row(_ runtime: String, _ seed: Int, _ o: Outcome) -> String {
        func number(_ value: Double?) -> String { value.map { String(format: "%-9.5f", $0) } ?? "-        " }
        return runtime.padding(toLength: 17, withPad: " ", startingAt: 0) + String(format: "%-6d%-13d", seed, o.evaluations)
            + "\(o.evaluations)/\(o.steps)".padding(toLength: 17, withPad: " ", startingAt: 0)
            + String(format: "%-10d", o.improved) + number(o.first) + " " + number(o.best) + " "
            + String(format: "%-16.5f %.1f", o.improvementPerEvaluation, o.seconds)
    }
}
