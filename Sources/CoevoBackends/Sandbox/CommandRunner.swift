import CSpawn
import Foundation
import Glibc
import Synchronization

/// How to run a command: a discovery agent, a candidate, a grader, git.
public struct CommandSpec: Hashable, Sendable {
    public var arguments: [String]
    public var workingDirectory: String
    public var timeoutMilliseconds: Int = 60_000
    /// Killed when it writes nothing (stdout or stderr) for this long; 0: no watchdog.
    public var stallMilliseconds: Int = 0
    /// Stdout kept; past it the rest is read and dropped and `outputTruncated` is set.
    public var maxOutputBytes: Int = 1 << 20
    public var cpuSeconds: Int?
    public var memoryBytes: Int?
    public var openFiles: Int?
    /// The largest file it may write (RLIMIT_FSIZE): a write past it fails and the writer
    /// gets SIGXFSZ, so a runaway agent or candidate cannot fill the worker's disk.
    public var fileBytes: Int?
    /// The most processes its real user may have (RLIMIT_NPROC, counted over the whole
    /// user, so meaningful only for a user of its own).
    public var processes: Int?
    /// The whole environment the command sees (nothing is inherited but PATH).
    public var environment: [String: String] = [:]
    /// Run as this user id (needs root); how an agent is kept out of grader-private files.
    public var userID: UInt32?
    /// Ended (its group killed) once this file exists: how a discovery agent's step ends
    /// when it submits, while the agent would go on.
    public var stopFile: String?
    /// `cgroup.procs` files the command joins before it starts (`StepCgroup.procs`), so
    /// it and everything it starts are held to that group's limits.
    public var cgroups: [String] = []

    public init(arguments: [String], workingDirectory: String) {
        self.arguments = arguments
        self.workingDirectory = workingDirectory
    }
}

public struct CommandOutcome: Hashable, Sendable {
    public var exitCode: Int32?
    public var signal: Int32?
    public var stdout: Data
    /// The last 64 KiB of stderr.
    public var stderr: Data
    public var timedOut: Bool
    public var stalled: Bool
    public var outputTruncated: Bool
    public var durationMilliseconds: Int
    /// The task that ran it was cancelled (a CANCEL, a job timeout): the group was killed.
    public var cancelled = false
    /// It was ended because its `stopFile` appeared.
    public var stoppedByFile = false
    /// Why its `Watch` ended it (a quota it went past).
    public var overLimit: String?

    public var succeeded: Bool { exitCode == 0 && !timedOut && !stalled && !cancelled && overLimit == nil }

    /// One line for logs and results.
    public var summary: String {
        if stoppedByFile { return "ended: it submitted" }
        if let overLimit { return "killed: \(overLimit)" }
        if cancelled { return "killed: its job was cancelled" }
        if timedOut { return "killed after its timeout" }
        if stalled { return "killed by the stall watchdog (no output)" }
        if let signal { return "killed by signal \(signal)" }
        return "exit code \(exitCode ?? -1)" + (outputTruncated ? ", output truncated" : "")
    }
}

/// Runs a command in its own process group, with rlimits, a scrubbed environment, a
/// timeout and a stall watchdog; the whole group is killed when the command ends or is
/// stopped, so no child it forked outlives it. Blocking work happens on a thread of its
/// own, never on the cooperative pool.
public enum CommandRunner {
    /// Asked about once a second while a command runs: a reason to end it (a quota it
    /// went past), or nil to let it go on. Runs on the command's own thread.
    public typealias Watch = @Sendable () -> String?

    /// A command that exits without reading its stdin makes our write fail with SIGPIPE,
    /// whose default action kills this whole process (a worker, with every job on it):
    /// ignore it once, and let the write report EPIPE instead.
    private static let ignoreBrokenPipes: Void = { signal(SIGPIPE, SIG_IGN) }()

    /// Runs the command; cancelling the calling task kills its whole process group
    /// within one poll interval (50 ms), so a cancelled agent stops working and costing.
    public static func run(_ spec: CommandSpec, input: Data = Data(), watch: Watch? = nil) async -> CommandOutcome {
        _ = ignoreBrokenPipes
        let stop = StopFlag()
        return await withTaskCancellationHandler {
            await withCheckedContinuation { continuation in
                let thread = Thread { continuation.resume(returning: runBlocking(spec, input: input, stop: stop, watch: watch)) }
                thread.name = "coevo-command"
                thread.start()
            }
        } onCancel: {
            stop.raise()
        }
    }

