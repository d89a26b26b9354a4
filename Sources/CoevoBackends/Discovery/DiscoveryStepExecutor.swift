import CoevoCore
import Foundation

/// Runs `discovery.step` jobs: makes the agent's workspace afresh at the step's base
/// commit from the bundles the job carries (cached per worker), lays out the prompt and
/// the shared view, runs the agent (the built-in `evolve` mutation, or a command whose
/// step ends when it submits, exits, stalls or times out) in a sandbox of its own as its
/// own user (`Confinement`), and brings back the submitted commit as a bundle, with the
/// notes and skills the agent left, read without following anything the agent linked.
///
/// A step that ends without a submission is a result too (no attempt): only a workspace
/// that cannot be made fails the job, so another worker can try.
public struct DiscoveryStepExecutor: JobExecutor {
    public var kind: JobKind { .discoveryStep }
    public let root: URL
    public let policy: WorkerPolicy
    /// Put first on a command agent's PATH: where `coevo` (for `coevo eval`, `coevo memory`) is.
    public let toolsDirectory: URL?
    /// Where the values of a launch's `secrets` come from: this worker's environment, only
    /// the names its policy gives agents.
    private let secrets: [String: String]
    /// Endpoint keys: this worker's environment, only the variables its policy sends somewhere.
    private let endpointKeys: [String: String]
    /// How an `evolve` agent with `mutation: model` calls its endpoint: the worker's own
    /// `llm.chat` executor, so its calls share each endpoint's breaker and concurrency limit.
    let chat: LLMChatExecutor
    /// Each agent's user id on this worker, when the worker hands them out.
    private let users: AgentUsers?

    /// `chat` is the worker's `llm.chat` executor (a new one, with `policy`, when nil).
    public init(root: URL, policy: WorkerPolicy = WorkerPolicy(), chat: LLMChatExecutor? = nil,
                toolsDirectory: URL? = DiscoveryStepExecutor.ownDirectory,
                secrets: [String: String] = ProcessInfo.processInfo.environment) {
        self.root = root
        self.policy = policy
        self.toolsDirectory = toolsDirectory
        self.secrets = secrets.filter { policy.agentKeys.contains($0.key) }
        endpointKeys = secrets.filter { policy.keys[$0.key] != nil }
        self.chat = chat ?? LLMChatExecutor(policy: policy)
        users = policy.confinement.users.map { AgentUsers(root: root, range: $0) }
    }

    struct Refusal: Error {
        var reason: String
    }

    /// The key of the endpoint an agent calls (nil: it needs none), or why
    /// this worker may not let it call that endpoint: the policy of `llm.chat` calls.
    func key(for launch: AgentLaunch) -> Result<String?, Refusal> {
        guard let endpoint = launch.endpoint else { return .success(nil) }
        if let refusal = policy.refusal(for: endpoint) { return .failure(Refusal(reason: refusal)) }
        guard let variable = endpoint.apiKeyEnv else { return .success(nil) }
        guard let key = endpointKeys[variable], !key.isEmpty else {
            return .failure(Refusal(reason: "endpoint \(endpoint.name) needs $\(variable), which is not set on this worker"))
        }
        return .success(key)
    }

    /// The directory of this process's executable when a `coevo` binary is there.
    public static var ownDirectory: URL? {
        let directory = URL(fileURLWithPath: OwnExecutable.path).resolvingSymlinksInPath().deletingLastPathComponent()
        return FileManager.default.isExecutableFile(atPath: directory.appendingPathComponent("coevo").path) ? directory : nil
    }

