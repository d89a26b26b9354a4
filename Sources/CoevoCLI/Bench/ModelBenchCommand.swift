import ArgumentParser
import CoevoBackends
import CoevoCore
import CoevoStore
import Foundation

/// `coevo bench model`: how busy an experiment keeps its model server. The experiment
/// runs with `coevo run`; then the very calls it made (the same prompts, seeds and
/// limits, read back from its database) go straight to the server, as many at once as
/// the endpoints allow, with no phase waiting for another. The ratio of the two
/// completion rates is what the protocol's phases cost.
struct ModelBenchCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "model",
        abstract: "An experiment's model calls/s against the model server's own rate on the same calls.",
        discussion: """
            Starts the config's model_server (if it has one) once for both measurements. \
            The experiment's rate counts its succeeded llm.chat jobs over the wall time of \
            `coevo run`; the server's rate counts the same calls replayed through the worker's \
            chat executor with the endpoints' concurrency in flight. Seeded calls give the \
            same replies both times, so both sides generate the same tokens (printed).
            """)

    @Argument(help: "A model experiment's config.")
    var config = "Configs/quickstart.yaml"

    @Option(help: "Rounds (chamber: steps) instead of the config's, for a shorter measurement.")
    var rounds: Int?

    @OptionGroup var logging: LoggingOptions

    func run() async throws {
        let (experiment, text) = try loadConfig(config)
        guard experiment.isProtocolRun, experiment.discovery == nil, !experiment.endpoints.isEmpty else {
            throw UserFacingError("\(config) is not a model experiment: bench model takes a proposer/solver, red-blue or chamber config with endpoints")
        }
        if let rounds, rounds < 1 { throw ValidationError("--rounds must be at least 1") }
        var server: ManagedModelServer?
        if let section = experiment.modelServer {
            server = try await startModelServer(section, logPath: "runs/bench-model-server.log") { say($0) }
        }
        defer { server?.stop() }
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("coevo-bench-model-\(getpid())")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }

        say("running the experiment with coevo run (\(rounds.map { "\($0) round(s)" } ?? "the config's rounds"))")
        let run = try VariantRun.start(text, in: directory, name: "experiment") { tree in
            tree["model_server"] = nil  // started here, for both measurements
            guard let rounds else { return }
            for (section, key) in [("proposer_solver", "rounds"), ("red_blue", "rounds"), ("chamber", "steps")] {
                if var values = tree[section] as? [String: Any] {
                    values[key] = rounds
                    tree[section] = values
                }
            }
        }
        let store = try CoevoStore(path: run.database)
        defer { store.writer.stop() }
        guard let stored = try store.runs().first else { throw UserFacingError("the experiment left no run in \(run.database)") }
        let calls = try store.storedJobs(ofRun: stored.id).filter { $0.job.kind == .llm && $0.outcome?.status == .succeeded }
        let jobs = calls.compactMap { try? JSONDecoder().decode(LLMJob.self, from: $0.job.payload) }
        let experimentTokens = calls.compactMap { $0.outcome.flatMap { try? JSONDecoder().decode(LLMJobOutput.self, from: $0.output) } }
            .reduce(0) { $0 + $1.completionTokens }
        guard !jobs.isEmpty else { throw UserFacingError("the experiment made no successful model call") }

        let concurrency = experiment.endpoints.map(\.concurrency).reduce(0, +)
        say("replaying its \(jobs.count) calls straight to the server, \(concurrency) at a time")
        let started = Date()
        let outputs = await runChatJobs(jobs, executor: LLMChatExecutor(), limit: concurrency)
        let serverSeconds = Date().timeIntervalSince(started)
        let answered = outputs.compactMap { $0 }
        let replayTokens = answered.reduce(0) { $0 + $1.completionTokens }

        let experimentRate = Double(jobs.count) / run.seconds
        let serverRate = Double(answered.count) / serverSeconds
        let ratio = experimentRate / serverRate
        print("coevo model benchmark: \(config), \(experiment.endpoints.map { "\($0.name) (\($0.model), concurrency \($0.concurrency))" }.joined(separator: ", "))")
        print(String(format: "server alone:   %4d calls in %7.1f s = %.3f calls/s, %d completion tokens", answered.count, serverSeconds,
                     serverRate, replayTokens))
        print(String(format: "the experiment: %4d calls in %7.1f s = %.3f calls/s, %d completion tokens (coevo run, start to summary)",
                     jobs.count, run.seconds, experimentRate, experimentTokens))
        print(String(format: "experiment / server: %.1f%% of the server's own rate (target >= 90%%: %@)", ratio * 100,
                     ratio >= 0.9 ? "met" : "NOT met"))
        if answered.count < jobs.count { print("\(jobs.count - answered.count) replayed call(s) failed; the server's rate counts the answered ones") }
    }

    private func say(_ line: String) { FileHandle.standardError.write(Data("bench model: \(line)\n".utf8)) }
}
