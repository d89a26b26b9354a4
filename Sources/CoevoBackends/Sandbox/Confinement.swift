import Foundation
import Glibc

/// How a worker runs code it does not trust: agents' commands, the candidates they wrote,
/// and graders. Decided once when the worker starts (`detect`), then read by every step.
///
/// - With bubblewrap, every such command runs in a sandbox of its own (`SandboxView`): its
///   own mount, pid, IPC and UTS namespaces, no network unless its view asks for one, a
///   private `/tmp`, the system's directories read-only, and only the paths its view names.
/// - With `users` (the worker is root), each agent, the candidates and the graders run as
///   user ids of their own from that range; without, everything runs as the worker's user.
/// - With `cgroups` (the worker is root, or was delegated its group), every step's agent
///   and every candidate runs in a control group of its own that holds its memory and
///   processes; without, only per-process rlimits hold them.
/// - Without bubblewrap a worker refuses agents and candidates unless it was started with
///   `--unsandboxed`, and then every step says so in its result.
public struct Confinement: Hashable, Sendable {
    /// bubblewrap's path; nil: no sandbox.
    public var bubblewrap: String?
    /// The user ids handed out; nil: commands run as the worker's own user.
    public var users: UserRange?
    /// Paths every sandbox sees read-only besides the system's (`--sandbox-ro`).
    public var readOnly: [String]
    /// Why agent code may not run here; nil: it may.
    public var refusal: String?
    /// Where a step's control group is made, or why none can be.
    public var cgroups: Result<StepCgroups, StepCgroups.Unavailable>

    public init(bubblewrap: String?, users: UserRange?, readOnly: [String] = [], refusal: String? = nil,
                cgroups: Result<StepCgroups, StepCgroups.Unavailable> = .failure(.init(reason: "not asked for"))) {
        self.bubblewrap = bubblewrap
        self.users = users
        self.readOnly = readOnly
        self.refusal = refusal
        self.cgroups = cgroups
    }

    /// Neither a sandbox nor other users: what `--unsandboxed` gives a worker that is not root.
    public static let none = Confinement(bubblewrap: nil, users: nil)

    /// What this machine allows: a sandbox where bubblewrap runs, user ids of their own
    /// where the worker is root. `unsandboxed` lets agents run without a sandbox (with a
    /// warning in every step) where there is none, or where the caller wants none.
    public static func detect(unsandboxed: Bool, users range: UserRange = .default, readOnly: [String] = []) -> Confinement {
        let users = geteuid() == 0 ? range : nil
        let cgroups = StepCgroups.detect()
        if unsandboxed { return Confinement(bubblewrap: nil, users: users, readOnly: readOnly, cgroups: cgroups) }
        switch probe(users: users) {
        case .success(let path):
            return Confinement(bubblewrap: path, users: users, readOnly: readOnly, cgroups: cgroups)
        case .failure(let why):
            return Confinement(bubblewrap: nil, users: users, readOnly: readOnly, refusal: """
                this worker cannot sandbox agents (\(why.reason)); install bubblewrap (apt-get install bubblewrap) and, \
                when not running as root, allow user namespaces, or start the worker with --unsandboxed to run agents \
                with the worker's rights
                """, cgroups: cgroups)
        }
    }

    /// What a worker started with no flag gets (probed once per process).
    public static let detected = detect(unsandboxed: false)

    /// Whether one command in a sandbox starts and ends cleanly here.
    static func probe(users: UserRange?) -> Result<String, Refusal> {
        let places: [String] = ["/usr/bin/bwrap", "/bin/bwrap", "/usr/local/bin/bwrap"]
        guard let path = places.first(where: { (place: String) in access(place, X_OK) == 0 }) else {
            return .failure(Refusal(reason: "bubblewrap (bwrap) is not installed"))
        }
        let trial = Confinement(bubblewrap: path, users: users)
        let spec = trial.confine(CommandSpec(arguments: ["/bin/sh", "-c", "exit 0"], workingDirectory: "/"),
                                 view: SandboxView(), user: users?.candidate)
        let outcome = CommandRunner.runBlocking(spec, input: Data())
        guard outcome.succeeded else {
            return .failure(Refusal(reason: "bwrap failed: \(String(decoding: outcome.stderr.suffix(300), as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines))"))
        }
        return .success(path)
    }

    struct Refusal: Error {
        var reason: String
    }

    /// The user a grader runs as: the task's (`configured`), else the range's graders' id;
    /// nil where the worker hands out no users.
    public func graderUser(configured: UInt32?) -> UInt32? {
        users.map { configured ?? $0.grader }
    }

    /// A new control group for one command, held to `memoryBytes` and `processes`; nil
    /// where this worker makes none (then only rlimits hold it).
    public func cgroup(memoryBytes: Int, processes: Int) throws -> StepCgroup? {
        guard case .success(let cgroups) = cgroups else { return nil }
        return try cgroups.make("coevo-\(getpid())-\(UUID().uuidString.prefix(13))", memoryBytes: memoryBytes, processes: processes)
    }

    /// What a step's result says of how its agent ran, when it ran without a sandbox.
    public var warning: String? {
        guard bubblewrap == nil else { return nil }
        return "UNSANDBOXED (the worker was started with --unsandboxed): the agent ran "
            + (users == nil ? "as the worker's user, " : "as a user of its own, ") + "with the worker's view of this machine and its network"
    }
}

/// The user ids a root worker hands out: the first to candidates, the second to graders
/// (unless the task names one), the rest to agents, one each. None needs an entry in
/// `/etc/passwd`.
public struct UserRange: Hashable, Sendable {
    public var first: UInt32
    public var count: UInt32

    public init(first: UInt32, count: UInt32) {
        self.first = first
        self.count = count
    }

    /// Above the ranges that systemd and container runtimes use, below 2^31 (which some
    /// tools read as negative).
    public static let `default` = UserRange(first: 2_000_000_000, count: 65_536)

    public var candidate: UInt32 { first }
    public var grader: UInt32 { first + 1 }
    /// How many agents the range holds.
    public var agentCapacity: Int { max(0, Int(count) - 2) }
    public func agent(_ index: Int) -> UInt32 { first + 2 + UInt32(index) }

    /// Parses `FIRST-LAST` (inclusive), as `--uid-range` takes it.
    public init?(parsing text: String) {
        let parts = text.split(separator: "-").map { UInt32($0) }
        guard parts.count == 2, let low = parts[0], let high = parts[1], low > 0, high >= low + 2, high < UInt32.max else { return nil }
        self.init(first: low, count: high - low + 1)
    }
}
