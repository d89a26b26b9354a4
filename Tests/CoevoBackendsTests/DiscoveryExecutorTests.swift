import CoevoBackends
import CoevoCore
import Foundation
import Glibc
import Synchronization
import Testing

/// Discovery steps and grades as a worker runs them: real git, real subprocesses, two
/// workers' caches. Bad input tried: a chain that lacks the commit it names, a checkout of
/// an attempt whose commit the step did not bring, a grade
/// command the worker does not allow, an agent's user reading a running grader's files, a
/// candidate that tries to read them, to write its own tree and to leave a process behind,
/// one that hangs.
@Suite struct DiscoveryExecutorTests {
    static let seed = [DiscoveryFile(path: "solution.py", data: Data("# EVOLVE-BLOCK-START\nX = 0.5000\n# EVOLVE-BLOCK-END\n".utf8)),
                       DiscoveryFile(path: "TASK.md", data: Data("Make X big.\n".utf8))]
    static let policy = WorkerPolicy(commands: ["sh"])

    static func root(_ name: String) -> URL {
        FileManager.default.temporaryDirectory.appendingPathComponent("coevo-discovery-\(name)-\(UUID().uuidString.prefix(8))")
    }

    static func step(key: String, agent: String = "a0", chain: CommitChain, seed: UInt64 = 4) -> Data {
        var group = DiscoverySettings.AgentGroup()
        group.files = ["solution.py"]
        return try! JSONEncoder().encode(DiscoveryStepJob(
            key: key, run: "run-1", agent: agent, launch: AgentLaunch(group: group, seed: 1), prompt: "go", chain: chain, shared: SharedView(),
            evolve: EvolveMutation(files: ["solution.py"], seed: seed, scale: 0.1), timeoutMilliseconds: 30_000, stallMilliseconds: 0))
    }

    static func grade(key: String, chain: CommitChain, script: String, userID: UInt32? = nil, candidate: CandidateRun? = nil) -> Data {
        try! JSONEncoder().encode(DiscoveryGradeJob(
            key: key, run: "run-1", chain: chain, command: ["sh", "grade.sh"],
            graderFiles: [DiscoveryFile(path: "grade.sh", data: Data(script.utf8)), DiscoveryFile(path: "secret.txt", data: Data("hidden\n".utf8)),
                          DiscoveryFile(path: "input.txt", data: Data("instance 7\n".utf8))],
            timeoutMilliseconds: 10_000, userID: userID, candidate: candidate))
    }

    /// The step ends the moment `submitted.json` exists (the runner polls for it), so the
    /// file must never exist half-written: a reader that caught it empty lost the step's
    /// submission. A watcher thread reads the file whenever it sees it while submissions
    /// are made in a loop; every read must decode.
    @Test func aSubmissionIsNeverSeenHalfWritten() async throws {
        // A real workspace: the one an evolve step leaves, with its step file and base.
        let root = Self.root("submit")
        defer { try? FileManager.default.removeItem(at: root) }
        let outcome = await DiscoveryStepExecutor(root: root, policy: Self.policy)
            .run(payload: Self.step(key: "r1.step.a0", chain: CommitChain(seedFiles: Self.seed, bundles: [], commit: nil)))
        #expect(outcome.status == .succeeded, "\(outcome.error)")
        let workspace = DiscoveryWorkspace(root: GitCache(root: root, run: "run-1").directory.appendingPathComponent("agents/a0"))
        try FileManager.default.removeItem(at: workspace.submittedFile)
        let file = workspace.submittedFile.path
        let done = Atomic(false), seen = Atomic(0), torn = Atomic(0)
        let watcher = Thread {
            while !done.load(ordering: .relaxed) {
                guard access(file, F_OK) == 0, let data = FileManager.default.contents(atPath: file) else { continue }
                seen.add(1, ordering: .relaxed)
                if (try? JSONDecoder().decode(DiscoveryWorkspace.Submission.self, from: data)) == nil { torn.add(1, ordering: .relaxed) }
            }
        }
        watcher.start()
        for n in 1...100 {
            try Data("X = \(n)\n".utf8).write(to: workspace.root.appendingPathComponent("solution.py"))
            try workspace.submit(message: "n \(n)")
            try FileManager.default.removeItem(atPath: file)
        }
        done.store(true, ordering: .relaxed)
        #expect(seen.load(ordering: .relaxed) > 0, "the watcher saw no submission at all")
        #expect(torn.load(ordering: .relaxed) == 0, "\(torn.load(ordering: .relaxed)) of \(seen.load(ordering: .relaxed)) reads found submitted.json half-written")
    }

