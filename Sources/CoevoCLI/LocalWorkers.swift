import CoevoBackends
import CoevoWire
import Foundation
import Logging
import Synchronization

/// Worker processes that `coevo run` and the benchmarks start on this machine: the same
/// `coevo` binary with the `worker` subcommand, told our pid so they exit if we die.
final class LocalWorkers {
    private(set) var processes: [Process] = []
    /// Exit statuses of workers that exited before `stop`; `nil` once stopping.
    private final class Exits: Sendable { let statuses = Mutex<[Int32]?>([]) }
    private let exits = Exits()
    private let onAllExited: (@Sendable ([Int32]) -> Void)?

    /// `onAllExited` is called, with their exit statuses, if every worker exits before
    /// `stop` (a worker that cannot start, say): the run would otherwise wait in silence.
    init(onAllExited: (@Sendable ([Int32]) -> Void)? = nil) {
        self.onAllExited = onAllExited
    }

    /// Starts `count` processes running `coevo <arguments(i)>`.
    func start(count: Int, arguments: (Int) -> [String]) throws {
        for index in 0..<count {
            let process = Process()
            process.executableURL = URL(fileURLWithPath: OwnExecutable.path)
            process.arguments = arguments(index)
            if TerminalBlock.isTerminal { relayAboveTheBlock(process) }
            process.terminationHandler = { [exits, onAllExited] process in
                let all: [Int32]? = exits.statuses.withLock { exits in
                    exits?.append(process.terminationStatus)
                    return exits?.count == count ? exits : nil
                }
                if let all { onAllExited?(all) }
            }
            try process.run()
            processes.append(process)
        }
    }

    /// On a terminal the workers' lines come through this process, so they go above the
    /// progress display like the coordinator's own, in the same short form.
    private func relayAboveTheBlock(_ process: Process) {
        var environment = ProcessInfo.processInfo.environment
        environment["COEVO_LOG_COMPACT"] = "1"
        process.environment = environment
        let pipe = Pipe()
        process.standardError = pipe
        let pending = Mutex(Data())
        pipe.fileHandleForReading.readabilityHandler = { handle in
            let chunk = handle.availableData
            if chunk.isEmpty { handle.readabilityHandler = nil }
            let lines: Data = pending.withLock { buffer in
                buffer.append(chunk)
                // Whole lines only, or everything once the worker is gone.
                guard let last = chunk.isEmpty ? buffer.indices.last : buffer.lastIndex(of: UInt8(ascii: "\n")) else { return Data() }
                defer { buffer.removeSubrange(...last) }
                return buffer[...last]
            }
            if !lines.isEmpty { TerminalBlock.above { FileHandle.standardError.write(lines) } }
        }
    }

    /// Starts `count` workers connected to `endpoint`.
    func startWorkers(count: Int, endpoint: String, slots: Int, idPrefix: String = "local",
                      heartbeatMs: Int64 = 1000, liveness: Int64 = 3, logLevel: String = "warning",
                      extraArguments: [String] = []) throws {
        try start(count: count) { index in
            ["worker", "--connect", endpoint, "--id", "\(idPrefix)-\(index)", "--slots", "\(slots)",
             "--heartbeat-ms", "\(heartbeatMs)", "--liveness", "\(liveness)",
             "--parent-pid", "\(getpid())", "--log-level", logLevel] + extraArguments
        }
    }

    /// SIGTERM (the workers drain), then SIGKILL whoever is still there after `grace`.
    func stop(grace: TimeInterval = 15) {
        exits.statuses.withLock { $0 = nil }
        for process in processes where process.isRunning { process.terminate() }
        let deadline = Date(timeIntervalSinceNow: grace)
        while processes.contains(where: \.isRunning) && Date() < deadline { usleep(20_000) }
        for process in processes where process.isRunning { kill(process.processIdentifier, SIGKILL) }
        for process in processes { process.waitUntilExit() }
    }
}

/// The port of a bound TCP endpoint (0 for another transport).
func port(of endpoint: String) -> Int {
    endpoint.split(separator: ":").last.flatMap { Int($0) } ?? 0
}

/// A bind endpoint as a local client dials it (`tcp://*:5555` -> `tcp://127.0.0.1:5555`).
func localEndpoint(forBind bind: String) -> String {
    bind.replacingOccurrences(of: "tcp://*:", with: "tcp://127.0.0.1:")
        .replacingOccurrences(of: "tcp://0.0.0.0:", with: "tcp://127.0.0.1:")
}

/// The CURVE key pair `coevo run` makes for its local workers, never listed in
/// authorized_keys. It is written with the coordinator's public key under the port it
/// serves, for as long as the run lasts, in a directory only this user can enter
/// (`~/.coevo/local`, mode 0700): so `coevo status --connect tcp://127.0.0.1:PORT`, run by
/// the same user, finds them, and nobody else on the machine (an agent under a user of its
/// own) can read them. The directory is `directory` instead when one is given (a benchmark).
struct LocalWorkerKey {
    let pair: CurveKeyPair
    let file: String
    let coordinator: CurvePublicKey

    init(port: Int, coordinator: CurvePublicKey, directory: String? = nil) throws {
        pair = try CurveKeyPair.generate()
        self.coordinator = coordinator
        let directory = directory ?? Self.privateDirectory
        file = Self.keyFile(port: port, in: directory)
        do {
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
            _ = chmod(directory, 0o700)
            try pair.writeKeyFile(file)
            try Data((coordinator.z85 + "\n").utf8).write(to: URL(fileURLWithPath: Self.coordinatorFile(of: file)))
        } catch {
            throw UserFacingError("the local workers' key in \(directory): \(error)")
        }
    }

    static var privateDirectory: String {
        FileManager.default.homeDirectoryForCurrentUser.appendingPathComponent(".coevo/local").path
    }

    private static func keyFile(port: Int, in directory: String) -> String { (directory as NSString).appendingPathComponent("\(port).key") }
    /// `PORT.coordinator` beside `PORT.key`: the coordinator's public key.
    private static func coordinatorFile(of keyFile: String) -> String { String(keyFile.dropLast(".key".count)) + ".coordinator" }

    /// The key as `--coordinator-key=KEY`: Z85 text may begin with `-`, which, as an
    /// argument of its own, would be read as an option (and the workers would not start).
    var workerArguments: [String] { ["--coordinator-key=\(coordinator.z85)", "--key", file] }

    func remove() {
        try? FileManager.default.removeItem(atPath: file)
        try? FileManager.default.removeItem(atPath: Self.coordinatorFile(of: file))
    }

    /// The keys of the `coevo run` on this machine that serves `endpoint`, for a client of
    /// the same user (`coevo status`, another `coevo-worker`); nil when there is none.
    static func client(for endpoint: String) -> CurveRole? {
        guard endpoint.hasPrefix("tcp://127.") || endpoint.hasPrefix("tcp://localhost:"), port(of: endpoint) > 0 else { return nil }
        let file = keyFile(port: port(of: endpoint), in: privateDirectory)
        guard let text = try? String(contentsOfFile: coordinatorFile(of: file), encoding: .utf8),
              let server = try? curvePublicKey(text.trimmingCharacters(in: .whitespacesAndNewlines)),
              let own = try? CurveKeyPair(file: file) else { return nil }
        return .client(server: server, own: own)
    }
}
