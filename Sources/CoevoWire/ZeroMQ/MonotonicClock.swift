import CoevoCore
import Glibc

extension MonotonicTime {
    /// Reads CLOCK_MONOTONIC. Only shells call this; state machines take time as input.
    public static func now() -> MonotonicTime {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return MonotonicTime(milliseconds: Int64(ts.tv_sec) * 1000 + Int64(ts.tv_nsec) / 1_000_000)
    }
}