    /// Bad input: a grader that crashes quoting what it was given (a traceback with the
    /// hidden input), one that prints no score line but the candidate's output, and one
    /// that splits what agents see from what only the run's owner sees.
    @Test func agentsSeeAGradersFeedbackAndOnlyItsOwnerSeesTheRest() {
        func grade(_ script: String) -> DiscoveryGradeOutput {
            DiscoveryGradeExecutor.verdict(CommandRunner.runBlocking(CommandSpec(arguments: ["/bin/sh", "-c", script], workingDirectory: "/"), input: Data()))
        }
        let crashed = grade("echo 'ValueError: invalid literal: hidden-42' >&2; exit 3")
        #expect(crashed.failure == .crashed && crashed.feedback == "grader exit code 3" && crashed.detail?.contains("hidden-42") == true, "\(crashed)")
        let silent = grade("echo 'candidate said hidden-42'")
        #expect(silent.failure == .crashed && !silent.feedback.contains("hidden-42") && silent.detail?.contains("hidden-42") == true, "\(silent)")
        let split = grade(#"echo '{"score": 2.5, "feedback": "close", "detail": "expected hidden-42"}'"#)
        #expect(split.score == 2.5 && split.feedback == "close" && split.detail == "expected hidden-42" && split.failure == nil, "\(split)")
    }

    @Test func aCommitMadeOnOneWorkerIsRebuiltAndGradedOnAnother() async throws {
        let first = Self.root("w0"), second = Self.root("w1")
        let stepOutcome = await DiscoveryStepExecutor(root: first, policy: Self.policy)
            .run(payload: Self.step(key: "r1.step.a0", chain: CommitChain(seedFiles: Self.seed, bundles: [], commit: nil)))
        #expect(stepOutcome.status == .succeeded, "\(stepOutcome.error)")
        let output = try JSONDecoder().decode(DiscoveryStepOutput.self, from: stepOutcome.output)
        let commit = try #require(output.commit)
        let bundle = try #require(output.bundle)
        let mutated = try String(contentsOf: first.appendingPathComponent("discovery/run-1/agents/a0/solution.py"), encoding: .utf8)
        #expect(mutated != String(decoding: Self.seed[0].data, as: UTF8.self))

        // The second worker has never seen this run: the seed files and the bundle rebuild the commit.
        let script = #"printf '{"score": %s, "feedback": "read %s"}\n' "$(sed -n 's/^X = //p' "$COEVO_CANDIDATE/solution.py")" "$(cat secret.txt)""#
        let chain = CommitChain(seedFiles: Self.seed, bundles: [bundle], commit: commit)
        let gradeOutcome = await DiscoveryGradeExecutor(root: second, policy: Self.policy).run(payload: Self.grade(key: "r1.grade.a0", chain: chain, script: script))
        let verdict = try JSONDecoder().decode(DiscoveryGradeOutput.self, from: gradeOutcome.output)
        let expected = try #require(mutated.split(separator: "\n").first { $0.hasPrefix("X = ") }.map { Double($0.dropFirst(4))! })
        #expect(verdict.score == expected && verdict.failure == nil && verdict.feedback == "read hidden")
        // Nothing of the grade is left behind.
        #expect(((try? FileManager.default.contentsOfDirectory(atPath: second.appendingPathComponent("discovery/run-1/grades").path)) ?? []).isEmpty)

        // The next step on the second worker starts from that commit and goes on.
        let next = await DiscoveryStepExecutor(root: second, policy: Self.policy)
            .run(payload: Self.step(key: "r2.step.a0", chain: chain, seed: 5))
        let nextOutput = try JSONDecoder().decode(DiscoveryStepOutput.self, from: next.output)
        #expect(nextOutput.parent == commit && nextOutput.commit != nil && nextOutput.commit != commit)

        // An agent on a worker that never saw the commit can still start over from it when
        // its view lists the attempt: the step brings the commit. Without it, it cannot.
        let attempt = Attempt(key: "r1.step.a0", round: 1, agent: "a0", commit: commit, parent: nil, score: 0.5, status: .baseline,
                              poolBest: true, feedback: "", message: "")
        for (name, viewed) in [("w4", [CommittedBundle(commit: commit, bundle: bundle)]), ("w5", [])] {
            let root = Self.root(name)
            var job = try JSONDecoder().decode(DiscoveryStepJob.self, from: Self.step(
                key: "r2.step.a1", agent: "a1", chain: CommitChain(seedFiles: Self.seed, bundles: [], commit: nil)))
            job.shared = SharedView(attempts: [attempt])
            job.viewed = viewed
            let stepped = await DiscoveryStepExecutor(root: root, policy: Self.policy).run(payload: try JSONEncoder().encode(job))
            #expect(stepped.status == .succeeded, "\(stepped.error)")
            let workspace = DiscoveryWorkspace(root: root.appendingPathComponent("discovery/run-1/agents/a1"))
            if viewed.isEmpty {
                #expect(throws: (any Error).self) { try workspace.checkout(attempt: attempt) }
            } else {
                try workspace.checkout(attempt: attempt)
                #expect(try String(contentsOf: workspace.root.appendingPathComponent("solution.py"), encoding: .utf8) == mutated)
            }
        }

        // A chain without the bundle cannot name that commit on a fresh worker.
        let broken = await DiscoveryGradeExecutor(root: Self.root("w2"), policy: Self.policy)
            .run(payload: Self.grade(key: "r1.grade.a0", chain: CommitChain(seedFiles: Self.seed, bundles: [], commit: commit), script: script))
        #expect(broken.status == .failed && broken.error.contains("not in the bundles"))
        // A grade command the worker does not allow is refused before anything runs.
        let refused = await DiscoveryGradeExecutor(root: Self.root("w3")).run(payload: Self.grade(key: "k", chain: chain, script: script))
        #expect(refused.status == .unsupported && refused.error.contains("--allow-command sh"))
    }

    @Test(.enabled(if: getuid() == 0, "needs root to run as other users"))
    func anAgentsUserCannotReadTheGradersFilesWhileItGrades() async throws {
        let root = Self.root("spy")
        let chain = CommitChain(seedFiles: Self.seed, bundles: [], commit: nil)
        let executor = DiscoveryGradeExecutor(root: root, policy: Self.policy)
        let grading = Task { await executor.run(payload: Self.grade(key: "g", chain: chain, script: "sleep 2; echo '{\"score\": 1}'", userID: 65534)) }
        let secret = root.appendingPathComponent("discovery/run-1/grades/g/grader/secret.txt").path
        var appeared = false
        for _ in 0..<200 where !appeared {
            appeared = FileManager.default.fileExists(atPath: secret)
            if !appeared { try await Task.sleep(for: .milliseconds(10)) }
        }
        #expect(appeared)
        // What an agent running as its own user (agent_user) sees while the grade runs.
        var spy = CommandSpec(arguments: ["cat", secret], workingDirectory: "/")
        spy.userID = 65533
        let attempt = await CommandRunner.run(spy)
        #expect(attempt.exitCode != 0 && String(decoding: attempt.stderr, as: UTF8.self).contains("Permission denied"))
        #expect(attempt.stdout.isEmpty)
        let verdict = try JSONDecoder().decode(DiscoveryGradeOutput.self, from: await grading.value.output)
        #expect(verdict.score == 1)
    }

    /// `task.candidate_command`: the candidate's code runs before the grader's files are on
    /// the worker, in a sandbox of its own as the candidates' user, with its input on stdin;
    /// its tree is read-only, and a process it leaves behind (in a session of its own, so a
    /// group kill would miss it) ends with its sandbox. A candidate that hangs is killed and
    /// the grader still runs, told how it ended.
    @Test(.enabled(if: getuid() == 0 && Confinement.detected.bubblewrap != nil, "needs root and bubblewrap"))
    func aCandidateRunsApartFromTheGradersFiles() async throws {
        let root = Self.root("candidate")
        defer { try? FileManager.default.removeItem(at: root) }
        let chain = CommitChain(seedFiles: Self.seed, bundles: [], commit: nil)
        let executor = DiscoveryGradeExecutor(root: root, policy: WorkerPolicy(commands: ["sh"]))
        let candidateUser = try #require(Confinement.detected.users?.candidate)
        let hostile = """
            echo "uid $(id -u)"
            cat ../grader/secret.txt 2>/dev/null || echo "no grader file"
            read -r line; echo "read: $line"
            touch written 2>/dev/null && echo "wrote its tree" || echo "read-only tree"
            setsid sh -c 'sleep 60' < /dev/null > /dev/null 2>&1 &
            echo '{"score": 99}'
            """
        let grader = """
            sleep 2
            echo "{\\"score\\": 1, \\"feedback\\": \\"$(tr '\\n' ' ' < "$COEVO_CANDIDATE_STDOUT" | tr -d '\\"')| $COEVO_CANDIDATE_STATUS | exit ${COEVO_CANDIDATE_EXIT:--} | uid $(id -u) read $(cat secret.txt)\\"}"
            """
        let candidate = CandidateRun(command: ["sh", "-c", hostile], input: "input.txt", timeoutMilliseconds: 5000)
        let outcome = await executor.run(payload: Self.grade(key: "g", chain: chain, script: grader, userID: 65534, candidate: candidate))
        let verdict = try JSONDecoder().decode(DiscoveryGradeOutput.self, from: outcome.output)
        #expect(verdict.score == 1, "\(verdict.feedback)")
        // The candidate ran as the candidates' user with its input, found no grader file and
        // could not write its tree, and its own score line reached the grader as data.
        #expect(verdict.feedback.hasPrefix("uid \(candidateUser) no grader file read: instance 7 read-only tree {score: 99} | exit code 0 | exit 0 | uid 65534 read hidden"),
                "\(verdict.feedback)")
        // The process it detached ended with its sandbox: none of the candidates' user is left.
        let left = CommandRunner.runBlocking(CommandSpec(arguments: ["pgrep", "-u", "\(candidateUser)"], workingDirectory: "/"), input: Data())
        #expect(left.exitCode == 1 && left.stdout.isEmpty, "\(String(decoding: left.stdout, as: UTF8.self))")

        let hang = CandidateRun(command: ["sh", "-c", "echo started; sleep 30"], input: nil, timeoutMilliseconds: 300)
        let hung = try JSONDecoder().decode(DiscoveryGradeOutput.self, from: await executor.run(payload: Self.grade(
            key: "h", chain: chain, script: grader.replacingOccurrences(of: "sleep 2", with: ""), userID: 65534, candidate: hang)).output)
        #expect(hung.feedback.hasPrefix("started | killed after its timeout | exit - | uid 65534 read hidden"), "\(hung.feedback)")
        // A candidate command the worker does not allow is refused before anything runs.
        let python = CandidateRun(command: ["python3", "pack.py"], input: nil, timeoutMilliseconds: 5000)
        let refused = await executor.run(payload: Self.grade(key: "r", chain: chain, script: grader, candidate: python))
        #expect(refused.status == .unsupported && refused.error.contains("candidate command"), "\(refused.error)")
    }
}
