import ArgumentParser
import CoevoBackends
import CoevoCoordinator
import CoevoCore
import CoevoStore
import CoevoWire
import Foundation
import Logging
import Synchronization

/// Options every long-running command shares.
struct LoggingOptions: ParsableArguments {
    @Option(help: "Log level: trace, debug, info, notice, warning, error, critical (or COEVO_LOG_LEVEL).")
    var logLevel: String?

    @Flag(name: .shortAndLong, help: "Log at debug: every connection, lease and decision (--log-level debug).")
    var verbose = false

    @Flag(name: .shortAndLong, help: "Log warnings and errors only (--log-level warning); progress and the summary still show.")
    var quiet = false

    /// The level named by --log-level or COEVO_LOG_LEVEL; "info" when neither.
    private var named: String { logLevel ?? ProcessInfo.processInfo.environment["COEVO_LOG_LEVEL"] ?? "info" }

    /// The level asked for by -v, -q, --log-level or COEVO_LOG_LEVEL; nil when named wrong.
    private var level: Logger.Level? {
        if verbose { return .debug }
        if quiet { return .warning }
        return Logger.Level(rawValue: named.lowercased())
    }

    /// The level `coevo run` gives its local workers: what was asked for, else warning
    /// (their info lines would repeat the coordinator's).
    var workerLevel: String { verbose ? "debug" : quiet ? "warning" : logLevel ?? "warning" }

    func validate() throws {
        if [verbose, quiet, logLevel != nil].filter({ $0 }).count > 1 {
            throw ValidationError("-v, -q and --log-level each set the log level: give one of them")
        }
        guard level == nil else { return }
        let source = logLevel != nil ? "--log-level" : "COEVO_LOG_LEVEL"
        let levels = Logger.Level.allCases.map(\.rawValue).joined(separator: ", ")
        throw ValidationError("\(source) '\(named)' is not a level: use one of \(levels)")
    }

    /// Sets up swift-log once per process: lines to stderr, at the chosen level.
    func bootstrap(label: String) -> Logger {
        let level = self.level ?? .info
        if !loggingBootstrapped.exchange(true, ordering: .relaxed) {
            LoggingSystem.bootstrap { label in
                if CompactLogHandler.chosen {
                    var handler = CompactLogHandler(label: label)
                    handler.logLevel = level
                    return handler
                }
                var handler = StreamLogHandler.standardError(label: label)
                handler.logLevel = level
                return handler
            }
        }
        var logger = Logger(label: label)
        logger.logLevel = level
        return logger
    }
}

private let loggingBootstrapped = Atomic<Bool>(false)

/// `--resume` / `--new-run`: what to do with an unfinished run of the config's name.
struct ResumeOptions: ParsableArguments {
    @Flag(name: .long, help: "Continue the unfinished run of the config's name on its stored config, even if the config file changed since.")
    var resume = false

    @Flag(name: .long, help: "Set aside the unfinished run of the config's name (kept, never resumed) and start a new one on this config.")
    var newRun = false

    func validate() throws {
        if resume && newRun { throw ValidationError("--resume and --new-run exclude each other: pick one") }
    }

    var intent: RunLauncher.Intent { resume ? .resume : newRun ? .newRun : .auto }
}

/// Prepares the config's run (see `RunLauncher`); a refusal exits 2 with its reason.
func prepareRun(_ config: ExperimentConfig, text: String, given: Bool, resume: ResumeOptions, store: CoevoStore,
                logger: Logger) throws -> RunLauncher.Plan {
    try exitingOnRefusal {
        try RunLauncher.prepare(config: config, configText: text, store: store, logger: logger, configGiven: given, intent: resume.intent)
    }
}

/// What `prepareRun` would refuse, found before anything slow starts; writes nothing.
func checkRun(_ config: ExperimentConfig, text: String, given: Bool, resume: ResumeOptions, store: CoevoStore) throws {
    try exitingOnRefusal {
        try RunLauncher.check(config: config, configText: text, store: store, configGiven: given, intent: resume.intent)
    }
}

private func exitingOnRefusal<T>(_ body: () throws -> T) throws -> T {
    do {
        return try body()
    } catch let refusal as RunLauncher.Refusal {
        FileHandle.standardError.write(Data("error: \(refusal)\n".utf8))
        throw ExitCode(2)
    }
}

/// Exit code 2 with a message naming the field: what the issue tracker promises users for
/// a broken config.
struct ConfigExit {
    static func fail(_ error: ConfigError) -> ExitCode {
        FileHandle.standardError.write(Data("error: \(error)\n".utf8))
        return ExitCode(2)
    }
}

/// Loads the config, applies command-line overrides, validates the result; exits with
/// code 2 on any problem.
func loadConfig(_ path: String?, overrides: (inout ExperimentConfig) -> Void = { _ in }) throws -> (ExperimentConfig, String) {
    do {
        var (config, text) = try ConfigLoader.load(path: path)
        overrides(&config)
        try config.validate()
        return (config, text)
    } catch {
        throw ConfigExit.fail(error)
    }
}

