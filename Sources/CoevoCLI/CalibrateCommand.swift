import ArgumentParser
import CoevoBackends
import CoevoCore
import Foundation

/// `coevo calibrate`: measures the simulator's context and conformity parameters on a
/// model endpoint (see `Calibration`) and writes them as a config's `simulator` section.
struct CalibrateCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "calibrate",
        abstract: "Measure the simulator's distraction, length, lost-in-the-middle and conformity parameters on a model.",
        discussion: """
            Asks the chamber's built-in questions under six conditions (plain, short and long \
            off-topic lessons, the answer as a lesson first or in the middle of the list, a \
            wrong majority in a revise turn) on the config's `agent` pool (else its first \
            endpoint), starting the config's model_server first if it has one. Each parameter \
            is read off the difference in log-odds of a right answer, in the simulator's units \
            (divided by its steepness). The result is a `simulator:` section to put in a \
            chamber config; gaps, wrong lessons and error correlation are not measured.
            """)

    @Argument(help: "Config with the endpoints (e.g. Configs/chamber-llm.yaml).")
    var config: String

    @Option(help: "Questions per condition (six calls each).")
    var questions = 20

    @Option(help: "Where to write the simulator section (default: calibration-<run name>.yaml).")
    var out: String?

    @Option(help: "Sampling temperature of the probes (0: the model's most likely answer).")
    var temperature = 0.0

    func run() async throws {
        let (experiment, _) = try loadConfig(config)
        guard questions >= 2 else { throw ValidationError("--questions must be at least 2") }
        guard let endpoint = experiment.endpoints(forRole: "agent").first else {
            throw UserFacingError("\(config) names no endpoint: calibrate needs a model (an endpoints section, and a pool `agent` to choose one)")
        }
        var server: ManagedModelServer?
        if let section = experiment.modelServer {
            server = try await startModelServer(section, logPath: "runs/calibrate-model-server.log") {
                FileHandle.standardError.write(Data("calibrate: \($0)\n".utf8))
            }
        }
        defer { server?.stop() }

        var calibration = Calibration(seed: experiment.run.seed, questions: questions)
        let replies = await ask(calibration.probes, endpoint: endpoint)
        for (probe, reply) in zip(calibration.probes, replies) { calibration.record(probe, reply: reply) }
        let failed = replies.filter { $0 == nil }.count
        let steepness = experiment.chamberSettings?.simulator.steepness ?? SimulatedWorld.Parameters().steepness
        let estimate = calibration.estimate(steepness: steepness)

        print("condition            right / asked   (\(endpoint.name): \(endpoint.model), \(questions) questions, \(failed) calls failed)")
        for condition in Calibration.Condition.allCases {
            let (right, asked) = calibration.counts(condition)
            let label = condition == .majority ? "\(condition.rawValue) (switched)" : condition.rawValue
            print(label.padding(toLength: 20, withPad: " ", startingAt: 0) + String(format: " %5d / %-5d   %.2f", right, asked,
                                                                                     Double(right) / Double(max(1, asked))))
        }
        var yaml = """
            # coevo calibrate \(config): \(endpoint.model) at \(endpoint.url), \(questions) questions per condition,
            # temperature \(temperature), steepness \(steepness). Put this section in a chamber config.
            simulator:
              distraction: \(String(format: "%.4f", estimate.distraction))
              length_penalty: \(String(format: "%.4f", estimate.lengthPenalty))
              conformity: \(String(format: "%.4f", estimate.conformity))

            """
        if let middle = estimate.middleLoss {
            yaml += "  middle_loss: \(String(format: "%.4f", middle))\n"
        } else {
            yaml += "  # middle_loss: not measured (the hint did not help even first)\n"
        }
        let path = out ?? "calibration-\(experiment.run.name).yaml"
        try yaml.write(toFile: path, atomically: true, encoding: .utf8)
        print(yaml, terminator: "")
        print("wrote \(path)")
    }

    /// The probes' replies in probe order (nil for a failed call), at most the endpoint's
    /// concurrency in flight.
    func ask(_ probes: [Calibration.Probe], endpoint: LLMJob.Endpoint) async -> [String?] {
        let jobs = probes.enumerated().map { i, probe in
            let (system, prompt) = ChamberTurnPrompt.call(for: probe.request)
            return LLMJob(endpoint: endpoint, system: system, prompt: prompt, maxTokens: 48, temperature: temperature,
                          seed: AgentCall.seed(runSeed: probe.request.worldSeed, key: "calibrate.\(i)"))
        }
        let outputs = await runChatJobs(jobs, executor: LLMChatExecutor(), limit: endpoint.concurrency) { done in
            if done % 10 == 0 || done == jobs.count {
                FileHandle.standardError.write(Data("calibrate: \(done)/\(jobs.count) calls\n".utf8))
            }
        }
        return outputs.map { $0?.text }
    }
}
