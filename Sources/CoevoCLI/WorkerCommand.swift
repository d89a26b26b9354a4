import ArgumentParser
import CoevoBackends
import CoevoCore
import CoevoWire
import CoevoWorker
import Foundation

/// `coevo-worker` (also `coevo worker`): runs jobs for a coordinator.
public struct WorkerCommand: AsyncParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "worker",
        abstract: "Run a worker: connect to a coordinator and execute the jobs it leases.",
        discussion: """
            A worker keeps no state between jobs. If the coordinator goes away it reconnects \
            with backoff (1 s doubling to 32 s) and registers again without a restart. \
            SIGTERM or Ctrl-C finishes running jobs (up to --drain-timeout-ms), reports them, \
            and disconnects.
            """)

    @Option(name: .long, help: "Coordinator endpoint, e.g. tcp://head-node:5555.")
    var connect: String = "tcp://127.0.0.1:5555"

    @Option(name: .long, help: "Worker id, unique among live workers (default: HOSTNAME-PID).")
    var id: String?

    @Option(name: .long, help: "Jobs run at once.")
    var slots: Int = 64

    @Option(name: .long, help: "Heartbeat interval in milliseconds.")
    var heartbeatMs: Int64 = 1000

    @Option(name: .long, help: "Missed heartbeats before the coordinator counts as lost.")
    var liveness: Int64 = 3

    @Option(name: .long, help: "How long a shutdown waits for running jobs, in milliseconds.")
    var drainTimeoutMs: Int64 = 10_000

    @Option(name: .long, help: "Directory for command agents' workspaces (default: a temporary directory per worker id).")
    var workspace: String?

    @Option(name: .long,
            help: "A local model server to start before connecting and stop at exit: its command line, words split on spaces.")
    var modelServer: String?

    @Option(name: .long, help: "URL polled until the model server answers 200 (needed with --model-server).")
    var modelHealth: String?

    @Option(name: .long, help: "Exit when this process stops being our parent (used by `coevo run`).")
    var parentPid: Int32?

    @Option(name: .long, help: "Base URL of an endpoint llm.chat jobs may call here (repeat for more). Endpoints on this machine are always allowed.")
    var allowEndpoint: [String] = []

    @Option(name: .long, help: "VAR=BASE-URL: the key in environment variable VAR may be sent to endpoints under BASE-URL (repeat for more). No key is sent otherwise.")
    var allowKey: [String] = []

    @Option(name: .long, help: "A program discovery agents may run here (argv[0], exactly; repeat for more). None otherwise.")
    var allowCommand: [String] = []

    @Option(name: .long, help: "An environment variable of this worker whose value discovery agents may ask for by name (an API key; repeat for more). None otherwise.")
    var allowAgentKey: [String] = []

    @Option(name: .long, help: "A host discovery agents may reach when their group's egress names it (HOST: port 443, and every name under HOST; HOST:PORT; repeat for more). A CLI's own vendor (Anthropic's for claude) needs none.")
    var allowEgress: [String] = []

    @Flag(name: .long, help: "Run discovery agents, candidates and graders without a sandbox where this machine cannot make one (no bubblewrap): they then see what the worker sees. Every step's result says so.")
    var unsandboxed = false

    @Option(name: .long, help: "FIRST-LAST: the user ids a root worker gives candidates (FIRST), graders (FIRST+1) and each agent (one each, the rest). No /etc/passwd entries needed.")
    var uidRange: String = "\(UserRange.default.first)-\(UserRange.default.first + UserRange.default.count - 1)"

    @Option(name: .long, help: "A path every agent's sandbox sees read-only, besides the system's directories, its workspace and its program (repeat for more).")
    var sandboxRo: [String] = []

    @OptionGroup var curve: CurveClientOptions

    @OptionGroup var logging: LoggingOptions

    public init() {}

    public func validate() throws {
        guard connect.hasPrefix("tcp://") || connect.hasPrefix("ipc://") else {
            throw ValidationError("--connect must start with tcp:// or ipc:// (got '\(connect)')")
        }
        guard (1...100_000).contains(slots) else { throw ValidationError("--slots must be between 1 and 100000") }
        // The routing id is "<id>/<session>" (16 hex digits) and libzmq allows 255 bytes.
        if let id, id.isEmpty || id.utf8.count > 238 {
            throw ValidationError("--id must be 1 to 238 bytes (got \(id.utf8.count)): it is sent as the routing id <id>/<session>, at most 255 bytes")
        }
        guard heartbeatMs >= 10 else { throw ValidationError("--heartbeat-ms must be at least 10") }
        guard liveness >= 1 else { throw ValidationError("--liveness must be at least 1") }
        for url in allowEndpoint + (try keyBindings()).values.joined()
        where URLComponents(string: url)?.host == nil || !(url.hasPrefix("http://") || url.hasPrefix("https://")) {
            throw ValidationError("'\(url)' is not a base URL like https://api.openai.com")
        }
        guard UserRange(parsing: uidRange) != nil else {
            throw ValidationError("--uid-range takes FIRST-LAST with at least three ids, e.g. 2000000000-2000065535 (got '\(uidRange)')")
        }
        guard modelServer == nil || modelHealth != nil else {
            throw ValidationError("--model-server needs --model-health URL, polled until the server is up")
        }
    }

    /// `--allow-key VAR=BASE-URL` entries: variable -> the base URLs its key may go to.
    func keyBindings() throws -> [String: [String]] {
        var keys: [String: [String]] = [:]
        for entry in allowKey {
            let parts = entry.split(separator: "=", maxSplits: 1).map(String.init)
            guard parts.count == 2, !parts[0].isEmpty, !parts[1].isEmpty else {
                throw ValidationError("--allow-key takes VAR=BASE-URL, e.g. OPENAI_API_KEY=https://api.openai.com (got '\(entry)')")
            }
            keys[parts[0], default: []].append(parts[1])
        }
        return keys
    }

    public func run() async throws {
        let workerID = id ?? "\(ProcessInfo.processInfo.hostName)-\(getpid())"
        let logger = logging.bootstrap(label: "coevo.worker.\(workerID)")
        var settings = WorkerSettings(coordinator: connect, id: WorkerID(workerID), slots: slots)
        settings.heartbeatIntervalMilliseconds = heartbeatMs
        settings.liveness = liveness
        settings.drainTimeoutMilliseconds = drainTimeoutMs
        settings.parentPID = parentPid
        // Beside a `coevo run` of the same user, its local workers' keys let this one in too.
        settings.curve = try curve.role() ?? LocalWorkerKey.client(for: connect)
        let confinement = Confinement.detect(unsandboxed: unsandboxed, users: UserRange(parsing: uidRange) ?? .default,
                                             readOnly: sandboxRo.map { URL(fileURLWithPath: $0).standardizedFileURL.path })
        if let refusal = confinement.refusal {
            logger.warning("discovery agents and grades are refused here: \(refusal)")
        } else if confinement.bubblewrap == nil {
            logger.warning("--unsandboxed: discovery agents, candidates and graders run with this worker's view of the machine")
        }
        if case .failure(let why) = confinement.cgroups {
            logger.warning("no control group per step here (\(why.reason)): an agent's memory is not limited, and its processes and CPU time only per process")
        }
        settings.policy = WorkerPolicy(endpoints: allowEndpoint, keys: try keyBindings(), commands: allowCommand, agentKeys: allowAgentKey,
                                       egress: allowEgress,
                                       confinement: confinement)
        if let workspace { settings.workspaceRoot = workspace }
        var server: ManagedModelServer?
        if let modelServer, let modelHealth {
            let command = modelServer.split(separator: " ").map(String.init)
            let managed = ManagedModelServer(command: command, healthURL: modelHealth,
                                             logPath: settings.workspaceRoot + "/model-server.log")
            try FileManager.default.createDirectory(atPath: settings.workspaceRoot, withIntermediateDirectories: true)
            logger.info("starting model server: \(modelServer)")
            do { try await managed.start(timeoutMilliseconds: 120_000) } catch { throw UserFacingError("\(error)") }
            logger.info("model server healthy at \(modelHealth)")
            server = managed
        }
        defer { server?.stop() }
        let service = WorkerService(settings: settings, logger: logger)
        try await runUntilShutdown([service], logger: logger)
        ZMQContext.shared.terminate()
    }
}
