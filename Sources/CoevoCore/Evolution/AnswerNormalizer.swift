/// The normal form in which answers are compared: lowercased, punctuation at the ends
/// removed, runs of whitespace collapsed. Two members *disagree* when the normal forms of
/// their final answers differ.
public enum AnswerNormalizer {
    public static func normalize(_ text: String) -> String {
        let lowered = text.lowercased()
        let words = lowered.split(whereSeparator: { $0.isWhitespace })
        var joined = words.joined(separator: " ")
        let edge: Set<Character> = [".", ",", "!", "?", ";", ":", "\"", "'", "`", "(", ")", "[", "]"]
        while let first = joined.first, edge.contains(first) { joined.removeFirst() }
        while let last = joined.last, edge.contains(last) { joined.removeLast() }
        return joined
    }

    /// True when at least two answers differ after normalisation.
    public static func disagree(_ answers: [String]) -> Bool {
        Set(answers.map(normalize)).count > 1
    }
}
