import CoevoCore
import Foundation

/// The graders that need no process: exact match (after the answer normalisation CODREAM
/// uses), numeric within a tolerance, and regular expression.
public enum BuiltInGrader: Hashable, Sendable {
    case exact
    /// |answer - expected| <= absolute + relative * |expected|.
    case numeric(absolute: Double, relative: Double)
    /// The answer matches the pattern (anywhere, unless the pattern anchors itself).
    case regex(String)

    public func grade(answer: String, expected: String) -> Grade {
        switch self {
        case .exact:
            let ok = AnswerNormalizer.normalize(answer) == AnswerNormalizer.normalize(expected)
            return Grade(score: ok ? 1 : 0, passed: ok)
        case .numeric(let absolute, let relative):
            guard let want = Self.number(in: expected) else {
                return .error("expected value '\(expected)' is not a number")
            }
            guard let got = Self.number(in: answer) else {
                return Grade(score: 0, passed: false, detail: "no number in the answer")
            }
            let ok = abs(got - want) <= absolute + relative * abs(want)
            return Grade(score: ok ? 1 : 0, passed: ok, detail: "got \(got), expected \(want)")
        case .regex(let pattern):
            guard let regex = try? NSRegularExpression(pattern: pattern) else {
                return .error("invalid regular expression '\(pattern)'")
            }
            let ok = regex.firstMatch(in: answer, range: NSRange(answer.startIndex..., in: answer)) != nil
            return Grade(score: ok ? 1 : 0, passed: ok)
        }
    }

    /// The last number in a text ("... so the answer is -3.5" reads -3.5); commas in
    /// thousands are ignored.
    static func number(in text: String) -> Double? {
        let cleaned = text.replacingOccurrences(of: ",", with: "")
        guard let regex = try? NSRegularExpression(pattern: #"[-+]?\d*\.?\d+(?:[eE][-+]?\d+)?"#) else { return nil }
        let matches = regex.matches(in: cleaned, range: NSRange(cleaned.startIndex..., in: cleaned))
        guard let last = matches.last, let range = Range(last.range, in: cleaned) else { return nil }
        return Double(cleaned[range])
    }
}
