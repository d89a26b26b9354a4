import Foundation
import Glibc

/// A local model server (llama.cpp's, vLLM, Ollama...) that `coevo run` starts before the
/// workers, waits for (its health URL answering 200) and stops at the end, group and all.
public final class ManagedModelServer {
    public let command: [String]
    public let healthURL: String
    private var pid: pid_t = 0
    public let logPath: String

    public init(command: [String], healthURL: String, logPath: String) {
        self.command = command
        self.healthURL = healthURL
        self.logPath = logPath
    }

    public struct StartError: Error, CustomStringConvertible {
        public let description: String
    }

    /// Starts the server and waits until it is healthy, or throws saying why not (with
    /// the end of its log).
    public func start(timeoutMilliseconds: Int64) async throws {
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 1, logPath, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        posix_spawn_file_actions_adddup2(&actions, 1, 2)
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        posix_spawnattr_setpgroup(&attributes, 0)
        var defaults = sigset_t()
        sigfillset(&defaults)
        posix_spawnattr_setsigdefault(&attributes, &defaults)
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGDEF))
        let argv = command.map { strdup($0) } + [nil]
        defer { argv.forEach { free($0) } }
        let rc = posix_spawnp(&pid, command[0], &actions, &attributes, argv, environ)
        guard rc == 0 else { throw StartError(description: "cannot start model server '\(command[0])': \(String(cString: strerror(rc)))") }

        let http = CurlClient()
        defer { http.shutdown() }
        let deadline = Date(timeIntervalSinceNow: Double(timeoutMilliseconds) / 1000)
        while Date() < deadline {
            if case .success(let response) = await http.send(HTTPRequest(url: healthURL, timeoutMilliseconds: 1000)), response.status == 200 {
                return
            }
            var status: Int32 = 0
            if waitpid(pid, &status, WNOHANG) == pid {
                pid = 0
                throw StartError(description: "model server exited before it was healthy; its log ends:\n\(logTail())")
            }
            try await Task.sleep(for: .milliseconds(250))
        }
        stop()
        throw StartError(description: "model server not healthy at \(healthURL) within \(timeoutMilliseconds) ms; its log ends:\n\(logTail())")
    }

    /// SIGTERM to the server's process group, SIGKILL after 5 s.
    public func stop() {
        guard pid > 0 else { return }
        kill(-pid, SIGTERM)
        var status: Int32 = 0
        var exited = false
        for _ in 0..<100 where !exited {
            exited = waitpid(pid, &status, WNOHANG) == pid
            if !exited { usleep(50_000) }
        }
        kill(-pid, SIGKILL)  // the leader, if it ignored SIGTERM, and anything it left behind
        if !exited { waitpid(pid, &status, 0) }
        pid = 0
    }

    private func logTail() -> String {
        let text = (try? String(contentsOfFile: logPath, encoding: .utf8)) ?? ""
        return text.split(separator: "\n").suffix(10).joined(separator: "\n")
    }
}
