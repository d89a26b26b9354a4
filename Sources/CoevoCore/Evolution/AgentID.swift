/// Identifies an agent within a population; never reused, so lineage stays readable.
public struct AgentID: Hashable, Comparable, Sendable, CustomStringConvertible {
    public let rawValue: Int
    public init(_ rawValue: Int) { self.rawValue = rawValue }
    public static func < (a: AgentID, b: AgentID) -> Bool { a.rawValue < b.rawValue }
    public var description: String { "a\(rawValue)" }
}
