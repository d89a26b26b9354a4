import Foundation
import Glibc

/// Where a worker makes a control group per step, so that the kernel holds everything a
/// step starts to its memory and process limits and counts its CPU time, whatever the
/// step forks, daemonises or runs as. Found once when the worker starts (`detect`);
/// nil where the worker cannot write the controllers it needs (not root, no delegation).
///
/// cgroup v1 (a hierarchy per controller: `memory`, `pids`, `cpuacct`) and the unified
/// v2 tree are both read: a group is made below the worker's own group in each.
public struct StepCgroups: Hashable, Sendable {
    public enum Layout: Hashable, Sendable {
        /// The worker's own group in each v1 hierarchy.
        case v1(memory: String, pids: String, cpuacct: String)
        /// The worker's group in the v2 tree, with `memory` and `pids` enabled for its children.
        case v2(String)
    }

    public let layout: Layout

    /// The controllers this worker can use, or why not (for its start-up line).
    public static func detect() -> Result<StepCgroups, Unavailable> {
        let own = ownGroups()
        let root = "/sys/fs/cgroup"
        if FileManager.default.fileExists(atPath: root + "/cgroup.controllers"), let path = own[""] {
            return v2(root + path)
        }
        var found: [String: String] = [:]
        for controller in ["memory", "pids", "cpuacct"] {
            guard let path = own[controller] else { return .failure(Unavailable(reason: "no cgroup v1 \(controller) hierarchy")) }
            let directory = "\(root)/\(controller)\(path == "/" ? "" : path)"
            guard access(directory, F_OK) == 0 else {
                return .failure(Unavailable(reason: "\(directory) is not there (is the cgroup v1 \(controller) hierarchy mounted in this mount namespace?)"))
            }
            guard access(directory, W_OK) == 0 else {
                return .failure(Unavailable(reason: "\(directory) is not writable by this worker (run it as root)"))
            }
            found[controller] = directory
        }
        return .success(StepCgroups(layout: .v1(memory: found["memory"]!, pids: found["pids"]!, cpuacct: found["cpuacct"]!)))
    }

    public struct Unavailable: Error, Hashable, Sendable {
        public var reason: String
        public init(reason: String) { self.reason = reason }
    }

    /// The worker's group per controller, from `/proc/self/cgroup` (v2's under the key "").
    static func ownGroups() -> [String: String] {
        guard let text = try? String(contentsOfFile: "/proc/self/cgroup", encoding: .utf8) else { return [:] }
        var groups: [String: String] = [:]
        for line in text.split(separator: "\n") {
            let parts = line.split(separator: ":", maxSplits: 2, omittingEmptySubsequences: false)
            guard parts.count == 3 else { continue }
            for controller in parts[1].split(separator: ",", omittingEmptySubsequences: false) {
                groups[String(controller)] = String(parts[2])
            }
        }
        return groups
    }

    /// v2 needs the controllers enabled in the worker's group, which the kernel allows only
    /// for a group with no processes of its own: the worker moves itself into a leaf first.
    private static func v2(_ group: String) -> Result<StepCgroups, Unavailable> {
        let available = (try? String(contentsOfFile: group + "/cgroup.controllers", encoding: .utf8)) ?? ""
        for controller in ["memory", "pids"] where !available.split(separator: " ").contains(Substring(controller)) {
            return .failure(Unavailable(reason: "the \(controller) controller is not delegated to \(group)"))
        }
        let enabled = (try? String(contentsOfFile: group + "/cgroup.subtree_control", encoding: .utf8)) ?? ""
        if !(enabled.contains("memory") && enabled.contains("pids")) {
            let leaf = group + "/coevo-worker-\(getpid())"
            guard mkdir(leaf, 0o755) == 0 || errno == EEXIST, write("\(getpid())", to: leaf + "/cgroup.procs"),
                  write("+memory +pids", to: group + "/cgroup.subtree_control") else {
                return .failure(Unavailable(reason: "cannot enable memory and pids below \(group) (run the worker as root, or delegate the group)"))
            }
        }
        return .success(StepCgroups(layout: .v2(group)))
    }

    @discardableResult
    static func write(_ text: String, to file: String) -> Bool {
        let fd = open(file, O_WRONLY | O_CLOEXEC)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        return text.withCString { Glibc.write(fd, $0, strlen($0)) } >= 0
    }

