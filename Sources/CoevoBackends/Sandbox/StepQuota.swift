import CoevoCore
import Foundation
import Synchronization

/// The limits of one running step that the kernel does not hold by itself: the CPU time
/// its control group has used, and the disk its directories take together. `check` is
/// the step's `CommandRunner.Watch`, which also ends a step the kernel held to its memory
/// or process limit, so that every limit a step reaches ends it the same way.
final class StepQuota: Sendable {
    let limits: StepLimits
    let cgroup: StepCgroup?
    /// What the disk limit counts: the agent's workspace and home.
    let directories: [String]
    /// A walk of a large tree costs time: the next one waits twenty times as long as the
    /// last took (at least a second), so watching costs a step at most 5% of a core.
    private let nextWalk = Mutex<ContinuousClock.Instant>(.now)
    private let overDisk = Atomic<Bool>(false)
    /// Whether `check` ended the step for its disk.
    var wentOverDisk: Bool { overDisk.load(ordering: .relaxed) }

    init(limits: StepLimits, cgroup: StepCgroup?, directories: [String]) {
        self.limits = limits
        self.cgroup = cgroup
        self.directories = directories
    }

    /// Why the step must end now, or nil.
    func check() -> String? {
        if let refused = refused() { return refused }
        if limits.cpuSeconds > 0, let cgroup, cgroup.cpuSeconds > Double(limits.cpuSeconds) {
            return "it used more than its \(limits.cpuSeconds) CPU seconds (discovery.limits.cpu_seconds)"
        }
        let clock = ContinuousClock()
        guard clock.now >= nextWalk.withLock({ $0 }) else { return nil }
        let started = clock.now
        let used = DiskUsage.bytes(under: directories, limit: limits.diskBytes)
        let took = clock.now - started
        nextWalk.withLock { $0 = clock.now + max(.seconds(1), took * 20) }
        if used.map({ $0 > limits.diskBytes }) ?? true { overDisk.store(true, ordering: .relaxed) }
        guard let used else {
            return "its files could not all be counted against its disk limit (nested more than \(DiskUsage.maxDepth) directories deep)"
        }
        if used > limits.diskBytes {
            return "its workspace and home took more than its \(limits.diskMB) MiB of disk (discovery.limits.disk_mb)"
        }
        return nil
    }

    /// What the kernel refused the step (a process killed at the memory limit, a fork
    /// refused at the process limit): nil when nothing. Also asked once the step is over,
    /// for what happened after the last `check`.
    func refused() -> String? {
        guard let cgroup else { return nil }
        var said: [String] = []
        if cgroup.memoryKills > 0 {
            said.append("the kernel killed \(cgroup.memoryKills) of its processes at its \(limits.memoryMB) MiB memory limit (discovery.limits.memory_mb)")
        }
        if cgroup.refusedForks > 0 {
            said.append("\(cgroup.refusedForks) of its forks were refused at its \(limits.processes)-process limit (discovery.limits.processes)")
        }
        return said.isEmpty ? nil : said.joined(separator: "; ")
    }
}