    public func run(payload: Data) async -> JobOutcome {
        let job: DiscoveryStepJob
        do {
            job = try JSONDecoder().decode(DiscoveryStepJob.self, from: payload)
        } catch {
            return JobOutcome(status: .failed, error: "discovery.step payload is not a DiscoveryStepJob: \(error)")
        }
        if job.runtime != .evolve, let refusal = policy.refusal(forCommand: [job.launch.program], secretNames: job.launch.secrets) {
            return JobOutcome(status: .unsupported, error: refusal)  // another worker may allow it
        }
        if let refusal = policy.refusal(forEgress: job.launch.egress ?? []) {
            return JobOutcome(status: .unsupported, error: "agent \(job.agent): \(refusal)")  // another worker may allow it
        }
        if let missing = job.launch.secrets.first(where: { secrets[$0] == nil }) {
            return JobOutcome(status: .unsupported, error: "agent \(job.agent) needs $\(missing), which is not set on this worker")
        }
        let endpointKey: String?
        switch key(for: job.launch) {
        case .success(let key): endpointKey = key
        case .failure(let refusal): return JobOutcome(status: .unsupported, error: "agent \(job.agent): \(refusal.reason)")  // another worker may allow it
        }
        if job.runtime != .evolve, let refusal = policy.confinement.refusal {
            return JobOutcome(status: .unsupported, error: "agent \(job.agent): \(refusal)")  // another worker may sandbox it
        }
        let cache = GitCache(root: root, run: job.run)
        let workspace = DiscoveryWorkspace(root: cache.directory.appendingPathComponent("agents").appendingPathComponent(GitCache.safe(job.agent)))
        let user: UInt32?
        do {
            // The built-in evolve runs no code of the agent's: it needs no user of its own.
            user = job.runtime == .evolve ? nil : try users?.user(run: job.run, agent: job.agent)
            try await cache.locked {
                let base = try cache.prepare(job.chain)
                try cache.fetch(job.viewed)
                if job.runtime == .evolve {
                    try workspace.checkoutWorktree(base, cache: cache)
                } else {
                    try workspace.make(at: base, commits: job.viewed.map(\.commit), cache: cache)
                }
                try workspace.lay(job, base: base)
                if let user { try workspace.give(to: user) }
            }
        } catch {
            return JobOutcome(status: .failed, error: "cannot prepare the workspace of agent \(job.agent): \(error)")
        }
        var agent = StepAgent(job: job, workspace: workspace, user: user, confinement: policy.confinement, tools: toolsDirectory)
        if policy.confinement.bubblewrap != nil, case .shared = agent.network, let endpoint = job.launch.endpoint {
            // A sandbox that would have to share the worker's network is no sandbox: say so rather than run it.
            return JobOutcome(status: .failed, error: "agent \(job.agent): its endpoint \(endpoint.url) is an address off loopback "
                              + "over HTTPS, which cannot be relayed into its sandbox (the certificate names that address); "
                              + "name the endpoint by a host name")
        }
        let limits = job.limits ?? StepLimits()
        if job.runtime != .evolve {
            do {
                agent.cgroup = try policy.confinement.cgroup(memoryBytes: limits.memoryBytes, processes: limits.processes)
            } catch {
                return JobOutcome(status: .failed, error: "cannot hold agent \(job.agent) to its limits: \(error)")
            }
        }
        defer { agent.cgroup?.remove() }

        var output = DiscoveryStepOutput(commit: nil, parent: nil, message: "", bundle: nil, notes: [], skills: [], exit: "", transcript: "")
        switch job.runtime {
        case .evolve where job.evolve?.byModel == true:
            output.exit = await evolveByModel(job, in: workspace, into: &output)
        case .evolve:
            output.exit = evolve(job, in: workspace)
        default:
            await runAgent(agent, limits: limits, endpointKey: endpointKey, into: &output)
            if let warning = policy.confinement.warning { output.exit += "; " + warning }
        }
        (output.notes, output.skills) = workspace.collectOutbox(agent.files)
        if let submission = workspace.submission(agent.files) {
            do {
                // evolve committed into a worktree of the cache: its commit is there already.
                let accepted: (bundle: Data, diff: String)
                if job.runtime == .evolve {
                    accepted = try await cache.locked { try cache.export(submission.commit, parent: submission.parent) }
                } else {
                    let bundle = try await agent.bundle(submission)
                    accepted = try await cache.locked { try cache.accept(bundle, commit: submission.commit, parent: submission.parent) }
                }
                output.bundle = accepted.bundle
                output.diff = accepted.diff
                output.commit = submission.commit
                output.parent = submission.parent
                output.message = submission.message
            } catch {
                output.exit += "; its submission could not be bundled: \(error)"
            }
        }
        guard let data = try? JSONEncoder().encode(output) else {
            return JobOutcome(status: .failed, error: "cannot encode the step's output")
        }
        return JobOutcome(status: .succeeded, output: data)
    }

