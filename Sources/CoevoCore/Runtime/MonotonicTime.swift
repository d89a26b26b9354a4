/// A point on a monotonic clock, in milliseconds. State machines take it as an input so
/// tests drive them with a fake clock; shells read it from `ContinuousClock`-like sources.
public struct MonotonicTime: Hashable, Comparable, Sendable, CustomStringConvertible {
    public var milliseconds: Int64
    public init(milliseconds: Int64) { self.milliseconds = milliseconds }

    public static let zero = MonotonicTime(milliseconds: 0)

    public static func + (t: MonotonicTime, ms: Int64) -> MonotonicTime {
        MonotonicTime(milliseconds: t.milliseconds &+ ms)
    }
    public static func - (a: MonotonicTime, b: MonotonicTime) -> Int64 {
        a.milliseconds &- b.milliseconds
    }
    public static func < (a: MonotonicTime, b: MonotonicTime) -> Bool {
        a.milliseconds < b.milliseconds
    }
    public var description: String { "t=\(milliseconds)ms" }
}
