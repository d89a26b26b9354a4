import CoevoBackends
import CoevoCore
import Foundation
import Testing

/// Command agents as a worker runs them: real subprocesses in per-agent workspaces. Bad
/// input tried: an agent that prints no JSON, one that crashes three times in a row, a
/// payload that is not a job, a repository that does not exist, a program the worker does
/// not allow, a secret the worker does not give agents.
@Suite struct CommandAgentExecutorTests {
    let root = FileManager.default.temporaryDirectory.appendingPathComponent("coevo-agents-\(UUID().uuidString.prefix(8))")
    /// The programs these tests' agents run, as a worker started with --allow-command each.
    static let policy = WorkerPolicy(commands: ["python3", "echo", "sh", "true"])

    @Test func aProgramTheWorkerDoesNotAllowIsRefusedBeforeAnythingRuns() async throws {
        let executor = CommandAgentExecutor(root: root, policy: Self.policy)
        let marker = root.appendingPathComponent("ran").path
        let outcome = await run(executor, CommandAgentJob(agent: "sneaky", command: ["/usr/bin/touch", marker], input: "{}"))
        #expect(outcome.status == .unsupported && outcome.error.contains("--allow-command /usr/bin/touch"))
        #expect(!FileManager.default.fileExists(atPath: marker))
        let none = CommandAgentExecutor(root: root, policy: WorkerPolicy())
        #expect(await run(none, CommandAgentJob(agent: "a", command: ["true"], input: "{}")).error.contains("not allowed on this worker"))
    }

    /// Bad input: a job naming a variable the worker was not told to give agents.
    @Test func anAgentGetsOnlyTheSecretsItsWorkerAllowsAndTheJobCarriesOnlyTheirNames() async throws {
        var policy = Self.policy
        policy.agentKeys = ["MODEL_KEY"]
        let secrets = ["MODEL_KEY": "sk-live-123", "OTHER_KEY": "sk-other-456"]
        let executor = CommandAgentExecutor(root: root, policy: policy, secrets: secrets)
        let print = ["sh", "-c", "printf '\"%s|%s\"' \"$MODEL_KEY\" \"$OTHER_KEY\""]
        let job = CommandAgentJob(agent: "keyed", command: print, input: "{}", secretNames: ["MODEL_KEY"])
        #expect(!String(decoding: try JSONEncoder().encode(job), as: UTF8.self).contains("sk-live"), "the job holds the name, not the value")
        let outcome = await run(executor, job)
        #expect(outcome.status == .succeeded, "\(outcome.error)")
        #expect(String(decoding: outcome.output, as: UTF8.self) == "\"sk-live-123|\"", "the allowed key and nothing else")
        let greedy = await run(executor, CommandAgentJob(agent: "greedy", command: print, input: "{}", secretNames: ["OTHER_KEY"]))
        #expect(greedy.status == .unsupported && greedy.error.contains("--allow-agent-key OTHER_KEY"), "\(greedy.error)")
        let unset = CommandAgentExecutor(root: root, policy: policy, secrets: [:])
        let missing = await run(unset, job)
        #expect(missing.status == .unsupported && missing.error.contains("not set on this worker"))
    }

    func run(_ executor: CommandAgentExecutor, _ job: CommandAgentJob) async -> JobOutcome {
        await executor.run(payload: try! JSONEncoder().encode(job))
    }

    @Test func eachAgentWorksInItsOwnWorkspaceOverJSON() async throws {
        let executor = CommandAgentExecutor(root: root, policy: Self.policy)
        let script = "import json, os, sys; d = json.load(sys.stdin); open('notes.txt', 'a').write(d['note'] + '\\n'); print(json.dumps({'cwd': os.getcwd(), 'notes': open('notes.txt').read().split()}))"
        for note in ["first", "second"] {
            let outcome = await run(executor, CommandAgentJob(agent: "solver-1", command: ["python3", "-c", script], input: #"{"note": "\#(note)"}"#))
            #expect(outcome.status == .succeeded, "\(outcome.error)")
        }
        let other = await run(executor, CommandAgentJob(agent: "solver-2", command: ["python3", "-c", script], input: #"{"note": "alone"}"#))
        let object = try JSONSerialization.jsonObject(with: other.output) as? [String: Any]
        #expect(object?["cwd"] as? String == root.appendingPathComponent("agents/solver-2").path)
        #expect(object?["notes"] as? [String] == ["alone"])
        let first = try String(contentsOf: root.appendingPathComponent("agents/solver-1/notes.txt"), encoding: .utf8)
        #expect(first == "first\nsecond\n")
        #expect(FileManager.default.fileExists(atPath: root.appendingPathComponent("logs/solver-1.log").path))
    }

    @Test func badOutputsAndCrashesAreRecordedAndThreeCrashesPauseTheAgent() async {
        let executor = CommandAgentExecutor(root: root, policy: Self.policy)
        let chatty = await run(executor, CommandAgentJob(agent: "chatty", command: ["echo", "I think the answer is 4"], input: "{}"))
        #expect(chatty.status == .failed && chatty.error.contains("printed no JSON"), "\(chatty.error)")
        var errors: [String] = []
        for _ in 0..<4 {
            errors.append(await run(executor, CommandAgentJob(agent: "crashy", command: ["sh", "-c", "echo boom >&2; exit 2"], input: "{}")).error)
        }
        #expect(errors[0] == "agent crashy exit code 2: boom\n")
        #expect(errors[2].contains("paused for 5 minutes"))
        #expect(errors[3] == "agent crashy is paused: it crashed 3 times within 30 s")
        let garbage = await executor.run(payload: Data("not json".utf8))
        #expect(garbage.status == .failed && garbage.error.contains("not a CommandAgentJob"))
        let noRepo = await run(executor, CommandAgentJob(agent: "lost", command: ["true"], input: "{}", repository: "/no/such/repo"))
        #expect(noRepo.error.contains("git worktree add failed"))
    }

    @Test func aRepositoryTaskGetsAGitWorktree() async throws {
        let repo = root.appendingPathComponent("repo").path
        try FileManager.default.createDirectory(atPath: repo, withIntermediateDirectories: true)
        try "print('hello')\n".write(toFile: repo + "/main.py", atomically: true, encoding: .utf8)
        for args in [["init", "-q"], ["-c", "user.email=t@t", "-c", "user.name=t", "add", "."],
                     ["-c", "user.email=t@t", "-c", "user.name=t", "commit", "-qm", "start"]] {
            let git = Process()
            git.executableURL = URL(fileURLWithPath: "/usr/bin/env")
            git.arguments = ["git", "-C", repo] + args
            try git.run()
            git.waitUntilExit()
        }
        let executor = CommandAgentExecutor(root: root.appendingPathComponent("worker"), policy: Self.policy)
        let outcome = await run(executor, CommandAgentJob(
            agent: "coder", command: ["sh", "-c", "cat main.py >/dev/null && git rev-parse --is-inside-work-tree | sed 's/.*/\"&\"/'"],
            input: "{}", repository: repo))
        #expect(outcome.status == .succeeded, "\(outcome.error)")
        #expect(String(decoding: outcome.output, as: UTF8.self) == "\"true\"\n")
    }
}
