/// Whether a distilled line carries a lesson. A weak model's "insights" are often a
/// label ("A2"), the task said again, or an answer given as the lesson; held as insights
/// they would fill the agents' budgets and prompts with nothing. Such lines are refused,
/// each with its reason, and the refusal is logged where the line was read.
public enum InsightVetting {
    public static let minimumWords = 3
    public static let minimumLetters = 12
    /// The share of a line's distinct words found in the task at which it only restates it.
    public static let restatement = 0.8

    /// Why `text` is no insight, or nil when it is one. `task` is what the distiller was
    /// shown of the task; `answers` are the answers given on it.
    public static func problem(_ text: String, task: String, answers: [String]) -> String? {
        let words = AnswerNormalizer.words(text)
        guard words.count >= minimumWords, text.filter(\.isLetter).count >= minimumLetters else { return "too short" }
        let line = AnswerNormalizer.normalize(text)
        if answers.contains(where: { AnswerNormalizer.normalize($0) == line }) { return "an answer, not a lesson" }
        let distinct = Set(words), asked = Set(AnswerNormalizer.words(task))
        if Double(distinct.intersection(asked).count) >= restatement * Double(distinct.count) { return "the task restated" }
        return nil
    }
}
