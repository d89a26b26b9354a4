@testable import CoevoBackends
import CoevoCore
import Foundation
import Glibc
import Testing

/// What holds a step to its limits, with real files, processes and (as root) the kernel's
/// control groups. Bad input tried: a hard link counted twice, a link out of the tree, a
/// sparse file, a tree nested past the count's depth, a command that ignores its limits.
@Suite struct StepLimitsTests {
    let directory: String = {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("coevo-limits-\(UUID().uuidString.prefix(8))").path
        try? FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        return dir
    }()

    func write(_ name: String, bytes: Int) throws {
        try Data((0..<bytes).map { UInt8(truncatingIfNeeded: $0 &* 31) }).write(to: URL(fileURLWithPath: directory + "/" + name))
    }

    @Test func diskUsageCountsEachFileOnceAndFollowsNoLink() throws {
        try FileManager.default.createDirectory(atPath: directory + "/a/b", withIntermediateDirectories: true)
        try write("a/b/one", bytes: 1 << 20)
        let alone = try #require(DiskUsage.bytes(under: [directory]))
        #expect(alone >= 1 << 20 && alone < (1 << 20) + (64 << 10), "\(alone)")
        // A hard link is the same blocks; a link to a big tree elsewhere counts as a link.
        #expect(link(directory + "/a/b/one", directory + "/two") == 0)
        #expect(symlink("/usr", directory + "/usr") == 0)
        #expect(DiskUsage.bytes(under: [directory]) == alone)
        // A sparse file costs what it holds.
        let fd = open(directory + "/sparse", O_CREAT | O_WRONLY, 0o644)
        #expect(ftruncate(fd, 1 << 30) == 0)
        close(fd)
        #expect(try #require(DiskUsage.bytes(under: [directory])) < alone + (64 << 10))
        // Counting stops past the limit; a missing root counts nothing.
        #expect(try #require(DiskUsage.bytes(under: [directory, directory + "/missing"], limit: 4096)) > 4096)
        #expect(DiskUsage.bytes(under: [directory + "/missing"]) == 0)
    }

    @Test func aTreeTooDeepToCountIsNotCounted() throws {
        var path = directory
        for _ in 0...DiskUsage.maxDepth { path += "/d" }
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        #expect(DiskUsage.bytes(under: [directory]) == nil)
    }

    /// The watch is asked while the command runs and ends it, group and all, naming why.
    @Test func aWatchEndsACommandWithItsReason() async throws {
        var spec = CommandSpec(arguments: ["/bin/sh", "-c", "head -c 3000000 /dev/zero > big; sleep 30"], workingDirectory: directory)
        spec.timeoutMilliseconds = 20_000
        let root = directory
        let outcome = await CommandRunner.run(spec, watch: {
            (DiskUsage.bytes(under: [root]) ?? .max) > 2_000_000 ? "over two megabytes" : nil
        })
        #expect(outcome.overLimit == "over two megabytes" && !outcome.succeeded && outcome.durationMilliseconds < 10_000, "\(outcome)")
        #expect(outcome.summary == "killed: over two megabytes")
    }

    /// As root with cgroups: memory and processes are held for the whole command, whatever
    /// it forks, and what it used is read back; the group is gone afterwards.
    @Test(.enabled(if: (try? StepCgroups.detect().get()) != nil, "needs writable cgroups (root)"))
    func aControlGroupHoldsEverythingACommandStarts() async throws {
        let cgroups = try StepCgroups.detect().get()
        let group = try cgroups.make("coevo-test-\(UUID().uuidString.prefix(8))", memoryBytes: 64 << 20, processes: 24)
        var spec = CommandSpec(arguments: ["/bin/sh", "-c", """
            python3 -c "x = [b'x' * (8 << 20) for _ in range(40)]" 2>/dev/null; echo memory $?
            i=0; while [ $i -lt 1000000 ]; do i=$((i+1)); done; echo spun
            for i in $(seq 1 40); do sleep 5 & done 2>/dev/null; echo forked
            """], workingDirectory: directory)
        spec.cgroups = group.procs
        spec.timeoutMilliseconds = 60_000
        spec.stallMilliseconds = 0
        let outcome = await CommandRunner.run(spec)
        let out = String(decoding: outcome.stdout, as: UTF8.self)
        #expect(out.contains("memory 137\nspun\n") && !out.contains("forked"), "killed at 64 MiB, then the shell's fork refused: \(out)")
        #expect(group.memoryKills >= 1 && group.refusedForks >= 1, "\(group.memoryKills) \(group.refusedForks)")
        #expect(group.cpuSeconds > 0.2, "\(group.cpuSeconds): \(out)")
        group.remove()
        #expect(group.procs.allSatisfy { access($0, F_OK) != 0 })
    }

    @Test func limitsAreReadFromTheConfigAndCheckedThere() throws {
        var settings = DiscoverySettings()
        #expect(settings.limits.memoryMB == 4096 && settings.limits.diskMB == 2048 && settings.limits.processes == 512 && settings.limits.cpuSeconds == 0)
        settings.task.seed = "s"; settings.task.grader = "g"; settings.task.gradeCommand = ["x"]
        settings.limits.processes = 3
        #expect(throws: ConfigError.self) { try settings.validate() }
        let decoded = try JSONDecoder().decode(StepLimits.self, from: Data(#"{"memory_mb": 100, "cpu_seconds": 9}"#.utf8))
        #expect(decoded.memoryBytes == 100 << 20 && decoded.cpuSeconds == 9 && decoded.diskMB == 2048)
        #expect(throws: (any Error).self) { try JSONDecoder().decode(StepLimits.self, from: Data(#"{"memory": 100}"#.utf8)) }
    }
}
