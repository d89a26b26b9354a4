import Foundation

/// Checks a solver's answer against a task's expected answer exactly: both are read as
/// arithmetic (`3/4`, `0.75`, `(1+2)^2`), after dropping a leading `x =` or `answer:` and a
/// trailing period, and compared as exact fractions. Text that is not arithmetic on
/// either side is compared by its normal form (`AnswerNormalizer`).
public enum AnswerVerifier {
    public enum Verdict: Hashable, Sendable {
        case correct, wrong
        /// The answer could not be read (the proposer or solver broke the format).
        case unreadable(String)
    }

    public static func verify(answer: String, expected: String) -> Verdict {
        let a = strip(answer), e = strip(expected)
        guard !a.isEmpty else { return .unreadable("empty answer") }
        if let x = ExactArithmetic.evaluate(e) {
            guard let y = ExactArithmetic.evaluate(a) else { return .unreadable("not a number or arithmetic: '\(answer)'") }
            return x == y ? .correct : .wrong
        }
        return AnswerNormalizer.normalize(a) == AnswerNormalizer.normalize(e) ? .correct : .wrong
    }

    static func strip(_ text: String) -> String {
        var t = text.trimmingCharacters(in: .whitespacesAndNewlines)
        for prefix in ["answer:", "answer is", "x =", "x=", "="] where t.lowercased().hasPrefix(prefix) {
            t = String(t.dropFirst(prefix.count)).trimmingCharacters(in: .whitespaces)
        }
        while t.hasSuffix(".") && !t.isEmpty { t.removeLast() }
        return t
    }
}
