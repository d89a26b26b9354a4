import CoevoCore
import Foundation

/// One step's agent as the worker runs its code: the user it runs as, what its sandbox
/// shows, and the worker's own reads of what it left. Everything that runs in the agent's
/// workspace after the worker made it (the agent, and the git that bundles its
/// submission) runs through `spec`, confined, never with the worker's rights.
struct StepAgent: Sendable {
    let job: DiscoveryStepJob
    let workspace: DiscoveryWorkspace
    /// The agent's own user id (nil: the worker's user).
    let user: UInt32?
    let confinement: Confinement
    /// Where `coevo` is, first on the agent's PATH.
    let tools: URL?
    /// The step's control group, which everything run as the agent joins (nil: none here).
    var cgroup: StepCgroup? = nil

    /// The worker's reads of the agent's files.
    var files: AgentFiles { AgentFiles(root: workspace.root, owner: user) }
    var homeFiles: AgentFiles { AgentFiles(root: workspace.home, owner: user) }

    var path: String { ([tools?.path].compactMap { $0 } + ["/usr/local/bin", "/usr/bin", "/bin"]).joined(separator: ":") }

    /// How the agent reaches the network: not at all (it calls nothing), only its endpoint
    /// and its egress hosts (a CLI's vendor, its group's `egress`) through an
    /// `EndpointRelay`, or as the worker does (no sandbox; or an endpoint the relay cannot
    /// serve, which a sandboxing worker refuses to run).
    enum Network {
        case none
        case relayed(EndpointRelay)
        case shared
    }

    var network: Network {
        let urls = job.launch.endpoint.map { [$0.url] } ?? [], egress = job.launch.egressDomains
        guard !urls.isEmpty || !egress.isEmpty else { return .none }
        guard confinement.bubblewrap != nil,
              let relay = EndpointRelay.plan(urls: urls, egress: egress, directory: workspace.relayDirectory) else { return .shared }
        return .relayed(relay)
    }

    /// The launch as the agent sees it: its endpoint's URL as it dials it inside the sandbox.
    var launch: AgentLaunch {
        guard case .relayed(let relay) = network else { return job.launch }
        var launch = job.launch
        if let url = launch.endpoint?.url { launch.endpoint?.url = relay.inside(url) }
        launch.apiBase = launch.apiBase.map(relay.inside)
        return launch
    }

    /// Its workspace and home writable; the pool's shared view, the worker's tools, its
    /// program's installation and any file its command line names read-only; the
    /// network `network` says.
    func view(arguments: [String]) -> SandboxView {
        var readOnly = [workspace.shared.path] + [tools?.path].compactMap { $0 }
        if let program = arguments.first, program.hasPrefix("/") { readOnly += Self.installation(of: program) }
        let writable = [workspace.root.path, workspace.home.path]
        // A path its command line names outside them (a script); inside, it is writable already.
        readOnly += arguments.dropFirst().filter { argument in
            argument.hasPrefix("/") && argument != "/" && FileManager.default.fileExists(atPath: argument)
                && !writable.contains { argument == $0 || argument.hasPrefix($0 + "/") }
        }
        var view = SandboxView(writable: writable, readOnly: readOnly)
        switch network {
        case .none: break
        case .shared: view.network = true
        case .relayed(let relay):
            view.readOnly.append(relay.directory.path)
            view.hosts = relay.hostsFile.path
        }
        return view
    }

