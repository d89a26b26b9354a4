import Foundation
import Glibc

/// What one sandboxed command sees of the machine besides the system's read-only
/// directories: the paths it may write, the paths it may read, whether it has a network,
/// and how large its private `/tmp` may grow. Every path appears at the same place inside
/// as outside, so paths in prompts and environment variables stay true.
public struct SandboxView: Hashable, Sendable {
    public var writable: [String] = []
    public var readOnly: [String] = []
    /// Shares the worker's network (an agent that calls a model endpoint); otherwise the
    /// sandbox has a loopback of its own and nothing else.
    public var network = false
    /// A file shown as the sandbox's `/etc/hosts` (the names an `EndpointRelay` serves).
    public var hosts: String?
    public var tmpBytes = 256 << 20

    public init(writable: [String] = [], readOnly: [String] = [], network: Bool = false) {
        self.writable = writable
        self.readOnly = readOnly
        self.network = network
    }

    /// The system's directories, read-only in every sandbox: programs, libraries and their
    /// configuration. `/root`, `/home`, `/run`, `/var`, `/srv` and `/tmp` of the worker are not among them.
    static let system = ["/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32", "/etc", "/opt"]
}

extension Confinement {
    /// `spec` as it runs here for code that is not trusted: in a sandbox showing `view`
    /// when this worker has bubblewrap, and as `user` when it hands out user ids. The
    /// sandbox's processes live in a pid namespace of their own: when the command ends
    /// (or its group is killed) nothing it started survives, detached or not.
    public func confine(_ spec: CommandSpec, view: SandboxView, user: UInt32?) -> CommandSpec {
        var confined = spec
        let user = users == nil ? nil : user
        guard let bubblewrap else {
            confined.userID = user
            return confined
        }
        var arguments = [bubblewrap, "--unshare-pid", "--unshare-ipc", "--unshare-uts", "--unshare-cgroup-try",
                         "--die-with-parent", "--new-session"]
        // Root sets the mounts up with its own rights and drops them inside (below);
        // another user needs a user namespace to make mounts at all.
        if geteuid() != 0 { arguments.append("--unshare-user") }
        if !view.network { arguments.append("--unshare-net") }
        for path in SandboxView.system { arguments += ["--ro-bind-try", path, path] }
        if let hosts = view.hosts { arguments += ["--ro-bind", hosts, "/etc/hosts"] }
        arguments += ["--proc", "/proc", "--dev", "/dev",
                      "--perms", "01777", "--size", String(view.tmpBytes), "--tmpfs", "/tmp"]
        // Read-only paths inside a writable one (a workspace's view of the pool's memory)
        // are mounted over it, after it; parents are mounted before their children.
        let inside = { (path: String) in view.writable.contains { path.hasPrefix($0 + "/") } }
        // bubblewrap makes the directories above a mount point for root's eyes only (0700):
        // make them passable first, or the sandbox's user could not reach what it is shown.
        for path in Self.ancestors(of: readOnly + view.readOnly + view.writable) { arguments += ["--perms", "0755", "--dir", path] }
        let shown = Self.distinct(readOnly + view.readOnly)
        // A path inside another one shown is shown with it (a mount point cannot be made in a read-only mount).
        for path in shown where !inside(path) && !shown.contains(where: { path.hasPrefix($0 + "/") }) {
            arguments += ["--ro-bind-try", path, path]
        }
        for path in Self.distinct(view.writable).sorted(by: { $0.count < $1.count }) { arguments += ["--bind", path, path] }
        for path in Self.distinct(view.readOnly).sorted(by: { $0.count < $1.count }) where inside(path) { arguments += ["--ro-bind", path, path] }
        arguments += ["--chdir", spec.workingDirectory, "--"]
        if let user {
            arguments += ["/usr/bin/setpriv", "--reuid=\(user)", "--regid=\(user)", "--clear-groups", "--no-new-privs",
                          "--inh-caps=-all", "--bounding-set=-all", "--"]
        }
        confined.arguments = arguments + spec.arguments
        confined.userID = nil  // dropped inside, after the mounts
        return confined
    }

    /// The directories above `paths` that a sandbox has to make: not `/`, `/tmp` or a
    /// system directory (or anything in one), nor one of `paths` itself; parents first.
    static func ancestors(of paths: [String]) -> [String] {
        var found: Set<String> = []
        for path in paths {
            var cursor = (path as NSString).deletingLastPathComponent
            while cursor != "/" && !cursor.isEmpty {
                found.insert(cursor)
                cursor = (cursor as NSString).deletingLastPathComponent
            }
        }
        let fixed = Set(SandboxView.system + ["/tmp"] + paths)
        return found.filter { path in !fixed.contains(path) && !SandboxView.system.contains { path.hasPrefix($0 + "/") }
            && !paths.contains { path.hasPrefix($0 + "/") } }.sorted { ($0.count, $0) < ($1.count, $1) }
    }

    /// `paths` without repeats, in order.
    static func distinct(_ paths: [String]) -> [String] {
        var kept: [String] = []
        for path in paths where !kept.contains(path) { kept.append(path) }
        return kept
    }
}
