import CoevoCore
import CoevoWire
import Foundation
import Synchronization

/// Runs `agent.command` jobs: each agent gets a workspace of its own under `root` (a git
/// worktree when the job names a repository), its command runs there through
/// `CommandRunner`, its stderr is kept in `logs/`, and its stdout must be one JSON value.
/// Three crashes within 30 s pause the agent on this worker for 5 minutes.
public final class CommandAgentExecutor: JobExecutor {
    public var kind: JobKind { .agentCommand }
    public let root: URL
    private let breakers = Mutex<[String: CrashBreaker]>([:])

    /// Which programs may run: the worker's choice, not the job's.
    public let policy: WorkerPolicy
    /// Where the values of a job's `secretNames` come from: this worker's environment.
    private let secrets: [String: String]

    public init(root: URL, policy: WorkerPolicy = WorkerPolicy(),
                secrets: [String: String] = ProcessInfo.processInfo.environment) {
        self.root = root
        self.policy = policy
        self.secrets = secrets.filter { policy.agentKeys.contains($0.key) }
    }

    public func run(payload: Data) async -> JobOutcome {
        let job: CommandAgentJob
        do {
            job = try JSONDecoder().decode(CommandAgentJob.self, from: payload)
        } catch {
            return JobOutcome(status: .failed, error: "agent.command payload is not a CommandAgentJob: \(error)")
        }
        guard !job.agent.isEmpty, job.agent.allSatisfy({ $0.isLetter || $0.isNumber || "-_.".contains($0) }), !job.command.isEmpty else {
            return JobOutcome(status: .failed, error: "agent.command needs an agent name of letters, digits, '-', '_', '.' and a command")
        }
        if let refusal = policy.refusal(forCommand: job.command, secretNames: job.secretNames) {
            return JobOutcome(status: .unsupported, error: refusal)  // another worker may allow it
        }
        let now = MonotonicTime.now()
        if breakers.withLock({ $0[job.agent]?.isPaused(now: now) ?? false }) {
            return JobOutcome(status: .failed, error: "agent \(job.agent) is paused: it crashed 3 times within 30 s")
        }
        let workspace: URL
        do {
            workspace = try prepareWorkspace(for: job)
        } catch {
            return JobOutcome(status: .failed, error: "cannot prepare the workspace of agent \(job.agent): \(error)")
        }
        var spec = CommandSpec(arguments: job.command, workingDirectory: workspace.path)
        spec.timeoutMilliseconds = job.timeoutMs
        spec.stallMilliseconds = job.stallMs
        spec.maxOutputBytes = job.maxOutputBytes
        spec.cpuSeconds = job.cpuSeconds
        spec.memoryBytes = job.memoryBytes
        spec.openFiles = job.openFiles
        spec.environment = job.environment
        for name in job.secretNames {
            guard let value = secrets[name] else {
                return JobOutcome(status: .unsupported, error: "agent \(job.agent) needs $\(name), which is not set on this worker")
            }
            spec.environment[name] = value
        }
        spec.userID = job.userID
        let outcome = await CommandRunner.run(spec, input: Data(job.input.utf8))
        saveLog(outcome, agent: job.agent)

        guard outcome.succeeded else {
            if outcome.exitCode != 0 || outcome.signal != nil {
                let paused = breakers.withLock { $0[job.agent, default: CrashBreaker()].crashed(now: .now()) }
                if paused { return JobOutcome(status: .failed, error: "agent \(job.agent) \(outcome.summary); 3 crashes within 30 s: paused for 5 minutes") }
            }
            let status: JobOutcome.Status = outcome.timedOut ? .timedOut : .failed
            let stderr = String(decoding: outcome.stderr.suffix(500), as: UTF8.self)
            return JobOutcome(status: status, output: outcome.stdout, error: "agent \(job.agent) \(outcome.summary)" + (stderr.isEmpty ? "" : ": \(stderr)"))
        }
        guard (try? JSONSerialization.jsonObject(with: outcome.stdout, options: [.fragmentsAllowed])) != nil else {
            return JobOutcome(status: .failed, output: outcome.stdout,
                              error: "agent \(job.agent) printed no JSON on stdout: \(String(decoding: outcome.stdout.prefix(200), as: UTF8.self))")
        }
        return JobOutcome(status: .succeeded, output: outcome.stdout)
    }

    private func prepareWorkspace(for job: CommandAgentJob) throws -> URL {
        let workspace = root.appendingPathComponent("agents").appendingPathComponent(job.agent)
        if FileManager.default.fileExists(atPath: workspace.path) { return workspace }
        try FileManager.default.createDirectory(at: workspace.deletingLastPathComponent(), withIntermediateDirectories: true)
        if let repository = job.repository {
            let git = Process()
            git.executableURL = URL(fileURLWithPath: "/usr/bin/env")
            git.arguments = ["git", "-C", repository, "worktree", "add", "--detach", workspace.path]
            let errors = Pipe()
            git.standardError = errors
            git.standardOutput = FileHandle.nullDevice
            try git.run()
            git.waitUntilExit()
            guard git.terminationStatus == 0 else {
                throw CommandSpecError(description: "git worktree add failed: \(String(decoding: errors.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self))")
            }
        } else {
            try FileManager.default.createDirectory(at: workspace, withIntermediateDirectories: true)
        }
        if job.userID != nil {
            // The agent runs as another user: its workspace must be its own to write.
            _ = chown(workspace.path, job.userID!, job.userID!)
        }
        return workspace
    }

    private func saveLog(_ outcome: CommandOutcome, agent: String) {
        let logs = root.appendingPathComponent("logs")
        try? FileManager.default.createDirectory(at: logs, withIntermediateDirectories: true)
        let line = "--- \(Date()) \(outcome.summary), \(outcome.durationMilliseconds) ms\n"
        let path = logs.appendingPathComponent("\(agent).log").path
        if !FileManager.default.fileExists(atPath: path) { FileManager.default.createFile(atPath: path, contents: nil) }
        if let handle = FileHandle(forWritingAtPath: path) {
            handle.seekToEndOfFile()
            handle.write(Data(line.utf8) + outcome.stderr)
            handle.closeFile()
        }
    }
}

struct CommandSpecError: Error, CustomStringConvertible {
    let description: String
}