    /// What running `program` takes besides the system's directories: the file, the file
    /// its links lead to, the prefix of a `bin` directory either is in (a virtual
    /// environment, an installation), and the same for the interpreter a script names on
    /// its `#!` line (a virtual environment's Python may live anywhere, pyenv's under /root).
    static func installation(of program: String, depth: Int = 0) -> [String] {
        let resolved = URL(fileURLWithPath: program).resolvingSymlinksInPath().path
        var paths: [String] = []
        for path in [program, resolved] where !paths.contains(path) {
            paths.append(path)
            let directory = URL(fileURLWithPath: path).deletingLastPathComponent()
            let prefix = directory.deletingLastPathComponent().path
            if directory.lastPathComponent == "bin" && !["/", "/tmp"].contains(prefix) && !SandboxView.system.contains(prefix) {
                paths.append(prefix)
            }
        }
        guard depth < 2, let handle = FileHandle(forReadingAtPath: resolved) else { return paths }
        defer { try? handle.close() }
        let head = String(decoding: (try? handle.read(upToCount: 256)) ?? Data(), as: UTF8.self)
        guard head.hasPrefix("#!"), let line = head.dropFirst(2).split(separator: "\n").first,
              let interpreter = line.split(separator: " ").first, interpreter.hasPrefix("/") else { return paths }
        return installation(of: String(interpreter), depth: depth + 1).reduce(into: paths) { all, path in
            if !all.contains(path) { all.append(path) }
        }
    }

    /// `arguments` as they run for this agent, in its workspace, with `environment`; with
    /// `offline`, with no network at all (its own tools: git, `coevo eval`).
    func spec(_ arguments: [String], environment: [String: String], offline: Bool = false) -> CommandSpec {
        var view = view(arguments: arguments)
        var command = arguments
        if offline {
            view = SandboxView(writable: view.writable, readOnly: view.readOnly)
        } else if case .relayed(let relay) = network {
            command = relay.wrap(arguments)
        }
        var spec = CommandSpec(arguments: command, workingDirectory: workspace.root.path)
        spec.environment = environment
        if !offline, case .relayed(let relay) = network { spec.environment.merge(relay.environment) { _, proxy in proxy } }
        spec.cgroups = cgroup?.procs ?? []
        return confinement.confine(spec, view: view, user: user)
    }

    /// The environment of the agent's own tools (`coevo eval`, git) in its workspace.
    var toolEnvironment: [String: String] {
        Git.identity(agent: job.agent).merging(AgentLaunch.workerEnvironment(
            workspace: workspace.root.path, agent: job.agent, home: workspace.home.path, path: path)) { _, fixed in fixed }
    }

    /// Runs `coevo eval -m message` as the agent (for runtimes whose clean exit submits
    /// what they changed). Returns why it did not submit, or nil.
    func submit(message: String) async -> String? {
        guard let tools else { return "no coevo beside this worker to submit with" }
        var spec = spec([tools.appendingPathComponent("coevo").path, "eval", "-m", message], environment: toolEnvironment, offline: true)
        spec.timeoutMilliseconds = 120_000
        let outcome = await CommandRunner.run(spec)
        return outcome.succeeded ? nil : String(decoding: outcome.stderr.suffix(400), as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// The git bundle of `submission`, made in the workspace as the agent (its hooks and
    /// configuration run with its rights, in its sandbox) and read back as the worker
    /// reads an agent's files: no link, at most `DiscoveryWorkspace.maxBundleBytes`.
    func bundle(_ submission: DiscoveryWorkspace.Submission) async throws -> Data {
        let script = #"git update-ref refs/coevo/out "$1" && git bundle create -q .coevo/out.bundle refs/coevo/out "^$2""#
        var spec = spec(["/bin/sh", "-c", script, "sh", submission.commit, submission.parent], environment: toolEnvironment, offline: true)
        spec.timeoutMilliseconds = 120_000
        let outcome = await CommandRunner.run(spec)
        guard outcome.succeeded else {
            throw GitError(description: "it could not be bundled: \(String(decoding: outcome.stderr.suffix(300), as: UTF8.self))")
        }
        do {
            return try files.read(DiscoveryWorkspace.outgoingBundle, limit: DiscoveryWorkspace.maxBundleBytes)
        } catch {
            guard let size = error.oversize else { throw GitError(description: "its bundle: \(error)") }
            throw GitError(description: "it is \(DiscoveryWorkspace.mebibytes(size)) as a git bundle, over the "
                           + "\(DiscoveryWorkspace.mebibytes(DiscoveryWorkspace.maxBundleBytes)) a submission may be")
        }
    }
}