    /// Set from any thread to stop a running command.
    public final class StopFlag: Sendable {
        private let raised = Atomic<Bool>(false)
        public init() {}
        public func raise() { raised.store(true, ordering: .relaxed) }
        public var isRaised: Bool { raised.load(ordering: .relaxed) }
    }

    public static func runBlocking(_ spec: CommandSpec, input: Data, stop: StopFlag = StopFlag(), watch: Watch? = nil) -> CommandOutcome {
        _ = ignoreBrokenPipes
        let started = Date()
        func failed(_ why: String) -> CommandOutcome {
            CommandOutcome(exitCode: 127, signal: nil, stdout: Data(), stderr: Data(why.utf8), timedOut: false, stalled: false,
                           outputTruncated: false, durationMilliseconds: 0)
        }
        var stdinPipe: [Int32] = [0, 0], stdoutPipe: [Int32] = [0, 0], stderrPipe: [Int32] = [0, 0]
        guard pipe(&stdinPipe) == 0, pipe(&stdoutPipe) == 0, pipe(&stderrPipe) == 0 else { return failed("pipe failed") }

        // Limits are set by a tiny shell that then execs the command; privileges are dropped
        // by setpriv (util-linux) when a user id is asked for. It joins its cgroups first,
        // while it is still the worker's, so nothing of the command ever runs outside them.
        var limits = spec.cgroups.map { "echo $$ > \(Self.quoted($0)) || exit 125" }
        if let cpu = spec.cpuSeconds { limits.append("ulimit -t \(cpu)") }
        if let memory = spec.memoryBytes { limits.append("ulimit -v \(max(1, memory / 1024))") }
        if let files = spec.openFiles { limits.append("ulimit -n \(files)") }
        if let bytes = spec.fileBytes { limits.append("ulimit -f \(max(1, bytes / 512))") }  // dash counts 512-byte blocks
        if let processes = spec.processes { limits.append("ulimit -p \(processes)") }
        // In `sh -c SCRIPT A B...`, $0 is A: the working directory here.
        let script = (["cd -- \"$0\" || exit 126"] + limits + ["exec \"$@\""]).joined(separator: "; ")
        var argv = ["/bin/sh", "-c", script, spec.workingDirectory]
        if let uid = spec.userID {
            argv += ["setpriv", "--reuid=\(uid)", "--regid=\(uid)", "--clear-groups", "--"]
        }
        argv += spec.arguments
        var environment = spec.environment
        environment["PATH"] = environment["PATH"] ?? "/usr/local/bin:/usr/bin:/bin"

        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_adddup2(&actions, stdinPipe[0], 0)
        posix_spawn_file_actions_adddup2(&actions, stdoutPipe[1], 1)
        posix_spawn_file_actions_adddup2(&actions, stderrPipe[1], 2)
        // Nothing else of this process reaches the child: not the worker's sockets and
        // files, and not the pipes of a command another thread is starting at this moment
        // (commands start on several threads at once, one per agent step). A child that
        // inherited the write end of another command's output pipe kept it open until the
        // child exited: a 1-second git call in one agent's step waited out a concurrent
        // agent's whole run.
        posix_spawn_file_actions_addclosefrom_np(&actions, 3)

        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        // Own process group (so the group can be killed whole), default signal handling
        // (a parent's ignored SIGTERM must not leak in), nothing blocked.
        var defaults = sigset_t()
        sigfillset(&defaults)
        var empty = sigset_t()
        sigemptyset(&empty)
        posix_spawnattr_setsigdefault(&attributes, &defaults)
        posix_spawnattr_setsigmask(&attributes, &empty)
        posix_spawnattr_setpgroup(&attributes, 0)
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK))

        let cArgs = argv.map { strdup($0) } + [nil]
        let cEnv = environment.map { strdup("\($0.key)=\($0.value)") } + [nil]
        defer { cArgs.forEach { free($0) }; cEnv.forEach { free($0) } }
        var pid: pid_t = 0
        let rc = posix_spawn(&pid, "/bin/sh", &actions, &attributes, cArgs, cEnv)
        close(stdinPipe[0]); close(stdoutPipe[1]); close(stderrPipe[1])
        guard rc == 0 else {
            close(stdinPipe[1]); close(stdoutPipe[0]); close(stderrPipe[0])
            return failed("cannot start \(spec.arguments.first ?? "?"): \(String(cString: strerror(rc)))")
        }

        var stdout = Data(), stderr = Data()
        var truncated = false, timedOut = false, stalled = false, cancelled = false, stoppedByFile = false
        var overLimit: String?
        let deadline = Date(timeIntervalSinceNow: Double(spec.timeoutMilliseconds) / 1000)
        var lastOutput = Date(), lastWatched = Date()
        var pendingInput = input
        var writing = !pendingInput.isEmpty
        if !writing { close(stdinPipe[1]) }
        for fd in [stdinPipe[1], stdoutPipe[0], stderrPipe[0]] { _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK) }
        var open = (out: true, err: true)
        var buffer = [UInt8](repeating: 0, count: 65536)
        while open.out || open.err {
            let now = Date()
            if stop.isRaised { cancelled = true; break }
            if let file = spec.stopFile, access(file, F_OK) == 0 { stoppedByFile = true; break }
            if now >= deadline { timedOut = true; break }
            if spec.stallMilliseconds > 0, now.timeIntervalSince(lastOutput) * 1000 >= Double(spec.stallMilliseconds) { stalled = true; break }
            if let watch, now.timeIntervalSince(lastWatched) >= 1 {
                lastWatched = now
                if let reason = watch() { overLimit = reason; break }
            }
            var fds = [pollfd(fd: open.out ? stdoutPipe[0] : -1, events: Int16(POLLIN), revents: 0),
                       pollfd(fd: open.err ? stderrPipe[0] : -1, events: Int16(POLLIN), revents: 0),
                       pollfd(fd: writing ? stdinPipe[1] : -1, events: Int16(POLLOUT), revents: 0)]
            _ = poll(&fds, 3, 50)
            if writing && fds[2].revents != 0 {
                let written = pendingInput.withUnsafeBytes { write(stdinPipe[1], $0.baseAddress, $0.count) }
                let failure = written < 0 ? errno : 0
                if written > 0 { pendingInput.removeFirst(written) }
                // A signal (another agent's SIGCHLD) or a full pipe is no reason to stop
                // writing: closing then hands the agent a truncated prompt.
                let retry = failure == EINTR || failure == EAGAIN
                if (written < 0 && !retry) || pendingInput.isEmpty { close(stdinPipe[1]); writing = false }
            }
            for (index, isOut) in [(0, true), (1, false)] where fds[index].revents != 0 {
                let n = read(fds[index].fd, &buffer, buffer.count)
                if n <= 0 {
                    if isOut { open.out = false } else { open.err = false }
                    continue
                }
                lastOutput = Date()
                if isOut {
                    let room = max(0, spec.maxOutputBytes - stdout.count)
                    stdout.append(contentsOf: buffer[0..<min(n, room)])
                    if n > room { truncated = true }
                } else {
                    stderr.append(contentsOf: buffer[0..<n])
                    if stderr.count > 65536 { stderr = stderr.suffix(65536) }
                }
            }
        }
        if writing { close(stdinPipe[1]) }
        // Output closed: give the command until its deadline to exit on its own (closing
        // its output is not yet exiting), unless it was already stopped.
        var status: Int32 = 0
        var reaped = false
        while !timedOut && !stalled && !cancelled && !stoppedByFile && overLimit == nil && !reaped {
            reaped = waitpid(pid, &status, WNOHANG) == pid
            if reaped { break }
            if stop.isRaised { cancelled = true; break }
            if let watch, Date().timeIntervalSince(lastWatched) >= 1 {
                lastWatched = Date()
                if let reason = watch() { overLimit = reason; break }
            }
            if Date() >= deadline { timedOut = true; break }
            usleep(2_000)
        }
        // Whatever happened, nothing of the group survives: not the command, not a child
        // it forked and left running.
        kill(-pid, SIGKILL)
        if !reaped { while waitpid(pid, &status, 0) < 0 && errno == EINTR {} }
        close(stdoutPipe[0]); close(stderrPipe[0])
        let exited = (status & 0x7f) == 0
        return CommandOutcome(
            exitCode: exited ? (status >> 8) & 0xff : nil,
            signal: exited ? nil : status & 0x7f,
            stdout: stdout, stderr: stderr, timedOut: timedOut, stalled: stalled, outputTruncated: truncated,
            durationMilliseconds: Int(Date().timeIntervalSince(started) * 1000), cancelled: cancelled, stoppedByFile: stoppedByFile,
            overLimit: overLimit)
    }

    /// `text` as one word for `/bin/sh`.
    static func quoted(_ text: String) -> String {
        "'" + text.replacingOccurrences(of: "'", with: "'\\''") + "'"
    }
}
