import CoevoCoordinator
import CoevoCore
import Foundation
import Testing

/// The `discovery:` section. Bad input tried: a missing task field, a seed directory that
/// does not exist, a grader directory inside the seed (the agents would see it), an evolve
/// agent with no files, an unknown runtime, negative budgets, a seed with no TASK.md and
/// no description, a candidate input with no candidate command or that is no grader file.
@Suite struct DiscoveryConfigTests {
    /// A task with a seed and a grader directory, in a fresh temporary directory.
    static func task() throws -> URL {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("coevo-discovery-config-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: root.appendingPathComponent("seed/lib"), withIntermediateDirectories: true)
        try FileManager.default.createDirectory(at: root.appendingPathComponent("grader"), withIntermediateDirectories: true)
        try Data("print(1.5)\n".utf8).write(to: root.appendingPathComponent("seed/main.py"))
        try Data("x = 0.1\n".utf8).write(to: root.appendingPathComponent("seed/lib/util.py"))
        try Data("Make it big.\n".utf8).write(to: root.appendingPathComponent("seed/TASK.md"))
        try Data("secret\n".utf8).write(to: root.appendingPathComponent("grader/answer.txt"))
        return root
    }

    static func config(_ root: URL, seed: String = "seed", grader: String = "grader", agents: String = "[{runtime: evolve, files: [main.py]}]",
                       extra: String = "") -> String {
        """
        discovery:
          task: {seed: \(root.path)/\(seed), grader: \(root.path)/\(grader), grade_command: [python3, grade.py]\(extra)}
          agents: \(agents)
        """
    }

    @Test func aDiscoveryConfigReadsTheTaskFiles() throws {
        let root = try Self.task()
        let config = try ConfigLoader.parse(Self.config(root) + "\nrun: {seed: 11}")
        let discovery = try #require(config.discoverySettings)
        #expect(discovery.seedFiles.map(\.path) == ["TASK.md", "lib/util.py", "main.py"])
        #expect(discovery.graderFiles.map(\.path) == ["answer.txt"])
        #expect(discovery.task.description == "Make it big.\n")  // from the seed's TASK.md
        #expect(discovery.seed == 11 && config.isProtocolRun)
        #expect(discovery.roster.map(\.id) == ["a0", "a1"])
        #expect(CandidateRun(discovery) == nil)  // no candidate_command: the grader runs the candidate

        let apart = try #require(try ConfigLoader.parse(Self.config(root, extra: ", candidate_command: [python3, main.py], candidate_input: answer.txt, grader_timeout_ms: 9000")).discoverySettings)
        #expect(CandidateRun(apart) == CandidateRun(command: ["python3", "main.py"], input: "answer.txt", timeoutMilliseconds: 9000))
    }

    @Test func badDiscoverySectionsNameTheField() throws {
        let root = try Self.task()
        let cases: [(String, String, String)] = [
            (Self.config(root, seed: "nowhere"), "discovery.task.seed", "is not a directory"),
            (Self.config(root, grader: "seed/lib"), "discovery.task.grader", "must not contain or be inside the seed"),
            (Self.config(root, agents: "[{runtime: evolve}]"), "discovery.agents[0].files", "needs the files"),
            (Self.config(root, agents: "[{runtime: telepathy}]"), "discovery.agents.runtime", "unknown runtime 'telepathy'"),
            (Self.config(root, agents: "[{runtime: command}]"), "discovery.agents[0].command", "needs its argv"),
            // No test here can run the real opencode: refused, with why.
            (Self.config(root, agents: "[{runtime: opencode}]"), "discovery.agents[0].runtime", "distributed on npm only"),
            (Self.config(root, extra: ", graders: 0"), "discovery.task.graders", "at least 1"),
            (Self.config(root, extra: ", direction: up"), "discovery.task.direction", "unknown direction 'up'"),
            ("discovery: {agents: [{runtime: evolve, files: [a]}]}", "discovery.task.seed", "required"),
            (Self.config(root) + "\n  max_usd: -0.5", "discovery.max_usd", "0 (no limit) or more"),
            // The worker, not the config, decides which user an agent runs as now.
            (Self.config(root) + "\n  agent_user: 65533", "discovery.agent_user", "gives every agent a user id of its own"),
            (Self.config(root, agents: "[{runtime: evolve, files: [main.py], mutation: model}]"), "discovery.agents[0].endpoint",
             "mutation: model needs the name of an endpoint"),
            (Self.config(root, agents: "[{runtime: evolve, files: [main.py], mutation: llm}]"), "discovery.agents.mutation",
             "unknown mutation 'llm'"),
            (Self.config(root) + "\n  max_wall_seconds: -1", "discovery.max_wall_seconds", "0 (no limit) or more"),
            (Self.config(root, agents: "[{runtime: command, command: [sh, a.sh], egress: [com]}]"), "discovery.agents[0].egress",
             "'com' is not a host name with a dot"),
            (Self.config(root, agents: "[{runtime: command, command: [sh, a.sh], egress: ['pypi.org/simple']}]"), "discovery.agents[0].egress",
             "is not a host name"),
            (Self.config(root) + "\n  limits: {memory_mb: 10}", "discovery.limits.memory_mb", "at least 64"),
            (Self.config(root) + "\n  limits: {memory: 10}", "discovery.limits.memory", "unknown"),
            (Self.config(root, extra: ", candidate_input: answer.txt"), "discovery.task.candidate_input", "only means something with task.candidate_command"),
            (Self.config(root, extra: ", candidate_command: [python3, main.py], candidate_input: lib/util.py"), "discovery.task.candidate_input",
             "'lib/util.py' is not a file of the grader directory"),
            (Self.config(root, extra: ", candidate_command: [python3, main.py], candidate_timeout_ms: 5"), "discovery.task.candidate_timeout_ms",
             "at least 100"),
        ]
        for (text, field, problem) in cases {
            let error = #expect(throws: ConfigError.self) { try ConfigLoader.parse(text) }
            #expect(error?.field == field, "\(text)")
            #expect(error?.problem.contains(problem) == true, "\(error?.problem ?? "") should say \(problem)")
        }
        try FileManager.default.removeItem(at: root.appendingPathComponent("seed/TASK.md"))
        let error = #expect(throws: ConfigError.self) { try ConfigLoader.parse(Self.config(root)) }
        #expect(error?.field == "discovery.task.description")
    }

    @Test func miniSweAgentGroupsNeedAnOpenAICompatibleEndpointOfTheConfig() throws {
        let root = try Self.task()
        let mini = "[{runtime: mini-swe-agent, endpoint: local, max_turns: 3, program: .venv-agents/bin/mini}]"
        let good = try ConfigLoader.parse(Self.config(root, agents: mini) + """

            endpoints: [{name: local, url: "http://127.0.0.1:8081", model: smollm2}]
            """)
        let group = try #require(good.discoverySettings?.agents.first)
        #expect(group.resolvedEndpoint?.url == "http://127.0.0.1:8081")
        let launch = AgentLaunch(group: group, seed: 77).command(prompt: "do it", home: "/h", resume: nil)
        #expect(Array(launch.argv.prefix(3)) == [".venv-agents/bin/mini", "-m", "openai/smollm2"])
        #expect(launch.argv.contains("model.model_kwargs.api_base=http://127.0.0.1:8081/v1"))
        #expect(launch.argv.contains("model.model_kwargs.seed=77") && launch.argv.contains("agent.step_limit=3"))
        #expect(Array(launch.argv.suffix(2)) == ["-t", "do it"])
        #expect(launch.environment["LITELLM_LOCAL_MODEL_COST_MAP"] == "True")

        // An endpoint with a key: the launch names it, for the worker to check and fill in.
        let keyed = try ConfigLoader.parse(Self.config(root, agents: mini) + """

            endpoints: [{name: local, url: "https://api.example.com", model: m, api_key_env: EXAMPLE_KEY}]
            """)
        let keyedLaunch = AgentLaunch(group: try #require(keyed.discoverySettings?.agents.first), seed: 1)
        #expect(keyedLaunch.endpoint?.apiKeyEnv == "EXAMPLE_KEY")

        // Bad input: an endpoint the config lacks, and one that does not speak OpenAI's API.
        let missing = #expect(throws: ConfigError.self) { try ConfigLoader.parse(Self.config(root, agents: mini)) }
        #expect(missing?.field == "discovery.agents[0].endpoint" && missing?.problem.contains("names no endpoint") == true)
        let anthropic = #expect(throws: ConfigError.self) {
            try ConfigLoader.parse(Self.config(root, agents: mini) + """

                endpoints: [{name: local, url: "https://api.anthropic.com", model: m, api: anthropic, api_key_env: K}]
                """)
        }
        #expect(anthropic?.problem.contains("OpenAI-compatible endpoints only") == true)

        // claude-code is the other way round: Anthropic's API, or a gateway that serves it.
        let claude = "[{runtime: claude-code, endpoint: local}]"
        let openai = #expect(throws: ConfigError.self) {
            try ConfigLoader.parse(Self.config(root, agents: claude) + """

                endpoints: [{name: local, url: "http://127.0.0.1:8081", model: m}]
                """)
        }
        #expect(openai?.field == "discovery.agents[0].endpoint" && openai?.problem.contains("put a gateway such as LiteLLM") == true)
        let gateway = try ConfigLoader.parse(Self.config(root, agents: claude) + """

            endpoints: [{name: local, url: "http://127.0.0.1:4000", model: m, api: anthropic}]
            """)
        let claudeLaunch = AgentLaunch(group: try #require(gateway.discoverySettings?.agents.first), seed: 1)
        #expect(claudeLaunch.endpoint?.url == "http://127.0.0.1:4000")
        #expect(claudeLaunch.command(prompt: "P", home: "/h", resume: nil).environment["ANTHROPIC_BASE_URL"] == "http://127.0.0.1:4000")

        // A group's environment holds plain settings, never what the worker sets or a secret.
        for (environment, problem) in [("{HOME: /tmp}", "the worker's to set"), ("{'1X': a}", "not a variable name"),
                                       ("{K: v}", "is a secret")] {
            let refused = #expect(throws: ConfigError.self) {
                try ConfigLoader.parse(Self.config(root, agents: "[{runtime: claude-code, secrets: [K], environment: \(environment)}]"))
            }
            #expect(refused?.field == "discovery.agents[0].environment" && refused?.problem.contains(problem) == true, "\(String(describing: refused))")
        }
    }
}
