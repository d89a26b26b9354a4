/// The normal form in which answers are compared: lowercased, punctuation at the ends
/// removed, runs of whitespace collapsed. Two members *disagree* when the normal forms of
/// their final answers differ.
public enum AnswerNormalizer {
    public static func normalize(_ text: String) -> String {
        if isAlreadyNormal(text) { return text }
        let lowered = text.lowercased()
        let words = lowered.split(whereSeparator: { $0.isWhitespace })
        var joined = words.joined(separator: " ")
        let edge: Set<Character> = [".", ",", "!", "?", ";", ":", "\"", "'", "`", "(", ")", "[", "]"]
        while let first = joined.first, edge.contains(first) { joined.removeFirst() }
        while let last = joined.last, edge.contains(last) { joined.removeLast() }
        return joined
    }

    /// The words of the normal form: its runs of letters and digits.
    public static func words(_ text: String) -> [Substring] {
        normalize(text).split { !$0.isLetter && !$0.isNumber }
    }

    /// Lowercase ASCII letters, digits, '-', and single inner spaces need no work; most
    /// machine answers look like that, and this runs for every member of every task.
    static func isAlreadyNormal(_ text: String) -> Bool {
        var previousWasSpace = true
        for byte in text.utf8 {
            switch byte {
            case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "-"):
                previousWasSpace = false
            case UInt8(ascii: " ") where !previousWasSpace:
                previousWasSpace = true
            default:
                return false
            }
        }
        return !previousWasSpace || text.isEmpty
    }

    /// True when at least two answers differ after normalisation.
    public static func disagree(_ answers: [String]) -> Bool {
        Set(answers.map(normalize)).count > 1
    }
}
