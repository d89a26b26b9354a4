import Foundation

/// A proposed task with a checkable answer: an arithmetic expression (`(12 - 5) * 3`) or
/// a linear equation in x (`3x + 5 = 20`). The label is computed here, exactly, from the
/// task text, so a proposer cannot mislabel a task; what the proposer claimed is kept
/// beside it for the export.
public struct ArithmeticTask: Hashable, Sendable {
    public var text: String
    /// The exact answer: the expression's value, or the equation's solution.
    public var label: Rational
    public var isEquation: Bool

    /// Tasks longer than this are refused: a solver prompt stays small and a proposer
    /// cannot pass an essay off as a task.
    public static let maxLength = 80

    /// Reads a task, or says why it is not one.
    public static func parse(_ raw: String) -> Result<ArithmeticTask, FormatFailure> {
        var text = raw.trimmingCharacters(in: .whitespaces)
        for wrapper in ["[", "]", "`", "\"", "$"] { text = text.replacingOccurrences(of: wrapper, with: "") }
        text = text.replacingOccurrences(of: "×", with: "*").replacingOccurrences(of: "÷", with: "/")
        for prefix in ["what is", "solve", "compute", "calculate"] where text.lowercased().hasPrefix(prefix) {
            text = String(text.dropFirst(prefix.count)).trimmingCharacters(in: CharacterSet(charactersIn: " :"))
        }
        while let last = text.last, "?.".contains(last) { text.removeLast() }
        text = text.trimmingCharacters(in: .whitespaces)
        guard !text.isEmpty else { return .failure(FormatFailure("empty task")) }
        guard text.count <= maxLength else { return .failure(FormatFailure("task longer than \(maxLength) characters")) }
        let sides = text.split(separator: "=", omittingEmptySubsequences: false).map { $0.trimmingCharacters(in: .whitespaces) }
        let hasX = text.lowercased().contains("x")
        if hasX {
            guard sides.count == 2, let solution = solveLinear(left: sides[0], right: sides[1]) else {
                return .failure(FormatFailure("'\(text)' is not a linear equation in x with one solution"))
            }
            return .success(ArithmeticTask(text: text, label: solution, isEquation: true))
        }
        // "23 + 45 = 68" or "23 + 45 = ?": the task is the left side.
        guard sides.count <= 2, let value = ExactArithmetic.evaluate(sides[0]) else {
            return .failure(FormatFailure("'\(text)' is not arithmetic the verifier can evaluate"))
        }
        guard sides[0].contains(where: { "+-*/^".contains($0) }) else {
            return .failure(FormatFailure("'\(sides[0])' is a number, not a problem"))
        }
        return .success(ArithmeticTask(text: sides[0], label: value, isEquation: false))
    }

    /// The solution of `left = right` when both sides are linear in x and it has exactly
    /// one: f(x) = left - right is evaluated at 0, 1 and 2, which fixes a line and checks
    /// that f is one.
    static func solveLinear(left: String, right: String) -> Rational? {
        func f(_ x: Int64) -> Rational? {
            guard let point = Rational(x), let l = ExactArithmetic.evaluate(left, x: point),
                  let r = ExactArithmetic.evaluate(right, x: point) else { return nil }
            return l - r
        }
        guard let f0 = f(0), let f1 = f(1), let f2 = f(2), let slope = f1 - f0,
              slope != Rational(0)!, let twoSlope = slope * Rational(2)!, f0 + twoSlope == f2,
              let minusF0 = -f0 else { return nil }
        return minusF0 / slope
    }

    /// Checks a solver's final answer against the label.
    public func check(_ answer: String) -> AnswerVerifier.Verdict {
        AnswerVerifier.verify(answer: answer, expected: label.description)
    }
}

/// Why an agent's reply could not be read; a format failure costs the agent its reward
/// and is logged, it never stops a round.
public struct FormatFailure: Error, Hashable, Sendable, CustomStringConvertible {
    public var reason: String
    public init(_ reason: String) { self.reason = reason }
    public var description: String { reason }
}
