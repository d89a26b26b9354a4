import CoevoCore
import Testing

/// How a judge model's score is read out of free text (red-blue's external judge).
/// Bad input tried: texts without any score, a score out of range, an empty reply.
@Suite struct JudgeScoreTests {
    @Test(arguments: [
        (#"{"score": 0.25, "reason": "partial"}"#, 0.25),
        ("Reasoning... Score: 0.9", 0.9),
        ("rating = 4", 0.4),
        ("I'd give it 8/10.", 0.8),
        ("3 out of 5", 0.6),
        ("0.5", 0.5),
        ("7", 0.7),
        (#"Here: {"score": "1"}"#, 1.0),
        // A judge reasons before it concludes: the labelled final score counts, not the
        // first fraction in the text.
        ("Clarity 3/10, accuracy 9/10. Final score: 7/10", 0.7),
        ("The first draft would score 2, but after the fix the score is 0.9", 0.9),
        ("Rating: 4 out of 5", 0.8),
    ])
    func judgeScoresAreReadFromFreeText(text: String, expected: Double) {
        #expect(JudgeScore.parse(text).map { abs($0 - expected) < 1e-9 } == true)
    }

    @Test func aJudgeWithoutAScoreGivesNone() {
        #expect(JudgeScore.parse("I refuse to grade this.") == nil)
        #expect(JudgeScore.parse("score: 42") == nil)  // 4.2 out of 1: out of range
        #expect(JudgeScore.parse("") == nil)
    }
}