/// Flags that override the config's `coordinator` section.
struct CoordinatorOverrides: ParsableArguments {
    @Option(name: .long, help: "Endpoint to bind, e.g. tcp://0.0.0.0:5555 (overrides coordinator.bind).")
    var bind: String?

    @Option(name: .long, help: "SQLite database file (overrides coordinator.database).")
    var database: String?

    @Option(name: .long, help: "The coordinator's CURVE key pair file (overrides coordinator.curve_key).")
    var curveKey: String?

    @Option(name: .long, help: "Directory of .pub files, or a file of public keys, let in with CURVE (overrides coordinator.authorized_keys).")
    var authorizedKeys: String?

    @Flag(name: .long, help: "Bind an address other machines can reach without CURVE: anyone who reaches it can take jobs and send results.")
    var insecure = false

    func apply(to config: inout ExperimentConfig) {
        if let bind { config.coordinator.bind = bind }
        if let database { config.coordinator.database = database }
        if let curveKey { config.coordinator.curveKey = curveKey }
        if let authorizedKeys { config.coordinator.authorizedKeys = authorizedKeys }
    }

    /// The coordinator's settings, with its CURVE key pair read. Refuses an address other
    /// machines can reach without CURVE unless `--insecure` says so.
    func settings(for config: ExperimentConfig) throws -> CoordinatorSettings {
        var settings = CoordinatorSettings(config: config.coordinator)
        if let keyFile = config.coordinator.curveKey {
            do {
                settings.curve = (try CurveKeyPair(file: keyFile), config.coordinator.authorizedKeys)
            } catch let error as CurveKeyError {
                throw UserFacingError("coordinator.curve_key: \(error)")
            }
            if let graders = config.coordinator.graderKeys {
                do {
                    settings.graderKeys = Set(try AuthorizedKeys(path: graders).holders.keys)
                } catch {
                    throw UserFacingError("coordinator.grader_keys: \(error)")
                }
            }
        } else if !config.coordinator.bindsLocally && !insecure {
            throw UserFacingError("""
                coordinator.bind \(config.coordinator.bind) can be reached from other machines, and without CURVE \
                anyone who reaches it can take jobs and send results. Make keys (`coevo keys generate coordinator`, \
                `coevo keys generate worker-1 --dir keys/workers`), set coordinator.curve_key and \
                coordinator.authorized_keys (docs/CONFIG.md), or pass --insecure on a network you trust
                """)
        }
        return settings
    }
}

/// The run database `source` names: the file itself, or a config's `coordinator.database`.
func openDatabase(_ source: String) throws -> CoevoStore {
    var path = source
    if source.hasSuffix(".yaml") || source.hasSuffix(".yml") {
        path = try loadConfig(source).0.coordinator.database
    }
    guard FileManager.default.fileExists(atPath: path) else {
        throw UserFacingError("no database at \(path)" + (path == source ? "" : " (coordinator.database in \(source)); has the run started?"))
    }
    do {
        return try CoevoStore(path: path)
    } catch {
        throw UserFacingError("cannot read \(path) as a coevo database: \(error)")
    }
}

/// A failure the user can fix, printed without a stack of type names.
struct UserFacingError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

/// Starts the config's model server and waits until it is healthy; a server that does
/// not come up is an error that says why (its log is at `logPath`).
func startModelServer(_ section: ExperimentConfig.ModelServerSection, logPath: String,
                      say: (String) -> Void) async throws -> ManagedModelServer {
    try? FileManager.default.createDirectory(atPath: URL(fileURLWithPath: logPath).deletingLastPathComponent().path,
                                             withIntermediateDirectories: true)
    let managed = ManagedModelServer(command: section.command, healthURL: section.healthURL, logPath: logPath)
    say("starting model server: \(section.command.joined(separator: " ")) (log: \(logPath))")
    do { try await managed.start(timeoutMilliseconds: section.startupTimeoutMilliseconds) } catch { throw UserFacingError("\(error)") }
    say("model server healthy at \(section.healthURL)")
    return managed
}


/// Asks every endpoint for one token; refuses with exit status 2, each failing endpoint's
/// URL and the server's words, when any does not answer.
func checkEndpoints(_ endpoints: [LLMJob.Endpoint], logger: Logger) async throws {
    guard !endpoints.isEmpty else { return }
    let problems = await EndpointCheck.problems(endpoints)
    guard !problems.isEmpty else {
        logger.info("endpoints answered: \(endpoints.map(\.name).joined(separator: ", "))")
        return
    }
    FileHandle.standardError.write(Data((problems.map { "error: \($0)" } + [
        "nothing was started or written; fix the endpoint (or start it), or pass --skip-endpoint-check to start anyway",
    ]).joined(separator: "\n").appending("\n").utf8))
    throw ExitCode(2)
}
