import CoevoBackends
import CoevoWire
import Foundation
import Logging

/// Worker processes that `coevo run` and the benchmarks start on this machine: the same
/// `coevo` binary with the `worker` subcommand, told our pid so they exit if we die.
final class LocalWorkers {
    private(set) var processes: [Process] = []

    /// Starts `count` processes running `coevo <arguments(i)>`.
    func start(count: Int, arguments: (Int) -> [String]) throws {
        for index in 0..<count {
            let process = Process()
            process.executableURL = URL(fileURLWithPath: OwnExecutable.path)
            process.arguments = arguments(index)
            try process.run()
            processes.append(process)
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
        for process in processes where process.isRunning { process.terminate() }
        let deadline = Date(timeIntervalSinceNow: grace)
        while processes.contains(where: \.isRunning) && Date() < deadline { usleep(20_000) }
        for process in processes where process.isRunning { kill(process.processIdentifier, SIGKILL) }
        for process in processes { process.waitUntilExit() }
    }
}

/// A bind endpoint as a local client dials it (`tcp://*:5555` -> `tcp://127.0.0.1:5555`).
func localEndpoint(forBind bind: String) -> String {
    bind.replacingOccurrences(of: "tcp://*:", with: "tcp://127.0.0.1:")
        .replacingOccurrences(of: "tcp://0.0.0.0:", with: "tcp://127.0.0.1:")
}

/// The CURVE key pair `coevo run` makes for its local workers: written (mode 0600) beside
/// the database for as long as the run lasts, never listed in authorized_keys.
struct LocalWorkerKey {
    let pair: CurveKeyPair
    let file: String
    let coordinator: CurvePublicKey

    init(directory: String, coordinator: CurvePublicKey) throws {
        pair = try CurveKeyPair.generate()
        self.coordinator = coordinator
        file = (directory as NSString).appendingPathComponent("local-workers-\(getpid()).key")
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        do {
            try pair.writeKeyFile(file)
        } catch {
            throw UserFacingError("the local workers' key: \(error)")
        }
    }

    var workerArguments: [String] { ["--coordinator-key", coordinator.z85, "--key", file] }

    func remove() { try? FileManager.default.removeItem(atPath: file) }
}