    /// The largest file an agent may write: room for a package download, not for filling
    /// the worker's disk. (Its submission is held to far less: `DiscoveryWorkspace.maxFileBytes`.)
    static let maxAgentFileBytes = 1 << 30

    /// Runs a command or CLI agent in its workspace, confined. A CLI agent whose last
    /// session this worker holds resumes it; one whose session is elsewhere starts afresh
    /// and is told so.
    private func runAgent(_ agent: StepAgent, limits: StepLimits, endpointKey: String?, into output: inout DiscoveryStepOutput) async {
        let job = agent.job, workspace = agent.workspace
        let held = workspace.heldSession()
        let resume = job.launch.resumes && job.session != nil && held == job.session ? job.session : nil
        let prompt = job.launch.resumes && job.session != nil && resume == nil ? AgentLaunch.resumedPreface + job.prompt : job.prompt
        var (arguments, environment) = agent.launch.command(prompt: prompt, home: workspace.home.path, resume: resume)
        // A relative program path is the worker's (e.g. a virtual environment beside it).
        if arguments[0].contains("/") && !arguments[0].hasPrefix("/") {
            arguments[0] = URL(fileURLWithPath: arguments[0]).standardizedFileURL.path
        }
        for name in job.launch.secrets { environment[name] = secrets[name] }
        if let endpointKey { environment[job.launch.keyVariable] = endpointKey }
        environment.merge(AgentLaunch.workerEnvironment(workspace: workspace.root.path, agent: job.agent, home: workspace.home.path,
                                                        path: agent.path)) { _, fixed in fixed }
        var spec = agent.spec(arguments, environment: environment)
        spec.timeoutMilliseconds = job.timeoutMilliseconds
        spec.stallMilliseconds = job.stallMilliseconds
        spec.stopFile = workspace.submittedFile.path
        spec.fileBytes = Self.maxAgentFileBytes
        if agent.cgroup == nil {
            // No control group here: rlimits hold each process, not the step. The process
            // limit counts every process of the user, so only an agent's own user can have it.
            spec.processes = agent.user == nil ? nil : limits.processes
            spec.cpuSeconds = limits.cpuSeconds > 0 ? limits.cpuSeconds : nil
        }
        let quota = StepQuota(limits: limits, cgroup: agent.cgroup, directories: [workspace.root.path, workspace.home.path])
        var relay: EndpointRelay.Running?
        if case .relayed(let plan) = agent.network {
            do {
                relay = try plan.start(owner: agent.user)
            } catch {
                output.exit = "the relay to its endpoint did not start: \(error)"
                output.crashed = true
                return
            }
        }
        defer { relay?.stop() }
        // Only a plain command reads its prompt on stdin; the CLI agents get it as an argument
        // (claude -p would read stdin as more context).
        let runtime = job.runtime.agent
        let outcome = await CommandRunner.run(spec, input: runtime?.promptOnStdin == true ? Data(prompt.utf8) : Data(), watch: quota.check)
        output.exit = outcome.summary + (resume.map { "; resumed session \($0)" } ?? "")
        output.crashed = !(outcome.exitCode == 0 || outcome.stoppedByFile)
        if outcome.overLimit == nil, !outcome.stoppedByFile, let refused = quota.refused() {
            output.exit += "; " + refused
            output.crashed = true
        }
        if quota.wentOverDisk {
            // What it left in its home may be what went past the limit: the next step starts within it.
            workspace.emptyHome()
            output.exit += "; its home was emptied"
        }
        output.transcript = String(decoding: (outcome.stdout + outcome.stderr).suffix(8192), as: UTF8.self)
        guard let runtime else { return }
        let files = agent.files, home = agent.homeFiles
        let report = runtime.report(AgentRunOutput(stdout: outcome.stdout, exitCode: outcome.exitCode,
                                                   workspaceFile: { try? files.read($0, limit: 64 << 20) },
                                                   homeHas: { home.exists($0) }))
        output.exit += report.exitNote
        output.session = report.session
        output.tokens = report.tokens
        output.costUSD = job.launch.cost(reported: report.costUSD, usage: report.usage)
        output.modelCalls = report.turns
        if let words = report.lastWords { output.transcript = words }
        if let session = report.session { workspace.hold(session: session) }
        // A tool that ends its own way (no `coevo eval`) submits what it changed.
        if let message = report.submitMessage, workspace.submission(agent.files) == nil,
           let refusal = await agent.submit(message: message) {
            output.exit += " (\(refusal))"
        }
    }

