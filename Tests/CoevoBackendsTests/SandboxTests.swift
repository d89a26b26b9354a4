@testable import CoevoBackends
import CoevoCore
import CoevoTestSupport
import Foundation
import Glibc
import Testing

/// The sandbox's pure parts: the bubblewrap command line a view becomes, the user ids
/// agents get, what a program needs shown, and the worker's reads of what an agent left.
/// Bad input tried for the reads: a link as the file, a link as a directory on the way,
/// a FIFO, an oversize file, another user's file (a hard link's look), a path with `..`.
@Suite struct SandboxTests {
    static let confinement = Confinement(bubblewrap: "/usr/bin/bwrap", users: UserRange(first: 5000, count: 100), readOnly: ["/srv/extra"])

    @Test func aViewBecomesMountsInAnOrderThatWorks() {
        let spec = CommandSpec(arguments: ["sh", "agent.sh"], workingDirectory: "/w/ws")
        let view = SandboxView(writable: ["/w/ws", "/w/ws.home"], readOnly: ["/w/ws/.coevo/shared", "/t/bin", "/t/bin/coevo"])
        let confined = Self.confinement.confine(spec, view: view, user: 5007)
        let args = confined.arguments
        func index(_ sequence: [String]) -> Int? {
            (0...(args.count - sequence.count)).first { Array(args[$0..<($0 + sequence.count)]) == sequence }
        }
        #expect(args.first == "/usr/bin/bwrap" && args.contains("--unshare-net") && args.contains("--unshare-pid"))
        #expect(args.contains("--unshare-user") == (geteuid() != 0))
        // The directories above mount points are made passable, once, before any bind.
        let dirs = [["--perms", "0755", "--dir", "/w"], ["--perms", "0755", "--dir", "/t"]].compactMap(index)
        #expect(dirs.count == 2 && dirs.allSatisfy { $0 < index(["--bind", "/w/ws", "/w/ws"])! }, "\(args)")
        #expect(index(["--dir", "/w/ws"]) == nil && index(["--dir", "/w/ws/.coevo"]) == nil)
        // A file inside a shown directory is shown with it, not mounted again.
        #expect(index(["--ro-bind-try", "/t/bin", "/t/bin"]) != nil && index(["--ro-bind-try", "/t/bin/coevo", "/t/bin/coevo"]) == nil)
        #expect(index(["--ro-bind-try", "/srv/extra", "/srv/extra"]) != nil)
        // The shared view goes read-only over the writable workspace, after it.
        let workspace = index(["--bind", "/w/ws", "/w/ws"])!, shared = index(["--ro-bind", "/w/ws/.coevo/shared", "/w/ws/.coevo/shared"])!
        #expect(workspace < shared)
        // /tmp is private and capped; the user is dropped inside, after the mounts.
        #expect(index(["--perms", "01777", "--size", String(256 << 20), "--tmpfs", "/tmp"]) != nil)
        #expect(Array(args.suffix(10)) == ["/usr/bin/setpriv", "--reuid=5007", "--regid=5007", "--clear-groups", "--no-new-privs",
                                            "--inh-caps=-all", "--bounding-set=-all", "--", "sh", "agent.sh"])
        #expect(confined.userID == nil && index(["--chdir", "/w/ws", "--"]) != nil)

        var networked = view
        networked.network = true
        #expect(!Self.confinement.confine(spec, view: networked, user: 5007).arguments.contains("--unshare-net"))
        // No sandbox: the command is the same, run as the user where there are users.
        let bare = Confinement(bubblewrap: nil, users: UserRange(first: 5000, count: 100)).confine(spec, view: view, user: 5007)
        #expect(bare.arguments == ["sh", "agent.sh"] && bare.userID == 5007)
        #expect(Confinement.none.confine(spec, view: view, user: 5007).userID == nil)
        #expect(Confinement.none.warning?.contains("UNSANDBOXED") == true && Self.confinement.warning == nil)
    }

    @Test func agentsGetUserIdsInOrderAndKeepThem() throws {
        var table = UserTable(range: UserRange(first: 5000, count: 4), assigned: ["old/a": 4000])
        #expect(table.assigned.isEmpty, "an id outside the range is forgotten")
        #expect(try table.user(for: "r/a0") == (5002, true))
        #expect(try table.user(for: "r/a1") == (5003, true))
        #expect(try table.user(for: "r/a0") == (5002, false))
        #expect(throws: UserTable.Exhausted.self) { try table.user(for: "r/a2") }
        #expect(UserRange(parsing: "2000000000-2000065535") == UserRange(first: 2_000_000_000, count: 65_536))
        for bad in ["5", "9-3", "0-100", "a-b", "10-11"] { #expect(UserRange(parsing: bad) == nil, "\(bad)") }

        let root = FileManager.default.temporaryDirectory.appendingPathComponent("coevo-users-\(UUID().uuidString.prefix(8))")
        defer { try? FileManager.default.removeItem(at: root) }
        let range = UserRange(first: 7000, count: 10)
        #expect(try AgentUsers(root: root, range: range).user(run: "r", agent: "a3") == 7002)
        #expect(try AgentUsers(root: root, range: range).user(run: "r", agent: "a4") == 7003)
        #expect(try AgentUsers(root: root, range: range).user(run: "r", agent: "a3") == 7002, "a restarted worker keeps the table")
    }

    @Test func aProgramBringsItsInstallationAndItsInterpreters() throws {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("coevo-install-\(UUID().uuidString.prefix(8))")
        defer { try? FileManager.default.removeItem(at: root) }
        let fm = FileManager.default
        for directory in ["venv/bin", "python/bin", "loose"] { try fm.createDirectory(at: root.appendingPathComponent(directory), withIntermediateDirectories: true) }
        try Data([0x7f, 0x45, 0x4c, 0x46]).write(to: root.appendingPathComponent("python/bin/python3.11"))  // a binary
        try fm.createSymbolicLink(atPath: root.appendingPathComponent("venv/bin/python3").path, withDestinationPath: root.appendingPathComponent("python/bin/python3.11").path)
        try Data("#!\(root.path)/venv/bin/python3\nprint(1)\n".utf8).write(to: root.appendingPathComponent("venv/bin/tool"))
        try Data("echo\n".utf8).write(to: root.appendingPathComponent("loose/script"))
        let paths = StepAgent.installation(of: root.appendingPathComponent("venv/bin/tool").path)
        #expect(paths == ["venv/bin/tool", "venv", "venv/bin/python3", "python/bin/python3.11", "python"].map { root.appendingPathComponent($0).path }, "\(paths)")
        // Outside a bin directory a program brings itself only (its directory may be /tmp).
        #expect(StepAgent.installation(of: root.appendingPathComponent("loose/script").path) == [root.appendingPathComponent("loose/script").path])
    }

    @Test func theWorkerReadsOnlyTheAgentsOwnPlainFiles() throws {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("coevo-files-\(UUID().uuidString.prefix(8))")
        defer { try? FileManager.default.removeItem(at: root) }
        let fm = FileManager.default
        try fm.createDirectory(at: root.appendingPathComponent("ws/notes"), withIntermediateDirectories: true)
        try fm.createDirectory(at: root.appendingPathComponent("outside"), withIntermediateDirectories: true)
        try Data("secret".utf8).write(to: root.appendingPathComponent("outside/secret.txt"))
        try Data("plain".utf8).write(to: root.appendingPathComponent("ws/notes/1.md"))
        try fm.createSymbolicLink(atPath: root.appendingPathComponent("ws/notes/2.md").path, withDestinationPath: root.appendingPathComponent("outside/secret.txt").path)
        try fm.createSymbolicLink(atPath: root.appendingPathComponent("ws/linked").path, withDestinationPath: root.appendingPathComponent("outside").path)
        #expect(mkfifo(root.appendingPathComponent("ws/notes/3.md").path, 0o644) == 0)
        try Data(repeating: 65, count: 2000).write(to: root.appendingPathComponent("ws/notes/4.md"))
        let files = AgentFiles(root: root.appendingPathComponent("ws"), owner: nil)

        #expect(try files.read("notes/1.md", limit: 100) == Data("plain".utf8))
        #expect(throws: AgentFiles.Refused.self) { try files.read("notes/2.md", limit: 100) }      // a link
        #expect(throws: AgentFiles.Refused.self) { try files.read("linked/secret.txt", limit: 100) }  // a link on the way
        #expect(throws: AgentFiles.Refused.self) { try files.read("notes/3.md", limit: 100) }      // a FIFO: refused at once, no hang
        #expect(throws: AgentFiles.Refused.self) { try files.read("../outside/secret.txt", limit: 100) }
        do {
            _ = try files.read("notes/4.md", limit: 1000)
            Issue.record("an oversize file was read")
        } catch {
            #expect(error.oversize == 2000)
        }
        #expect(files.list("notes") == ["1.md", "2.md", "3.md", "4.md"] && files.list("linked") == nil)
        #expect(files.exists("notes/1.md") && !files.exists("notes/2.md") && !files.exists("notes/3.md"))
        // A file that is not the agent's own (a hard link to another user's file looks so).
        let owned = AgentFiles(root: root.appendingPathComponent("ws"), owner: getuid() + 1)
        #expect(throws: AgentFiles.Refused.self) { try owned.read("notes/1.md", limit: 100) }
    }

    @Test func endpointsAreRelayedByNameOrLoopbackAddress() {
        let directory = URL(fileURLWithPath: "/w/a0.relay")
        let relay = EndpointRelay.plan(urls: ["http://127.0.0.1:8081/v1", "https://api.example.com", "https://other.example.org/x",
                                              "http://localhost:8081"], directory: directory)
        #expect(relay?.routes.map { "\($0.host) \($0.port) \($0.address)" }
                == ["127.0.0.1 8081 127.0.0.1", "api.example.com 443 127.0.2.2", "other.example.org 443 127.0.2.3", "localhost 8081 127.0.0.1"])
        #expect(relay?.hosts == "127.0.0.1 localhost\n::1 localhost\n127.0.2.2 api.example.com\n127.0.2.3 other.example.org\n")
        #expect(relay?.wrap(["mini", "-t", "go"]).suffix(4) == ["sh", "mini", "-t", "go"])
        #expect(relay?.wrap(["x"])[2].contains("socat TCP-LISTEN:443,bind=127.0.2.2,fork,reuseaddr UNIX-CONNECT:/w/a0.relay/1.sock &") == true)
        #expect(relay?.wrap(["x"])[2].contains("':01BB 00000000:0000 0A'") == true, "port 443 as /proc/net/tcp writes it")
        // An address off loopback cannot be dialled inside a sandbox.
        // An address off loopback gets one of its own inside, and the agent that address in
        // its URL; over TLS the certificate would not match, so that one is not relayed.
        let lan = EndpointRelay.plan(urls: ["http://10.1.2.3:8000", "http://[fd00::1]:8000"], directory: directory)
        #expect(lan?.inside("http://10.1.2.3:8000/v1") == "http://127.0.2.1:8000/v1" && lan?.inside("http://[fd00::1]:8000") == "http://127.0.2.2:8000")
        #expect(lan?.hosts == "127.0.0.1 localhost\n::1 localhost\n" && relay?.inside("https://api.example.com/v1") == "https://api.example.com/v1")
        #expect(EndpointRelay.plan(urls: ["https://10.1.2.3"], directory: directory) == nil)
    }

    /// Which tunnels the proxy opens. Bad input tried: a name that only ends like an allowed
    /// one, another port, a bare top-level name, requests that are not CONNECT, a missing port.
    @Test func theEgressProxyOpensOnlyWhatItsDomainsName() {
        let proxy = EgressProxy(domains: ["anthropic.com", "localhost:8080"], socket: "/x")
        #expect(proxy.allows(host: "api.anthropic.com", port: 443) && proxy.allows(host: "ANTHROPIC.COM.", port: 443))
        #expect(!proxy.allows(host: "evilanthropic.com", port: 443) && !proxy.allows(host: "anthropic.com.evil.org", port: 443))
        #expect(!proxy.allows(host: "api.anthropic.com", port: 80) && !proxy.allows(host: "com", port: 443))
        #expect(proxy.allows(host: "localhost", port: 8080) && !proxy.allows(host: "localhost", port: 8081) && !proxy.allows(host: "127.0.0.1", port: 8080))
        #expect(EgressProxy.target(of: "CONNECT api.anthropic.com:443 HTTP/1.1\r\nHost: x\r\n\r\n")! == ("api.anthropic.com", 443))
        #expect(EgressProxy.target(of: "CONNECT [::1]:443 HTTP/1.1\r\n\r\n")! == ("::1", 443))
        for bad in ["GET http://a.com/ HTTP/1.1\r\n\r\n", "CONNECT a.com HTTP/1.1\r\n\r\n", "CONNECT a.com:99999 HTTP/1.1\r\n\r\n",
                    "CONNECT a.com:443 SPDY/3\r\n\r\n"] {
            #expect(EgressProxy.target(of: bad) == nil, "\(bad)")
        }
        // A worker allows a group's egress only under what its --allow-egress names.
        #expect(WorkerPolicy(egress: ["pypi.org"]).refusal(forEgress: ["files.pypi.org", "pypi.org"]) == nil)
        #expect(WorkerPolicy(egress: ["pypi.org"]).refusal(forEgress: ["github.com"])?.contains("--allow-egress github.com") == true)
    }

    /// A grader directory where sandboxes look (here a `--sandbox-ro` path), readable by
    /// others, is refused with the fix; private, or anywhere sandboxes do not look, it is not.
    @Test func aGraderWhereSandboxesLookMustNotBeReadableByOthers() throws {
        let shown = FileManager.default.temporaryDirectory.appendingPathComponent("coevo-shown-\(UUID().uuidString.prefix(8))")
        defer { try? FileManager.default.removeItem(at: shown) }
        let grader = shown.appendingPathComponent("task/grader")
        try FileManager.default.createDirectory(at: grader, withIntermediateDirectories: true)
        _ = chmod(grader.path, 0o700)
        try Data("secret".utf8).write(to: grader.appendingPathComponent("hidden.txt"))
        _ = chmod(grader.appendingPathComponent("hidden.txt").path, 0o644)
        let problem = GraderExposure.problem(grader: grader.path, shown: [shown.path])
        #expect(problem?.contains("\(grader.path)/hidden.txt can be read by any user") == true
                && problem?.contains("chmod -R o-rwx \(grader.path)") == true, "\(problem ?? "nil")")
        #expect(GraderExposure.problem(grader: grader.path, shown: []) == nil, "not under anything a sandbox shows")
        _ = chmod(grader.appendingPathComponent("hidden.txt").path, 0o600)
        #expect(GraderExposure.problem(grader: grader.path, shown: [shown.path]) == nil)
    }

    /// A CLI with no endpoint reaches its vendor through the proxy and nothing else; an
    /// agent with an endpoint and egress gets both, its endpoint past the proxy.
    @Test func aCLIWithoutAnEndpointGetsItsVendorThroughTheProxy() throws {
        let workspace = DiscoveryWorkspace(root: URL(fileURLWithPath: "/w/run/agents/a0"))
        func agent(_ group: DiscoverySettings.AgentGroup) -> StepAgent {
            let job = DiscoveryStepJob(key: "r1.step.a0", run: "r", agent: "a0", launch: AgentLaunch(group: group, seed: 1), prompt: "p",
                                       chain: CommitChain(seedFiles: [], bundles: [], commit: nil), shared: SharedView(), evolve: nil,
                                       timeoutMilliseconds: 1000, stallMilliseconds: 0)
            return StepAgent(job: job, workspace: workspace, user: 5003, confinement: Self.confinement, tools: nil)
        }
        var claude = DiscoverySettings.AgentGroup()
        claude.runtime = .claudeCode
        guard case .relayed(let relay) = agent(claude).network else { Issue.record("claude-code shares the worker's network"); return }
        #expect(relay.routes.isEmpty && relay.egress?.domains == ["anthropic.com", "claude.ai", "claude.com"])
        let spec = agent(claude).spec(["claude", "-p", "go"], environment: [:])
        #expect(spec.environment["HTTPS_PROXY"] == EndpointRelay.proxyURL && spec.arguments.contains("--unshare-net"))
        #expect(spec.arguments.joined(separator: " ").contains("socat TCP-LISTEN:3128,bind=127.0.3.1,fork,reuseaddr UNIX-CONNECT:/w/run/agents/a0.relay/egress.sock"))

        var mini = DiscoverySettings.AgentGroup()
        mini.runtime = .miniSweAgent
        mini.egress = ["pypi.org"]
        mini.resolvedEndpoint = LLMJob.Endpoint(name: "gw", url: "https://gateway.example.net", model: "m")
        guard case .relayed(let both) = agent(mini).network else { Issue.record("mini-swe-agent shares the worker's network"); return }
        #expect(both.routes.map(\.host) == ["gateway.example.net"] && both.egress?.domains == ["pypi.org"])
        #expect(both.environment["NO_PROXY"] == "localhost,127.0.0.1,gateway.example.net,127.0.2.1")
        // A command agent that asks for nothing gets no network at all.
        var command = DiscoverySettings.AgentGroup()
        command.runtime = .command
        command.command = ["sh", "x"]
        guard case .none = agent(command).network else { Issue.record("a command agent got a network"); return }
    }

    /// Real HTTP servers on loopback `ports`, each answering `/health` with `health`.
    static func serve(_ health: String, at site: URL, on ports: [Int], bind: String = "127.0.0.1") async throws -> [Process] {
        try FileManager.default.createDirectory(at: site, withIntermediateDirectories: true)
        try Data(health.utf8).write(to: site.appendingPathComponent("health"))
        var servers: [Process] = []
        for port in ports {
            let server = Process()
            server.executableURL = URL(fileURLWithPath: "/usr/bin/python3")
            server.arguments = ["-m", "http.server", "\(port)", "--bind", bind, "--directory", site.path]
            server.standardOutput = FileHandle.nullDevice
            server.standardError = FileHandle.nullDevice
            try server.run()
            servers.append(server)
        }
        try await Task.sleep(for: .milliseconds(700))
        return servers
    }

    /// Runs one step of a stand-in mini-swe-agent (`body`: a shell script that writes
    /// `.coevo/trajectory.json`; its model response becomes the step's transcript) calling
    /// `endpoint`, on a worker with `policy`; returns how the step's job ended.
    static func standInStep(_ body: String, endpoint: String, policy: (String) -> WorkerPolicy, in root: URL) async throws -> JobOutcome {
        let mini = root.appendingPathComponent("bin/mini")
        try FileManager.default.createDirectory(at: mini.deletingLastPathComponent(), withIntermediateDirectories: true)
        try Data(("#!/bin/sh\n" + body).utf8).write(to: mini)
        _ = chmod(mini.path, 0o755)
        var group = DiscoverySettings.AgentGroup()
        group.runtime = .miniSweAgent
        group.program = mini.path
        group.resolvedEndpoint = LLMJob.Endpoint(name: "e", url: endpoint, model: "m")
        let job = try JSONEncoder().encode(DiscoveryStepJob(
            key: "r1.step.a0", run: "run-e", agent: "a0", launch: AgentLaunch(group: group, seed: 1), prompt: "go",
            chain: CommitChain(seedFiles: DiscoveryExecutorTests.seed, bundles: [], commit: nil), shared: SharedView(), evolve: nil,
            timeoutMilliseconds: 30_000, stallMilliseconds: 0))
        return await DiscoveryStepExecutor(root: root.appendingPathComponent("worker"), policy: policy(mini.path)).run(payload: job)
    }

    static func output(_ outcome: JobOutcome) throws -> DiscoveryStepOutput {
        #expect(outcome.status == .succeeded, "\(outcome.error)")
        return try JSONDecoder().decode(DiscoveryStepOutput.self, from: outcome.output)
    }

    /// An agent that calls an endpoint reaches it through the relay, and nothing else on
    /// the machine: a stand-in mini-swe-agent asks the endpoint (a real HTTP server) and
    /// then another service listening on loopback, and says what each answered.
    @Test(.enabled(if: getuid() == 0 && Confinement.detected.bubblewrap != nil && access("/usr/bin/socat", X_OK) == 0,
                   "needs root, bubblewrap and socat"))
    func anAgentReachesItsEndpointAndNothingElse() async throws {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("coevo-relay-\(UUID().uuidString.prefix(8))")
        defer { try? FileManager.default.removeItem(at: root) }
        let endpointPort = TestSupport.freePort(), otherPort = TestSupport.freePort()
        let servers = try await Self.serve("endpoint-ok", at: root.appendingPathComponent("site"), on: [endpointPort, otherPort])
        defer { for server in servers { kill(server.processIdentifier, SIGKILL); server.waitUntilExit() } }
        let output = try Self.output(try await Self.standInStep("""
            ask() { /usr/bin/python3 -c "import urllib.request; print(urllib.request.urlopen('http://127.0.0.1:$1/health', timeout=5).read().decode())" 2>&1 | tail -1 | tr -d '"'; }
            printf '{"info":{"exit_status":"LimitsExceeded","model_stats":{"api_calls":1}},"messages":[{"extra":{"model_response":"endpoint=%s other=%s"}}]}' "$(ask \(endpointPort))" "$(ask \(otherPort))" > .coevo/trajectory.json
            """, endpoint: "http://127.0.0.1:\(endpointPort)", policy: { WorkerPolicy(commands: [$0]) }, in: root))
        #expect(output.transcript.hasPrefix("endpoint=endpoint-ok other=") && output.transcript.contains("Connection refused"), "\(output.transcript) \(output.exit)")
    }

    /// This machine's first IPv4 address off loopback, if it has one.
    static var lanAddress: String? {
        guard let (status, output) = try? TestSupport.capture(["hostname", "-I"]), status == 0 else { return nil }
        return output.split(separator: " ").map(String.init).first { $0.contains(".") && !$0.hasPrefix("127.") }
    }

    /// An endpoint at an address off loopback (a model server on the LAN) is reached through
    /// a loopback address of its own inside, which the agent is given in its URL; the real
    /// address itself is out of reach from the sandbox.
    @Test(.enabled(if: getuid() == 0 && Confinement.detected.bubblewrap != nil && access("/usr/bin/socat", X_OK) == 0
                   && lanAddress != nil, "needs root, bubblewrap, socat and an address off loopback"))
    func anEndpointOffLoopbackIsReachedThroughAnAddressOfItsOwnInside() async throws {
        let lan = try #require(Self.lanAddress)
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("coevo-lan-\(UUID().uuidString.prefix(8))")
        defer { try? FileManager.default.removeItem(at: root) }
        let port = TestSupport.freePort()
        let servers = try await Self.serve("lan-ok", at: root.appendingPathComponent("site"), on: [port], bind: lan)
        defer { for server in servers { kill(server.processIdentifier, SIGKILL); server.waitUntilExit() } }
        let output = try Self.output(try await Self.standInStep("""
            for a in "$@"; do case $a in model.model_kwargs.api_base=*) base=${a#model.model_kwargs.api_base=} ;; esac; done
            ask() { /usr/bin/python3 -c "import urllib.request, sys; print(urllib.request.urlopen(sys.argv[1], timeout=5).read().decode())" "$1" 2>&1 | tail -1 | tr -d '"'; }
            printf '{"info":{"exit_status":"LimitsExceeded","model_stats":{"api_calls":1}},"messages":[{"extra":{"model_response":"given=%s endpoint=%s direct=%s"}}]}' "$base" "$(ask ${base%/v1}/health)" "$(ask http://\(lan):\(port)/health)" > .coevo/trajectory.json
            """, endpoint: "http://\(lan):\(port)", policy: { WorkerPolicy(endpoints: ["http://\(lan):\(port)"], commands: [$0]) }, in: root))
        #expect(output.transcript.hasPrefix("given=http://127.0.2.1:\(port)/v1 endpoint=lan-ok direct=")
                && output.transcript.contains("unreachable"), "\(output.transcript) \(output.exit)")
        // Over HTTPS it cannot be relayed: the step is refused, not run on the worker's network.
        let https = try await Self.standInStep("exit 0", endpoint: "https://\(lan):\(port)",
                                               policy: { WorkerPolicy(endpoints: ["https://\(lan):\(port)"], commands: [$0]) }, in: root)
        #expect(https.status == .failed && https.error.contains("name the endpoint by a host name"), "\(https.status) \(https.error)")
    }

    /// A command agent whose group allows one host reaches it through the proxy, and nothing
    /// else: not another port on the machine's loopback, not an outside name, not its own
    /// host without the proxy. Each attempt is a raw CONNECT, as an HTTPS client makes it.
    @Test(.enabled(if: getuid() == 0 && Confinement.detected.bubblewrap != nil && access("/usr/bin/socat", X_OK) == 0,
                   "needs root, bubblewrap and socat"))
    func anAgentReachesItsEgressHostsAndNothingElse() async throws {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("coevo-egress-\(UUID().uuidString.prefix(8))")
        defer { try? FileManager.default.removeItem(at: root) }
        let allowedPort = TestSupport.freePort(), otherPort = TestSupport.freePort()
        let servers = try await Self.serve("egress-ok", at: root.appendingPathComponent("site"), on: [allowedPort, otherPort])
        defer { for server in servers { kill(server.processIdentifier, SIGKILL); server.waitUntilExit() } }
        let script = root.appendingPathComponent("agent.py")
        try Data("""
            import os, socket
            proxy = os.environ["HTTPS_PROXY"].split("//")[1].split(":")
            def tunnel(target):
                try:
                    s = socket.create_connection((proxy[0], int(proxy[1])), 5)
                    s.sendall(f"CONNECT {target} HTTP/1.1\\r\\nHost: {target}\\r\\n\\r\\n".encode())
                    status = s.recv(4096).decode().split("\\r\\n")[0]
                    if " 200 " not in status: return status
                    s.sendall(b"GET /health HTTP/1.0\\r\\n\\r\\n")
                    reply = b""
                    while chunk := s.recv(4096): reply += chunk
                    return reply.decode().split("\\r\\n\\r\\n")[-1]
                except OSError as e:
                    return type(e).__name__
            def direct(port):
                try:
                    socket.create_connection(("127.0.0.1", port), 5); return "connected"
                except OSError as e:
                    return type(e).__name__
            print(f"allowed=[{tunnel('localhost:\(allowedPort)')}] other=[{tunnel('localhost:\(otherPort)')}] "
                  f"ip=[{tunnel('127.0.0.1:\(allowedPort)')}] outside=[{tunnel('example.org:443')}] direct=[{direct(\(allowedPort))}]")
            """.utf8).write(to: script)
        var group = DiscoverySettings.AgentGroup()
        group.runtime = .command
        group.command = ["/usr/bin/python3", script.path]
        group.egress = ["localhost:\(allowedPort)"]
        let job = try JSONEncoder().encode(DiscoveryStepJob(
            key: "r1.step.a0", run: "run-egress", agent: "a0", launch: AgentLaunch(group: group, seed: 1), prompt: "go",
            chain: CommitChain(seedFiles: DiscoveryExecutorTests.seed, bundles: [], commit: nil), shared: SharedView(), evolve: nil,
            timeoutMilliseconds: 30_000, stallMilliseconds: 0))
        let refused = await DiscoveryStepExecutor(root: root.appendingPathComponent("worker"), policy: WorkerPolicy(commands: ["/usr/bin/python3"]))
            .run(payload: job)
        #expect(refused.status == .unsupported && refused.error.contains("--allow-egress localhost:\(allowedPort)"), "\(refused.error)")
        let policy = WorkerPolicy(commands: ["/usr/bin/python3"], egress: ["localhost:\(allowedPort)"])
        let outcome = await DiscoveryStepExecutor(root: root.appendingPathComponent("worker"), policy: policy).run(payload: job)
        #expect(outcome.status == .succeeded, "\(outcome.error)")
        let output = try JSONDecoder().decode(DiscoveryStepOutput.self, from: outcome.output)
        #expect(output.transcript.contains("allowed=[egress-ok] other=[HTTP/1.1 403 Forbidden] ip=[HTTP/1.1 403 Forbidden] "
                                           + "outside=[HTTP/1.1 403 Forbidden] direct=[ConnectionRefusedError]"), "\(output.transcript) \(output.exit)")
    }

    /// A worker that cannot sandbox hands agent steps and grades back, saying why, and still
    /// runs the built-in evolve (no code of an agent's); one started with --unsandboxed runs
    /// them, and the step's result says so.
    @Test func aWorkerWithoutASandboxRefusesAgentsOrSaysItRanThemUnsandboxed() async throws {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("coevo-nosandbox-\(UUID().uuidString.prefix(8))")
        defer { try? FileManager.default.removeItem(at: root) }
        var group = DiscoverySettings.AgentGroup()
        group.runtime = .command
        group.command = ["sh", "-c", "read -r x; echo more >> TASK.md; coevo eval -m more"]
        let job = try JSONEncoder().encode(DiscoveryStepJob(
            key: "r1.step.a0", run: "run-n", agent: "a0", launch: AgentLaunch(group: group, seed: 1), prompt: "go",
            chain: CommitChain(seedFiles: DiscoveryExecutorTests.seed, bundles: [], commit: nil), shared: SharedView(), evolve: nil,
            timeoutMilliseconds: 30_000, stallMilliseconds: 0))
        let unable = Confinement(bubblewrap: nil, users: nil, refusal: "no sandbox here")
        let refused = await DiscoveryStepExecutor(root: root, policy: WorkerPolicy(commands: ["sh"], confinement: unable)).run(payload: job)
        #expect(refused.status == .unsupported && refused.error.contains("no sandbox here"), "\(refused.error)")
        let grade = await DiscoveryGradeExecutor(root: root, policy: WorkerPolicy(commands: ["sh"], confinement: unable))
            .run(payload: DiscoveryExecutorTests.grade(key: "g", chain: CommitChain(seedFiles: DiscoveryExecutorTests.seed, bundles: [], commit: nil), script: "echo"))
        #expect(grade.status == .unsupported && grade.error.contains("no sandbox here"))
        let evolve = await DiscoveryStepExecutor(root: root, policy: WorkerPolicy(confinement: unable))
            .run(payload: DiscoveryExecutorTests.step(key: "r1.step.a1", agent: "a1", chain: CommitChain(seedFiles: DiscoveryExecutorTests.seed, bundles: [], commit: nil)))
        #expect(evolve.status == .succeeded)

        let ran = await DiscoveryStepExecutor(root: root, policy: WorkerPolicy(commands: ["sh"], confinement: .none)).run(payload: job)
        #expect(ran.status == .succeeded, "\(ran.error)")
        let output = try JSONDecoder().decode(DiscoveryStepOutput.self, from: ran.output)
        #expect(output.commit != nil && output.exit.contains("UNSANDBOXED"), "\(output.exit)")
    }
}
