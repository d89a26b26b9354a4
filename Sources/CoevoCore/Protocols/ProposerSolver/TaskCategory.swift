/// The task categories proposers write in: the proposer/solver niches. Each has a short
/// description and an example for the proposer prompt; every category's tasks are read by
/// the same exact verifier.
public struct TaskCategory: Hashable, Sendable {
    public var name: String
    public var description: String
    /// Worked examples (task, answer) shown to proposers: small models follow a format
    /// they see far more often than one they are told. A proposal repeating an example
    /// counts as a near duplicate.
    public var examples: [(task: String, answer: String)]

    public static func == (a: TaskCategory, b: TaskCategory) -> Bool { a.name == b.name }
    public func hash(into hasher: inout Hasher) { hasher.combine(name) }

    public static let builtIn: [TaskCategory] = [
        TaskCategory(name: "addition", description: "adding or subtracting whole numbers",
                     examples: [("23 + 45", "68"), ("91 - 37", "54")]),
        TaskCategory(name: "multiplication", description: "multiplying or dividing whole numbers",
                     examples: [("7 * 8", "56"), ("84 / 12", "7")]),
        TaskCategory(name: "fractions", description: "adding or multiplying fractions",
                     examples: [("1/2 + 1/3", "5/6"), ("2/3 * 3/4", "1/2")]),
        TaskCategory(name: "order-of-operations", description: "expressions with brackets and powers",
                     examples: [("(12 - 5) * 3", "21"), ("2^3 + 4", "12")]),
        TaskCategory(name: "linear-equation", description: "a linear equation in x to solve",
                     examples: [("3x + 5 = 20", "5"), ("2x - 7 = 9", "8")]),
    ]

    public static func named(_ name: String) -> TaskCategory? { builtIn.first { $0.name == name } }
}
