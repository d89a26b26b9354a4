import CZeroMQ
import CoevoTestSupport
import CoevoWire
import Foundation
import GRDB
import Testing

/// Where the built executables are: $COEVO_BIN_DIR, else this checkout's debug build.
enum Binaries {
    static var directory: URL {
        if let dir = ProcessInfo.processInfo.environment["COEVO_BIN_DIR"] { return URL(fileURLWithPath: dir) }
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        return root.appendingPathComponent(".build/debug")
    }

    static func path(_ name: String) throws -> String {
        let path = directory.appendingPathComponent(name).path
        guard FileManager.default.isExecutableFile(atPath: path) else {
            throw HarnessError("\(path) is missing: run `swift build` before `swift test` (or set COEVO_BIN_DIR)")
        }
        return path
    }
}

struct HarnessError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

/// A real child process whose stdout and stderr go to a log file we can read.
final class Child: @unchecked Sendable {
    let process = Process()
    let logURL: URL
    let name: String

    /// `executable`: one of coevo's binaries, or an absolute path. `wrapper`: a command that
    /// runs it for us (`ip netns exec NS`), or none. `environment`: added to this process's.
    init(_ executable: String, _ arguments: [String], in scratch: Scratch, name: String, wrapper: [String] = [],
         environment: [String: String] = [:]) throws {
        self.name = name
        logURL = scratch.url("\(name).log")
        FileManager.default.createFile(atPath: logURL.path, contents: nil)
        let handle = try FileHandle(forWritingTo: logURL)
        let command = wrapper + [executable.hasPrefix("/") ? executable : try Binaries.path(executable)] + arguments
        process.executableURL = URL(fileURLWithPath: command[0])
        process.arguments = Array(command.dropFirst())
        if !environment.isEmpty { process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 } }
        process.standardOutput = handle
        process.standardError = handle
        try process.run()
        scratch.adopt(self)
    }

    var pid: Int32 { process.processIdentifier }
    var isRunning: Bool { process.isRunning }
    var log: String { (try? String(contentsOf: logURL, encoding: .utf8)) ?? "" }

    func signal(_ signal: Int32) { if process.isRunning { kill(pid, signal) } }

    /// The exit status, or nil if the process was still running after `timeout`.
    func waitForExit(timeout: TimeInterval) async -> Int32? {
        let deadline = Date(timeIntervalSinceNow: timeout)
        while process.isRunning {
            if Date() > deadline { return nil }
            try? await Task.sleep(for: .milliseconds(20))
        }
        process.waitUntilExit()
        return process.terminationStatus
    }
}

/// A temporary directory per test, with the processes started in it; `close` kills
/// whatever is left so no test leaves orphans behind.
final class Scratch: @unchecked Sendable {
    let directory: URL
    private var children: [Child] = []
    private let lock = NSLock()

    init(_ name: String) throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("coevo-it-\(name)-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    }

    func url(_ name: String) -> URL { directory.appendingPathComponent(name) }

    func adopt(_ child: Child) { lock.withLock { children.append(child) } }

    func write(_ name: String, _ text: String) throws -> String {
        let url = url(name)
        try text.write(to: url, atomically: true, encoding: .utf8)
        return url.path
    }

    /// Kills every child still running. Call in `defer`.
    func close() {
        for child in lock.withLock({ children }) where child.isRunning {
            kill(child.pid, SIGKILL)
            child.process.waitUntilExit()
        }
    }

    /// Logs of every child, for failure messages.
    var logs: String {
        lock.withLock { children }.map { "----- \($0.name)\n\($0.log.suffix(4000))" }.joined(separator: "\n")
    }
}

/// A TCP port on 127.0.0.1 that nothing listens on right now.
func freePort() -> Int { TestSupport.freePort() }

/// Polls `condition` every 50 ms until it holds or `timeout` passes.
func eventually(timeout: TimeInterval, _ condition: () throws -> Bool) async rethrows -> Bool {
    let deadline = Date(timeIntervalSinceNow: timeout)
    while Date() < deadline {
        if try condition() { return true }
        try? await Task.sleep(for: .milliseconds(50))
    }
    return try condition()
}

/// Queries on a run database while the coordinator may still write it. (Not opened
/// read-only: a read-only connection cannot open a WAL database whose -shm it cannot write.)
struct Database {
    let queue: DatabaseQueue

    init(_ path: String) throws {
        var configuration = Configuration()
        configuration.busyMode = .timeout(5)
        queue = try DatabaseQueue(path: path, configuration: configuration)
    }

