/// What one agent's step may use on its worker (`discovery.limits`), held by the kernel
/// where the worker can make a control group per step: memory (swap included) and
/// processes for everything the step starts, CPU time summed over them, and the disk its
/// workspace and home take together. A step that goes past one is ended, its result
/// says which limit and by how much, and the pool goes on.
public struct StepLimits: Codable, Hashable, Sendable {
    public var memoryMB = 4096
    /// Workspace and home together, counted as allocated on disk.
    public var diskMB = 2048
    public var processes = 512
    /// 0: none but the step's timeout.
    public var cpuSeconds = 0

    public init() {}

    enum CodingKeys: String, CodingKey, CaseIterable {
        case memoryMB = "memory_mb"
        case diskMB = "disk_mb"
        case processes
        case cpuSeconds = "cpu_seconds"
    }

    public init(from decoder: any Decoder) throws {
        try decoder.rejectUnknownKeys(CodingKeys.self)
        let c = try decoder.container(keyedBy: CodingKeys.self)
        memoryMB = try c.value(.memoryMB, memoryMB)
        diskMB = try c.value(.diskMB, diskMB)
        processes = try c.value(.processes, processes)
        cpuSeconds = try c.value(.cpuSeconds, cpuSeconds)
    }

    public var memoryBytes: Int { memoryMB << 20 }
    public var diskBytes: Int { diskMB << 20 }

    func validate(_ require: (Bool, String, String) throws(ConfigError) -> Void) throws(ConfigError) {
        try require(memoryMB >= 64, "limits.memory_mb", "must be at least 64")
        try require(diskMB >= 16, "limits.disk_mb", "must be at least 16")
        try require(processes >= 16, "limits.processes", "must be at least 16 (an agent runs a shell, git and its tools)")
        try require(cpuSeconds >= 0, "limits.cpu_seconds", "must be 0 (no limit but the timeout) or more")
    }
}
