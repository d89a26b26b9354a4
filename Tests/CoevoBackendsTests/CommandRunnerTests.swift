import CoevoBackends
import Foundation
import Testing

/// Real subprocesses. Bad input tried: a command that hangs, one that forks children and
/// hangs (stopped by its timeout, and by cancelling the task), one that leaves a child behind and exits, one that floods stdout, one that exits
/// non-zero, one that goes silent, one that reads a grader-private file, secrets in the
/// parent's environment, and a descriptor of the parent left open without close-on-exec.
@Suite struct CommandRunnerTests {
    let workspace: String = {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("coevo-cmd-\(UUID().uuidString.prefix(8))").path
        try? FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        return dir
    }()

    func spec(_ arguments: String...) -> CommandSpec { CommandSpec(arguments: arguments, workingDirectory: workspace) }

    /// Processes whose command line contains `marker`.
    func survivors(_ marker: String) -> [String] {
        let pgrep = Process()
        pgrep.executableURL = URL(fileURLWithPath: "/usr/bin/pgrep")
        pgrep.arguments = ["-f", marker]
        let pipe = Pipe()
        pgrep.standardOutput = pipe
        try? pgrep.run()
        pgrep.waitUntilExit()
        return String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self).split(separator: "\n").map(String.init)
    }

    @Test func jsonGoesInAndComesOut() async throws {
        let outcome = await CommandRunner.run(
            spec("python3", "-c", "import sys, json; d = json.load(sys.stdin); print(json.dumps({'answer': d['x'] * 2}))"),
            input: Data(#"{"x": 21}"#.utf8))
        #expect(outcome.succeeded, "\(outcome.summary): \(String(decoding: outcome.stderr, as: UTF8.self))")
        let object = try JSONSerialization.jsonObject(with: outcome.stdout) as? [String: Int]
        #expect(object == ["answer": 42])
    }

    /// A command gets its three pipes and nothing else of the worker. The open pipe stands
    /// for one another step's command is being started with at this moment: inherited,
    /// its write end kept that command's output open (and its runner waiting) until this
    /// child exited.
    @Test func aChildInheritsNoOtherDescriptorOfTheWorker() async throws {
        var fds: [Int32] = [0, 0]
        try #require(pipe(&fds) == 0)
        defer { close(fds[0]); close(fds[1]) }
        let outcome = await CommandRunner.run(spec("sh", "-c", "ls /proc/$$/fd | sort -n | tr '\\n' ' '"))
        #expect(outcome.succeeded)
        let open = String(decoding: outcome.stdout, as: UTF8.self).split(separator: " ").compactMap { Int32($0) }
        #expect(!open.contains(fds[0]) && !open.contains(fds[1]), "the child holds \(open); the test's pipe is \(fds)")
        #expect(open.starts(with: [0, 1, 2]), "\(open)")
    }

    @Test func aHangingCommandAndEveryChildItForkedDieAtTheTimeout() async {
        var hang = spec("sh", "-c", "sleep 61.4242 & sleep 61.4242 & echo started; wait")
        hang.timeoutMilliseconds = 400
        let outcome = await CommandRunner.run(hang)
        #expect(outcome.timedOut && outcome.signal == SIGKILL)
        // Far below the children's 61 s, yet far above a poll interval: a loaded CI
        // machine took 2.3 s to notice a cancel, so a tight bound only measures the load.
        #expect(outcome.durationMilliseconds < 30_000)
        #expect(String(decoding: outcome.stdout, as: UTF8.self) == "started\n")
        #expect(survivors("61.4242").isEmpty)
    }

    @Test func cancellingTheTaskKillsTheCommandAndItsChildrenBeforeItsTimeout() async {
        var hang = spec("sh", "-c", "sleep 63.4242 & sleep 63.4242 & echo started; wait")
        hang.timeoutMilliseconds = 60_000
        let task = Task { await CommandRunner.run(hang) }
        try? await Task.sleep(for: .milliseconds(300))
        let clock = ContinuousClock()
        let cancelled = clock.now
        task.cancel()
        let outcome = await task.value
        #expect(outcome.cancelled && !outcome.timedOut && !outcome.succeeded)
        // Measured from the cancel, not from the start: a loaded machine may start the
        // command late. Without cancellation it would run to its 60 s timeout; the bound is
        // half of that, not a poll interval, because a loaded CI machine took 2.3 s.
        #expect(clock.now - cancelled < .seconds(30), "stopped by the cancel, not at the 60 s timeout")
        #expect(outcome.summary.contains("cancelled"))
        #expect(survivors("63.4242").isEmpty)
    }

    @Test func aChildLeftBehindByAnExitedCommandIsKilledToo() async {
        let outcome = await CommandRunner.run(spec("sh", "-c", "(sleep 62.4242 >/dev/null 2>&1 &); echo done"))
        #expect(outcome.exitCode == 0)
        #expect(survivors("62.4242").isEmpty)
    }

    @Test func floodsAreCappedSilenceIsCaughtFailuresAreReported() async {
        var flood = spec("yes")
        flood.maxOutputBytes = 1000
        flood.timeoutMilliseconds = 300
        let flooded = await CommandRunner.run(flood)
        #expect(flooded.stdout.count == 1000 && flooded.outputTruncated && flooded.timedOut)

        var quiet = spec("sh", "-c", "echo hi; sleep 60")
        quiet.stallMilliseconds = 300
        quiet.timeoutMilliseconds = 30_000
        let stalled = await CommandRunner.run(quiet)
        // Ended by the stall watchdog: not timed out, and long before the sleep would end.
        #expect(stalled.stalled && !stalled.timedOut && stalled.durationMilliseconds < 30_000)

        let failing = await CommandRunner.run(spec("sh", "-c", "echo oops >&2; exit 3"))
        #expect(failing.exitCode == 3 && !failing.succeeded)
        #expect(String(decoding: failing.stderr, as: UTF8.self) == "oops\n")
        #expect(failing.summary == "exit code 3")

        let missing = await CommandRunner.run(spec("/no/such/agent"))
        #expect(missing.exitCode == 127)
    }

    @Test func theEnvironmentIsScrubbedAndLimitsApply() async {
        // The parent's HOME stands in for any secret in its environment (setenv in a test
        // would race with other threads reading the environment).
        let home = ProcessInfo.processInfo.environment["HOME"] ?? "/root"
        var env = spec("sh", "-c", "env; ulimit -n")
        env.environment = ["AGENT_ROLE": "solver"]
        env.openFiles = 17
        let outcome = await CommandRunner.run(env)
        let text = String(decoding: outcome.stdout, as: UTF8.self)
        #expect(!text.contains("HOME=\(home)"))
        #expect(text.contains("AGENT_ROLE=solver"))
        #expect(text.hasSuffix("17\n"))

        // A command that writes past its file size limit is stopped at the limit.
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("coevo-fsize-\(UUID().uuidString.prefix(8))")
        defer { try? FileManager.default.removeItem(at: file) }
        var big = spec("sh", "-c", "head -c 100000 /dev/zero > \(file.path)")
        big.fileBytes = 8192
        let stopped = await CommandRunner.run(big)
        #expect(!stopped.succeeded)
        #expect((try? FileManager.default.attributesOfItem(atPath: file.path)[.size] as? Int) == 8192)
    }

    @Test(.enabled(if: getuid() == 0, "dropping to another user needs root"))
    func anAgentRunAsAnotherUserCannotReadGraderPrivateFiles() async throws {
        let graderDir = workspace + "/grader-private"
        try FileManager.default.createDirectory(atPath: graderDir, withIntermediateDirectories: true,
                                                attributes: [.posixPermissions: 0o700])
        try "the answer key".write(toFile: graderDir + "/key.txt", atomically: true, encoding: .utf8)
        try FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: workspace)
        var agent = spec("cat", "grader-private/key.txt")
        agent.userID = 65534  // nobody
        let denied = await CommandRunner.run(agent)
        #expect(!denied.succeeded)
        #expect(String(decoding: denied.stderr, as: UTF8.self).contains("Permission denied"))
        let grader = await CommandRunner.run(spec("cat", "grader-private/key.txt"))  // the grader's own process
        #expect(String(decoding: grader.stdout, as: UTF8.self) == "the answer key")
    }
}

extension CommandRunnerTests {
    /// A large input to a command that never reads it: the write fails (EPIPE) instead of
    /// killing the caller with SIGPIPE.
    @Test func aCommandThatIgnoresItsInputDoesNotKillTheCaller() async {
        for _ in 0..<20 {
            let outcome = await CommandRunner.run(spec("sh", "-c", "exit 0"), input: Data(count: 1 << 20))
            #expect(outcome.exitCode == 0)
        }
    }
}