    /// A new group for one command, holding it to `memoryBytes` (swap included) and
    /// `processes`; `name` must be unique on this worker while the group lives.
    public func make(_ name: String, memoryBytes: Int, processes: Int) throws -> StepCgroup {
        let directories: [String]
        switch layout {
        case .v1(let memory, let pids, let cpuacct): directories = [memory, pids, cpuacct].map { "\($0)/\(name)" }
        case .v2(let group): directories = ["\(group)/\(name)"]
        }
        for directory in directories where mkdir(directory, 0o755) != 0 && errno != EEXIST {
            throw StepCgroup.Failure(description: "cannot make cgroup \(directory): \(String(cString: strerror(errno)))")
        }
        let group = StepCgroup(layout: layout, directories: directories)
        let limits: [(String, String)]
        switch layout {
        case .v1:
            // memsw (memory and swap together) exists only where swap accounting is on.
            limits = [(directories[0] + "/memory.limit_in_bytes", "\(memoryBytes)"),
                      (directories[0] + "/memory.memsw.limit_in_bytes", "\(memoryBytes)"),
                      (directories[1] + "/pids.max", "\(processes)")]
        case .v2:
            limits = [(directories[0] + "/memory.max", "\(memoryBytes)"), (directories[0] + "/memory.swap.max", "0"),
                      (directories[0] + "/pids.max", "\(processes)")]
        }
        for (file, value) in limits where !Self.write(value, to: file) {
            if file.hasSuffix("memsw.limit_in_bytes") || file.hasSuffix("swap.max"), access(file, F_OK) != 0 { continue }
            group.remove()
            throw StepCgroup.Failure(description: "cannot set \(file) to \(value): \(String(cString: strerror(errno)))")
        }
        return group
    }
}

/// One step's control group: what its command joins, what the step used, and its removal.
public struct StepCgroup: Sendable {
    let layout: StepCgroups.Layout
    /// v1: memory, pids, cpuacct; v2: the one group.
    let directories: [String]

    struct Failure: Error, CustomStringConvertible {
        var description: String
    }

    /// The `cgroup.procs` files a command writes its pid to before it execs (`CommandSpec.cgroups`).
    public var procs: [String] { directories.map { $0 + "/cgroup.procs" } }

    /// CPU time used by every process the group has held, in seconds.
    public var cpuSeconds: Double {
        switch layout {
        case .v1:
            let text = (try? String(contentsOfFile: directories[2] + "/cpuacct.usage", encoding: .utf8)) ?? ""
            return (Double(text.trimmingCharacters(in: .whitespacesAndNewlines)) ?? 0) / 1e9
        case .v2:
            return Double(Self.field("usage_usec", in: directories[0] + "/cpu.stat") ?? 0) / 1e6
        }
    }

    /// How many of its processes the kernel killed for going past the memory limit.
    public var memoryKills: Int {
        switch layout {
        case .v1: Self.field("oom_kill", in: directories[0] + "/memory.oom_control") ?? 0
        case .v2: Self.field("oom_kill", in: directories[0] + "/memory.events") ?? 0
        }
    }

    /// How many forks the process limit refused.
    public var refusedForks: Int {
        let file = { switch layout { case .v1: directories[1] + "/pids.events"; case .v2: directories[0] + "/pids.events" } }()
        return Self.field("max", in: file) ?? 0
    }

    /// Kills whatever is still in the group and removes it (the kernel refuses to remove a
    /// group that holds a process, so this waits up to a second for the last to go).
    public func remove() {
        for _ in 0..<100 {
            var alive = false
            for file in procs {
                let text = (try? String(contentsOfFile: file, encoding: .utf8)) ?? ""
                for pid in text.split(separator: "\n").compactMap({ pid_t($0) }) {
                    alive = true
                    kill(pid, SIGKILL)
                }
            }
            if !alive { break }
            usleep(10_000)
        }
        for directory in directories { rmdir(directory) }
    }

    /// The number after `name ` on a line of `file` (`key value` lines).
    static func field(_ name: String, in file: String) -> Int? {
        guard let text = try? String(contentsOfFile: file, encoding: .utf8) else { return nil }
        for line in text.split(separator: "\n") {
            let parts = line.split(separator: " ")
            if parts.count == 2, parts[0] == name { return Int(parts[1]) }
        }
        return nil
    }
}
