import CoevoBackends
import CoevoCoordinator
import Foundation

/// A variant of a config run with `coevo run` in a child process, on its own database
/// and a free port, for the benchmarks that compare runs of one config.
struct VariantRun {
    let database: String
    let seconds: Double

    /// `arguments` go to `coevo run` after the config's path.
    static func start(_ text: String, in directory: URL, name: String, arguments: [String] = [],
                      _ change: (inout [String: Any]) -> Void) throws -> VariantRun {
        let database = directory.appendingPathComponent("\(name).sqlite").path
        let variant = try ConfigLoader.variant(of: text) { tree in
            change(&tree)
            var coordinator = tree["coordinator"] as? [String: Any] ?? [:]
            coordinator["database"] = database
            coordinator["bind"] = "tcp://127.0.0.1:*"
            tree["coordinator"] = coordinator
        }
        let file = directory.appendingPathComponent("\(name).yaml")
        try variant.write(to: file, atomically: true, encoding: .utf8)
        let process = Process()
        process.executableURL = URL(fileURLWithPath: OwnExecutable.path)
        process.arguments = ["run", file.path, "--log-level", "warning"] + arguments
        let log = directory.appendingPathComponent("\(name).log")
        FileManager.default.createFile(atPath: log.path, contents: nil)
        process.standardOutput = try FileHandle(forWritingTo: log)
        process.standardError = process.standardOutput
        let started = Date()
        try process.run()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else {
            throw UserFacingError("coevo run \(file.path) failed (status \(process.terminationStatus)); its log: \(log.path)")
        }
        return VariantRun(database: database, seconds: Date().timeIntervalSince(started))
    }
}
