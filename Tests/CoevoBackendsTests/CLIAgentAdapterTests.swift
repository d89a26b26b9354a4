import CoevoBackends
import CoevoCore
import Foundation
import Testing

/// The CLI coding agents' adapters: the command lines they run (fresh and resumed), what
/// their documented output reports, and how a worker decides to resume. This suite drives
/// the adapter with a stand-in `claude` script that prints claude-code's documented
/// stream-json lines, so what is tested is coevo's side (the command line, the session kept
/// per worker, the resumed preface) in seconds; DiscoveryRunTests runs the real Claude
/// Code, codex and aider. opencode is checked against its documented formats only.
/// Bad input tried: output lines that are not JSON, a session held by another worker.
@Suite struct CLIAgentAdapterTests {
    static func launch(_ runtime: DiscoverySettings.Runtime, model: String? = "m1") -> AgentLaunch {
        var group = DiscoverySettings.AgentGroup()
        group.runtime = runtime
        group.model = model
        group.maxTurns = 7
        return AgentLaunch(group: group, seed: 3)
    }

    @Test func commandLinesFollowEachToolsDocumentedFlags() {
        func argv(_ runtime: DiscoverySettings.Runtime, _ session: String?) -> [String] {
            Self.launch(runtime).command(prompt: "P", home: "/h", resume: session).argv
        }
        #expect(argv(.claudeCode, nil) == ["claude", "-p", "P", "--output-format", "stream-json", "--verbose",
                                           "--dangerously-skip-permissions", "--max-turns", "7", "--model", "m1"])
        #expect(argv(.claudeCode, "S") == argv(.claudeCode, nil) + ["--resume", "S"])
        #expect(argv(.codex, nil) == ["codex", "exec", "--json", "--skip-git-repo-check", "--sandbox", "workspace-write", "-m", "m1", "P"])
        #expect(argv(.codex, "T") == ["codex", "exec", "--json", "--skip-git-repo-check", "--sandbox", "workspace-write", "-m", "m1",
                                      "resume", "T", "P"])
        #expect(argv(.opencode, nil) == ["opencode", "run", "--format", "json", "--model", "m1", "P"])
        #expect(argv(.opencode, "ses_1") == ["opencode", "run", "--format", "json", "--model", "m1", "--session", "ses_1", "P"])
        #expect(argv(.aider, nil) == ["aider", "--message", "P", "--yes-always", "--no-auto-commits", "--no-check-update",
                                      "--no-gitignore", "--no-analytics", "--chat-history-file", "/h/.aider.chat.history.md",
                                      "--input-history-file", "/h/.aider.input.history", "--model", "m1"])
        // aider on an endpoint of the config: litellm's OpenAI client at its URL.
        var onEndpoint = DiscoverySettings.AgentGroup()
        onEndpoint.runtime = .aider
        onEndpoint.endpoint = "local"
        onEndpoint.resolvedEndpoint = LLMJob.Endpoint(name: "local", url: "http://127.0.0.1:8081", model: "smollm2")
        let served = AgentLaunch(group: onEndpoint, seed: 3).command(prompt: "P", home: "/h", resume: nil)
        #expect(Array(served.argv.suffix(5)) == ["--model", "openai/smollm2", "--openai-api-base", "http://127.0.0.1:8081/v1",
                                                 "--no-show-model-warnings"])
        #expect(served.environment["OPENAI_API_KEY"] == "none")
        #expect(argv(.aider, "aider-chat-history").last == "--restore-chat-history")
        // claude-code on an endpoint of the config: Anthropic's API at its URL, the model it
        // serves, and the key's variable Claude Code reads.
        onEndpoint.runtime = .claudeCode
        onEndpoint.resolvedEndpoint?.api = "anthropic"
        let gateway = AgentLaunch(group: onEndpoint, seed: 3)
        let claude = gateway.command(prompt: "P", home: "/h", resume: "S")
        #expect(Array(claude.argv.suffix(4)) == ["--model", "smollm2", "--resume", "S"])
        #expect(claude.environment["ANTHROPIC_BASE_URL"] == "http://127.0.0.1:8081" && claude.environment["ANTHROPIC_API_KEY"] == "none")
        #expect(gateway.keyVariable == "ANTHROPIC_API_KEY" && Self.launch(.aider).keyVariable == "OPENAI_API_KEY")
        // codex on an endpoint of the config: a model provider of its own on the command line.
        onEndpoint.runtime = .codex
        onEndpoint.resolvedEndpoint?.api = "openai"
        let codex = AgentLaunch(group: onEndpoint, seed: 3).command(prompt: "P", home: "/h", resume: "T")
        #expect(Array(codex.argv.dropFirst(6)) == [
            "-m", "smollm2", "-c", "model_provider=coevo", "-c",
            #"model_providers.coevo={name="coevo", base_url="http://127.0.0.1:8081/v1", env_key="OPENAI_API_KEY", wire_api="responses"}"#,
            "resume", "T", "P"])
        #expect(codex.environment["OPENAI_API_KEY"] == "none")
        // A group's plain settings go over the runtime's defaults.
        onEndpoint.environment = ["IS_SANDBOX": "0", "CLAUDE_CODE_MAX_OUTPUT_TOKENS": "512"]
        onEndpoint.runtime = .claudeCode
        let tuned = AgentLaunch(group: onEndpoint, seed: 3).command(prompt: "P", home: "/h", resume: nil).environment
        #expect(tuned["IS_SANDBOX"] == "0" && tuned["CLAUDE_CODE_MAX_OUTPUT_TOKENS"] == "512" && tuned["ANTHROPIC_API_KEY"] == "none")
        onEndpoint.environment = [:]
        // Its tokens are priced at the endpoint's prices, whatever Claude Code's own table says.
        var priced = onEndpoint
        priced.runtime = .claudeCode
        priced.resolvedEndpoint?.priceInputPerMillion = 1000
        let usage = TokenUsage(promptTokens: 100, completionTokens: 0)
        #expect(AgentLaunch(group: priced, seed: 3).cost(reported: 0.5, usage: usage) == 0.1)
        #expect(Self.launch(.claudeCode).cost(reported: 0.5, usage: usage) == 0.5, "no endpoint: the tool's own figure")
        // No model: the tool's own default.
        #expect(!Self.launch(.claudeCode, model: nil).command(prompt: "P", home: "/h", resume: nil).argv.contains("--model"))
        #expect(Self.launch(.claudeCode).resumes && !Self.launch(.miniSweAgent).resumes)
    }

    @Test func eachToolsOutputGivesItsSessionTokensAndLastWords() {
        let claude = """
            {"type":"system","subtype":"init","session_id":"3f2a","tools":["Bash"],"model":"claude"}
            not json: a warning
            {"type":"assistant","message":{"content":[{"type":"text","text":"working"}]},"session_id":"3f2a"}
            {"type":"result","subtype":"success","is_error":false,"num_turns":4,"result":"done, submitted","session_id":"3f2a","total_cost_usd":0.0215,"usage":{"input_tokens":1200,"output_tokens":300}}
            """
        func report(_ runtime: DiscoverySettings.Runtime, _ text: String, exit: Int32? = 0, home: Set<String> = [],
                    workspace: [String: Data] = [:]) -> AgentStepReport {
            runtime.agent!.report(AgentRunOutput(stdout: Data(text.utf8), exitCode: exit, workspaceFile: { workspace[$0] },
                                                 homeHas: { home.contains($0) }))
        }
        #expect(report(.claudeCode, claude) == AgentStepReport(session: "3f2a", usage: TokenUsage(promptTokens: 1200, completionTokens: 300),
                                                                costUSD: 0.0215, turns: 4, lastWords: "done, submitted"))

        let codex = """
            {"type":"thread.started","thread_id":"0199a213-81c0"}
            {"type":"turn.started"}
            {"type":"item.completed","item":{"id":"item_1","type":"agent_message","text":"I moved the circles."}}
            {"type":"turn.completed","usage":{"input_tokens":24763,"cached_input_tokens":24448,"output_tokens":122}}
            """
        #expect(report(.codex, codex) == AgentStepReport(session: "0199a213-81c0", usage: TokenUsage(promptTokens: 24763, completionTokens: 122),
                                                         turns: 1, lastWords: "I moved the circles."))

        let opencode = """
            {"type":"step_start","sessionID":"ses_ab12","part":{"type":"step-start","sessionID":"ses_ab12"}}
            {"type":"text","sessionID":"ses_ab12","part":{"type":"text","text":"Edited pack.py","sessionID":"ses_ab12"}}
            {"type":"step_finish","sessionID":"ses_ab12","part":{"type":"step-finish","tokens":{"input":900,"output":80},"cost":0.004,"sessionID":"ses_ab12"}}
            """
        #expect(report(.opencode, opencode) == AgentStepReport(session: "ses_ab12", usage: TokenUsage(promptTokens: 900, completionTokens: 80),
                                                               costUSD: 0.004, turns: 1, lastWords: "Edited pack.py"))
        // Only `coevo eval` submits for these: no rule of their own.
        #expect([report(.claudeCode, claude), report(.codex, codex), report(.opencode, opencode)].allSatisfy { $0.submitMessage == nil })

        // aider: the session is its chat history in the agent's home; a clean exit submits.
        #expect(report(.aider, "Applied edit to pack.py").session == nil)
        let aider = """
            Aider v0.86.2
            Tokens: 735 sent, 12 received.
            Applied edit to pack.py
            Tokens: 2.3k sent, 145 received. Cost: $0.01 message, $0.02 session.
            """
        let a = report(.aider, aider)
        #expect(a.usage == TokenUsage(promptTokens: 3035, completionTokens: 157) && a.tokens == 3192 && a.turns == 2 && a.costUSD == 0.01)
        #expect(a.submitMessage == "aider: its changes" && report(.aider, aider, exit: 1).submitMessage == nil)
        #expect(report(.aider, "", home: [".aider.chat.history.md"]).session == "aider-chat-history")

        // A plain command reports nothing of its own and reads its prompt on stdin.
        #expect(report(.command, claude) == AgentStepReport() && DiscoverySettings.Runtime.command.agent!.promptOnStdin)
        #expect(DiscoverySettings.Runtime.evolve.agent == nil)
    }

    /// mini-swe-agent's trajectory: its calls, tokens and last replies; "Submitted" (its
    /// own end, echoing a marker) counts as a submission, any other end does not. Bad input
    /// tried: no trajectory, a trajectory that is not JSON.
    @Test func miniSweAgentsTrajectoryGivesItsCallsAndItsSubmission() {
        let mini = DiscoverySettings.Runtime.miniSweAgent.agent!
        func report(_ trajectory: String?) -> AgentStepReport {
            mini.report(AgentRunOutput(stdout: Data(), exitCode: 0, workspaceFile: { $0 == ".coevo/trajectory.json" ? trajectory.map { Data($0.utf8) } : nil }))
        }
        let trajectory = """
            {"info": {"exit_status": "Submitted", "model_stats": {"api_calls": 2}},
             "messages": [{"role": "system", "content": "x"},
                          {"role": "assistant", "extra": {"model_response": "ls", "response": {"usage": {"prompt_tokens": 10, "completion_tokens": 3, "total_tokens": 13}}}},
                          {"role": "assistant", "extra": {"model_response": "echo done", "response": {"usage": {"prompt_tokens": 20, "completion_tokens": 4, "total_tokens": 24}}}}]}
            """
        let submitted = report(trajectory)
        #expect(submitted == AgentStepReport(usage: TokenUsage(promptTokens: 30, completionTokens: 7), tokens: 37, turns: 2,
                                             lastWords: "ls\n---\necho done", exitNote: "; mini-swe-agent: Submitted",
                                             submitMessage: "mini-swe-agent: submitted"))
        let limited = report(trajectory.replacingOccurrences(of: "Submitted", with: "LimitsExceeded"))
        #expect(limited.submitMessage == nil && limited.exitNote == "; mini-swe-agent: LimitsExceeded")
        #expect(report(nil) == AgentStepReport(exitNote: "; mini-swe-agent left no trajectory"))
        #expect(report("not json").exitNote == "; mini-swe-agent left no trajectory")
        #expect(mini.needsEndpoint && !mini.resumes && !mini.promptOnStdin)
    }

    @Test func aWorkerResumesOnlyASessionItHoldsAndTellsAMovedAgentSo() async throws {
        // The stand-in prints claude-code's stream-json: a new session id unless resumed,
        // and its arguments and prompt as the result, so the test sees what was run.
        let bin = FileManager.default.temporaryDirectory.appendingPathComponent("coevo-claude-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: bin, withIntermediateDirectories: true)
        let claude = bin.appendingPathComponent("claude")
        try Data(#"""
            #!/bin/sh
            session="fresh-$(od -An -N4 -tu4 /dev/urandom | tr -d ' ')"  # not $$: every sandbox's shell has the same pid
            prompt=""
            while [ $# -gt 0 ]; do
              case "$1" in
                --resume) session="$2"; resumed="yes"; shift ;;
                -p) prompt="$2"; shift ;;
              esac
              shift
            done
            first=$(printf '%s' "$prompt" | head -c 20)
            echo "{\"type\":\"system\",\"subtype\":\"init\",\"session_id\":\"$session\"}"
            echo "{\"type\":\"result\",\"num_turns\":1,\"result\":\"resumed=${resumed:-no} prompt=$first\",\"session_id\":\"$session\",\"usage\":{\"input_tokens\":5,\"output_tokens\":6}}"
            """#.utf8).write(to: claude)
        chmod(claude.path, 0o755)
        let seed = [DiscoveryFile(path: "a.txt", data: Data("x\n".utf8))]
        func step(_ key: String, session: String?) throws -> Data {
            var group = DiscoverySettings.AgentGroup()
            group.runtime = .claudeCode
            group.program = claude.path
            return try JSONEncoder().encode(DiscoveryStepJob(
                key: key, run: "run-s", agent: "a0", launch: AgentLaunch(group: group, seed: 1), session: session, prompt: "Improve a.txt",
                chain: CommitChain(seedFiles: seed, bundles: [], commit: nil), shared: SharedView(), evolve: nil, timeoutMilliseconds: 20_000,
                stallMilliseconds: 0))
        }
        func run(_ executor: DiscoveryStepExecutor, _ payload: Data) async throws -> DiscoveryStepOutput {
            let outcome = await executor.run(payload: payload)
            #expect(outcome.status == .succeeded, "\(outcome.error)")
            return try JSONDecoder().decode(DiscoveryStepOutput.self, from: outcome.output)
        }
        let policy = WorkerPolicy(commands: [claude.path])
        let first = DiscoveryStepExecutor(root: DiscoveryExecutorTests.root("w0"), policy: policy)
        let second = DiscoveryStepExecutor(root: DiscoveryExecutorTests.root("w1"), policy: policy)

        let opened = try await run(first, step("r1.step.a0", session: nil))
        let session = try #require(opened.session)
        #expect(session.hasPrefix("fresh-") && opened.transcript == "resumed=no prompt=Improve a.txt")
        #expect(opened.tokens == 11 && opened.modelCalls == 1)
        #expect(opened.costUSD == 0, "the stand-in reports no cost and its launch has no prices")
        // The same worker holds the session: it resumes it.
        let resumed = try await run(first, step("r2.step.a0", session: session))
        #expect(resumed.session == session && resumed.transcript == "resumed=yes prompt=Improve a.txt")
        #expect(resumed.exit.contains("resumed session \(session)"))
        // Another worker does not: a fresh session, told it was resumed.
        let moved = try await run(second, step("r3.step.a0", session: session))
        #expect(moved.session != session && moved.transcript == "resumed=no prompt=You were resumed: yo")
        // A program the worker does not allow is refused.
        let refused = await DiscoveryStepExecutor(root: DiscoveryExecutorTests.root("w2")).run(payload: try step("r1.step.a0", session: nil))
        #expect(refused.status == .unsupported && refused.error.contains("--allow-command"))
    }
}

/// A mini-swe-agent step's endpoint is held to the worker's policy, as an `llm.chat`
/// call is, and its key reaches the agent only from a worker told to send it there. A
/// stand-in `mini` (a real subprocess) writes the trajectory mini-swe-agent writes, with
/// the key it was given. Bad input tried: a key the worker was not told to send, a key
/// variable the worker lacks, an endpoint off loopback that the worker does not allow.
@Suite struct MiniSweAgentEndpointTests {
    static let mini: URL = {
        let bin = FileManager.default.temporaryDirectory.appendingPathComponent("coevo-mini-\(UUID().uuidString.prefix(8))")
        try! FileManager.default.createDirectory(at: bin, withIntermediateDirectories: true)
        let program = bin.appendingPathComponent("mini")
        try! Data(#"""
            #!/bin/sh
            printf '{"info":{"exit_status":"LimitsExceeded","model_stats":{"api_calls":1,"instance_cost":0}},"messages":[{"extra":{"model_response":"key=%s","response":{"usage":{"prompt_tokens":10,"completion_tokens":5,"total_tokens":15}}}}]}' "$OPENAI_API_KEY" > .coevo/trajectory.json
            """#.utf8).write(to: program)
        chmod(program.path, 0o755)
        return program
    }()

    static func step(url: String, keyVariable: String?) throws -> Data {
        var group = DiscoverySettings.AgentGroup()
        group.runtime = .miniSweAgent
        group.program = mini.path
        group.resolvedEndpoint = LLMJob.Endpoint(name: "remote", url: url, model: "m", apiKeyEnv: keyVariable,
                                                 priceInputPerMillion: 1000, priceOutputPerMillion: 3000)
        return try JSONEncoder().encode(DiscoveryStepJob(
            key: "r1.step.a0", run: "run-k", agent: "a0", launch: AgentLaunch(group: group, seed: 1), prompt: "go",
            chain: CommitChain(seedFiles: DiscoveryExecutorTests.seed, bundles: [], commit: nil), shared: SharedView(), evolve: nil,
            timeoutMilliseconds: 20_000, stallMilliseconds: 0))
    }

    static func run(_ payload: Data, policy: WorkerPolicy, environment: [String: String]) async -> JobOutcome {
        await DiscoveryStepExecutor(root: DiscoveryExecutorTests.root("mini"), policy: policy, secrets: environment).run(payload: payload)
    }

    @Test func theEndpointsKeyReachesTheAgentOnlyWhereThePolicySendsIt() async throws {
        let local = "http://127.0.0.1:9"
        let allowed = WorkerPolicy(keys: ["EXAMPLE_KEY": [local]], commands: [Self.mini.path])
        let keyed = try Self.step(url: local, keyVariable: "EXAMPLE_KEY")

        let given = await Self.run(keyed, policy: allowed, environment: ["EXAMPLE_KEY": "sk-123", "OTHER": "x"])
        #expect(given.status == .succeeded, "\(given.error)")
        let output = try JSONDecoder().decode(DiscoveryStepOutput.self, from: given.output)
        #expect(output.transcript == "key=sk-123" && output.tokens == 15)
        // No cost from litellm: 10 prompt and 5 completion tokens at 1,000 and 3,000 USD per million.
        #expect(abs(output.costUSD - 0.025) < 1e-12)

        let unsent = await Self.run(keyed, policy: WorkerPolicy(commands: [Self.mini.path]), environment: ["EXAMPLE_KEY": "sk-123"])
        #expect(unsent.status == .unsupported && unsent.error.contains("--allow-key EXAMPLE_KEY=http://127.0.0.1:9"), "\(unsent.error)")
        let unset = await Self.run(keyed, policy: allowed, environment: [:])
        #expect(unset.status == .unsupported && unset.error.contains("needs $EXAMPLE_KEY"), "\(unset.error)")

        let keyless = await Self.run(try Self.step(url: local, keyVariable: nil), policy: allowed, environment: ["EXAMPLE_KEY": "sk-123"])
        #expect(try JSONDecoder().decode(DiscoveryStepOutput.self, from: keyless.output).transcript == "key=none")
        let remote = await Self.run(try Self.step(url: "https://api.example.com", keyVariable: nil), policy: allowed, environment: [:])
        #expect(remote.status == .unsupported && remote.error.contains("--allow-endpoint https://api.example.com"), "\(remote.error)")
    }
}
