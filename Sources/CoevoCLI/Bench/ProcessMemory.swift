import Foundation

/// This process's memory and CPU as Linux reports them, for the benchmarks.
enum ProcessMemory {
    /// Resident set now (VmRSS) and its peak (VmHWM), in MiB.
    static func residentMiB() -> Double { field("VmRSS:") }
    static func peakMiB() -> Double { field("VmHWM:") }

    /// Writing 5 to clear_refs resets VmHWM, so a measurement's peak is its own.
    static func resetPeak() throws {
        try "5".write(toFile: "/proc/self/clear_refs", atomically: false, encoding: .utf8)
    }

    /// User + system CPU seconds of this process (not its children), or with `children`
    /// of its children that have exited and been waited for.
    static func cpuSeconds(children: Bool = false) -> Double {
        var usage = rusage()
        getrusage(children ? RUSAGE_CHILDREN.rawValue : RUSAGE_SELF.rawValue, &usage)
        func seconds(_ t: timeval) -> Double { Double(t.tv_sec) + Double(t.tv_usec) / 1e6 }
        return seconds(usage.ru_utime) + seconds(usage.ru_stime)
    }

    private static func field(_ name: String) -> Double {
        let status = (try? String(contentsOfFile: "/proc/self/status", encoding: .utf8)) ?? ""
        guard let line = status.split(separator: "\n").first(where: { $0.hasPrefix(name) }),
              let kib = Double(line.split(separator: " ").dropFirst().first ?? "") else { return 0 }
        return kib / 1024
    }
}
