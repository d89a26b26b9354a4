import Foundation

/// Reads a 0-1 score out of a judge model's free text, as robustly as such text allows:
/// a JSON object with "score"; else the **last labelled** score ("Final score: 8/10",
/// "score: 0.8", "rating = 4"), since judges reason first ("clarity 3/10, accuracy
/// 9/10...") and conclude last; else the last "8/10" or "4 out of 5"; else a lone number
/// (read as 0-1, or 0-10 when above 1). Nil when nothing reads as a score in range, so
/// the caller records a grader error rather than inventing a grade.
public enum JudgeScore {
    public static func parse(_ text: String) -> Double? {
        if let start = text.firstIndex(of: "{"), let end = text.lastIndex(of: "}"), start < end,
           let object = try? JSONSerialization.jsonObject(with: Data(text[start...end].utf8)) as? [String: Any] {
            for key in ["score", "rating", "grade"] {
                if let value = object[key] as? Double { return normalised(value, outOf: nil) }
                if let value = object[key] as? Int { return normalised(Double(value), outOf: nil) }
                if let value = object[key] as? String, let number = Double(value) { return normalised(number, outOf: nil) }
            }
        }
        let lowered = text.lowercased()
        let scale = #"(?:\s*(?:/|out of)\s*(\d+(?:\.\d+)?))?"#
        if let match = last(#"(?:score|rating|grade)\s*(?:is|of)?\s*[:=]?\s*(-?\d+(?:\.\d+)?)"# + scale, in: lowered),
           let value = Double(match[0]) {
            return normalised(value, outOf: match.count > 1 ? Double(match[1]) : nil)
        }
        if let match = last(#"(-?\d+(?:\.\d+)?)\s*(?:/|out of)\s*(\d+(?:\.\d+)?)"#, in: lowered),
           let value = Double(match[0]), let scale = Double(match[1]) {
            return normalised(value, outOf: scale)
        }
        if let match = last(#"^\s*(-?\d+(?:\.\d+)?)\s*\.?\s*$"#, in: lowered), let value = Double(match[0]) {
            return normalised(value, outOf: nil)
        }
        return nil
    }

    private static func normalised(_ value: Double, outOf scale: Double?) -> Double? {
        let score: Double
        if let scale { guard scale > 0 else { return nil }; score = value / scale } else if value > 1 { score = value / 10 } else { score = value }
        return (0...1).contains(score) ? score : nil
    }

    /// The capture groups of the last match (groups that did not take part are left out).
    private static func last(_ pattern: String, in text: String) -> [String]? {
        guard let regex = try? NSRegularExpression(pattern: pattern),
              let match = regex.matches(in: text, range: NSRange(text.startIndex..., in: text)).last
        else { return nil }
        return (1..<match.numberOfRanges).compactMap { Range(match.range(at: $0), in: text).map { String(text[$0]) } }
    }
}
