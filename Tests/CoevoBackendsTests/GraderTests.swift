@testable import CoevoBackends
import CoevoCore
import Testing

/// Bad input tried: answers without numbers, a non-numeric expected value, an invalid
/// regular expression, judge texts without any score or with one out of range.
@Suite struct GraderTests {
    @Test func exactNumericAndRegex() {
        #expect(BuiltInGrader.exact.grade(answer: " Paris. ", expected: "paris").passed)
        #expect(!BuiltInGrader.exact.grade(answer: "Lyon", expected: "paris").passed)
        let numeric = BuiltInGrader.numeric(absolute: 0.01, relative: 0)
        #expect(numeric.grade(answer: "so the answer is 3.2", expected: "3.14").passed == false)
        #expect(numeric.grade(answer: "so the answer is 3.14159", expected: "3.14").passed)
        #expect(numeric.grade(answer: "x = 3.145", expected: "3.14").passed)
        #expect(numeric.grade(answer: "1,000,000", expected: "1000000").passed)
        #expect(numeric.grade(answer: "no idea", expected: "3").detail == "no number in the answer")
        #expect(numeric.grade(answer: "3", expected: "three").graderError != nil)
        #expect(BuiltInGrader.numeric(absolute: 0, relative: 0.05).grade(answer: "104", expected: "100").passed)
        #expect(BuiltInGrader.regex(#"^\d{4}-\d{2}-\d{2}$"#).grade(answer: "2026-11-22", expected: "").passed)
        #expect(!BuiltInGrader.regex(#"^\d{4}$"#).grade(answer: "20261", expected: "").passed)
        #expect(BuiltInGrader.regex("([").grade(answer: "x", expected: "").graderError?.contains("invalid") == true)
    }

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