    /// The `evolve` runtime with `mutation: model`: the model of the launch's endpoint
    /// rewrites one of the files (chosen by the step's seed), and the rewrite is submitted.
    /// A failed call or a reply with no changed file ends the step without a submission,
    /// saying why; the call's tokens and cost are the step's. Returns how it ended.
    private func evolveByModel(_ job: DiscoveryStepJob, in workspace: DiscoveryWorkspace,
                               into output: inout DiscoveryStepOutput) async -> String {
        guard let mutation = job.evolve, !mutation.files.isEmpty, let endpoint = job.launch.endpoint else {
            return "evolve: a model-written mutation needs files and an endpoint"
        }
        var rng = SeededGenerator(seed: mutation.seed)
        let path = mutation.files[Int(rng.next() % UInt64(mutation.files.count))]
        let url = workspace.root.appendingPathComponent(path)
        guard let text = try? String(contentsOf: url, encoding: .utf8) else { return "evolve: cannot read \(path)" }
        let call = LLMJob(endpoint: endpoint, system: ModelMutation.system, prompt: ModelMutation.prompt(step: job.prompt, path: path, file: text),
                          maxTokens: max(512, text.utf8.count), temperature: 0.8, seed: rng.next(), role: "evolve")
        let outcome = await chat.run(payload: (try? JSONEncoder().encode(call)) ?? Data())
        guard outcome.status == .succeeded, let reply = try? JSONDecoder().decode(LLMJobOutput.self, from: outcome.output) else {
            return "evolve: the model call \(outcome.status.rawValue): \(outcome.error)"
        }
        output.modelCalls = 1
        output.tokens = reply.promptTokens + reply.completionTokens
        output.costUSD = reply.costUSD
        output.transcript = String(reply.text.suffix(8192))
        guard let rewritten = ModelMutation.rewrite(reply.text, of: text) else {
            return "evolve: the model's reply held no changed \(path) in a fenced block"
        }
        do {
            try rewritten.write(to: url, atomically: true, encoding: .utf8)
            try workspace.submit(message: "evolve: the model rewrote \(path)")
            return "evolve: submitted"
        } catch {
            return "evolve: \(error)"
        }
    }

    /// The `evolve` runtime: mutate the listed files' numbers, submit. Returns how it ended.
    private func evolve(_ job: DiscoveryStepJob, in workspace: DiscoveryWorkspace) -> String {
        guard let mutation = job.evolve else { return "no evolve settings in the job" }
        var rng = SeededGenerator(seed: mutation.seed)
        var changed: [String] = []
        for path in mutation.files {
            let url = workspace.root.appendingPathComponent(path)
            guard let text = try? String(contentsOf: url, encoding: .utf8),
                  let mutated = NumericMutation.mutate(text, scale: mutation.scale, using: &rng) else { continue }
            guard (try? mutated.write(to: url, atomically: true, encoding: .utf8)) != nil else { continue }
            changed.append(path)
        }
        guard !changed.isEmpty else { return "evolve: no decimal numbers to mutate in \(mutation.files.joined(separator: ", "))" }
        do {
            try workspace.submit(message: "evolve: mutate \(changed.joined(separator: ", ")) (scale \(mutation.scale))")
            return "evolve: submitted"
        } catch {
            return "evolve: \(error)"
        }
    }
}