    func int(_ sql: String) throws -> Int {
        try queue.read { try Int.fetchOne($0, sql: sql) ?? 0 }
    }

    func strings(_ sql: String) throws -> [String] {
        try queue.read { try String.fetchAll($0, sql: sql) }
    }

    /// 0 while the file or its tables do not exist yet.
    static func resultCount(_ path: String) -> Int {
        guard FileManager.default.fileExists(atPath: path), let db = try? Database(path) else { return 0 }
        return (try? db.int("SELECT COUNT(*) FROM results")) ?? 0
    }
}

/// A hand-driven DEALER for speaking (and mis-speaking) the protocol to a coordinator.
final class RawPeer {
    let socket: ZMQSocket

    init(endpoint: String, routingID: String) throws {
        socket = try ZMQSocket(type: ZMQ_DEALER)
        try socket.set(ZMQ_ROUTING_ID, bytes: Array(routingID.utf8))
        try socket.set(ZMQ_LINGER, Int32(0))
        try socket.connect(endpoint)
    }

    deinit { socket.close(lingerMilliseconds: 0) }

    func send(_ frames: [Data]) { _ = socket.send(frames) }
    func send(_ body: Envelope.OneOf_Body) { send([WireCodec.encode(body)]) }

    /// The next message, or nil after `timeoutMilliseconds`.
    func receive(timeoutMilliseconds: Int = 3000) -> Envelope.OneOf_Body? {
        var item = zmq_pollitem_t(socket: socket.handle, fd: 0, events: Int16(ZMQ_POLLIN), revents: 0)
        guard zmq_poll(&item, 1, timeoutMilliseconds) > 0, let frames = socket.receive(), frames.count == 1 else { return nil }
        return try? WireCodec.decode(frames[0])
    }

    /// The next ERROR's code, skipping heartbeats and welcomes.
    func nextError(timeoutMilliseconds: Int = 3000) -> WireErrorCode? {
        let deadline = Date(timeIntervalSinceNow: Double(timeoutMilliseconds) / 1000)
        while Date() < deadline {
            switch receive(timeoutMilliseconds: max(1, Int(deadline.timeIntervalSinceNow * 1000))) {
            case .error(let error): return error.code
            case nil: return nil
            default: continue
            }
        }
        return nil
    }
}

/// A config for the runtime tests, with a fresh port and database in `scratch`.
struct TestRun {
    let scratch: Scratch
    let port = freePort()
    var endpoint: String { "tcp://127.0.0.1:\(port)" }
    var database: String { scratch.url("run.sqlite").path }

    func config(kind: String, jobs: Int, sleepMs: Int = 0, extra: String = "", workers: Int = 2, slots: Int = 8,
                minWorkers: Int = 1) throws -> String {
        try scratch.write("config.yaml", """
            run: {name: it, seed: 7}
            coordinator:
              bind: \(endpoint)
              database: \(database)
              min_workers: \(minWorkers)
            \(extra)
            workers: {count: \(workers), slots: \(slots)}
            workload: {kind: \(kind), jobs: \(jobs), sleep_ms: \(sleepMs), payload_bytes: 24}
            """)
    }

    func coordinator(config: String, name: String = "coordinator") throws -> Child {
        try Child("coevo-coordinator", ["--config", config, "--exit-when-done"], in: scratch, name: name)
    }

    /// Leases a worker holds now, asked of the coordinator with `coevo status --json`.
    func leases(of worker: String) -> Int {
        let status = Process()
        guard let path = try? Binaries.path("coevo") else { return 0 }
        status.executableURL = URL(fileURLWithPath: path)
        status.arguments = ["status", "--connect", endpoint, "--json", "--timeout-ms", "1000"]
        let out = Pipe()
        status.standardOutput = out
        status.standardError = FileHandle.nullDevice
        guard (try? status.run()) != nil else { return 0 }
        let data = out.fileHandleForReading.readDataToEndOfFile()
        status.waitUntilExit()
        let object = (try? JSONSerialization.jsonObject(with: data)) as? [String: Any]
        let workers = object?["workers"] as? [[String: Any]] ?? []
        return workers.first { $0["id"] as? String == worker }?["leased"] as? Int ?? 0
    }

    func worker(_ id: String, slots: Int = 8) throws -> Child {
        try Child("coevo-worker", ["--connect", endpoint, "--id", id, "--slots", "\(slots)"], in: scratch, name: id)
    }
}

/// Every test that starts processes lives under this suite, so they run one at a time:
/// the machine has two cores and the tests measure nothing but correctness.
@Suite(.serialized) enum ProcessTests {}
