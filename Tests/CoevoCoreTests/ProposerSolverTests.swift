import CoevoCore
import Testing

/// The proposer/solver pieces of issue 5 that need no I/O, checked against values worked
/// out by hand. Bad input tried: names, functions, unbalanced parentheses, division by
/// zero, overflow, empty answers.
@Suite struct ProposerSolverTests {
    @Test(arguments: [
        ("1 + 2 * 3", "7"), ("(1 + 2) * 3", "9"), ("2^10", "1024"), ("2^-2", "1/4"), ("-3^2", "-9"),
        ("(-3)^2", "9"), ("2^3^2", "512"), ("1/3 + 1/6", "1/2"), ("0.75", "3/4"), ("1.5 * 4", "6"),
        ("10 / 4", "5/2"), ("- - 2", "2"),
    ])
    func arithmeticIsExact(expression: String, value: String) {
        #expect(ExactArithmetic.evaluate(expression)?.description == value)
    }

    @Test func whatIsNotArithmeticIsRefused() {
        for text in ["x + 1", "sqrt(4)", "(1 + 2", "1 +", "", "1 / 0", "2^0.5", "9223372036854775807 + 1", "10^30", "1..2"] {
            #expect(ExactArithmetic.evaluate(text) == nil, "\(text)")
        }
    }

    @Test func answersAreComparedExactly() {
        #expect(AnswerVerifier.verify(answer: "0.5", expected: "1/2") == .correct)
        #expect(AnswerVerifier.verify(answer: "x = 3.", expected: "3") == .correct)
        #expect(AnswerVerifier.verify(answer: "Answer: 6/4", expected: "3/2") == .correct)
        #expect(AnswerVerifier.verify(answer: "0.333", expected: "1/3") == .wrong)
        #expect(AnswerVerifier.verify(answer: "Paris", expected: "paris") == .correct)
        #expect(AnswerVerifier.verify(answer: "about three", expected: "3") == .unreadable("not a number or arithmetic: 'about three'"))
        #expect(AnswerVerifier.verify(answer: "  ", expected: "3") == .unreadable("empty answer"))
    }

    @Test func proposerRewardsFollowTheirPapers() {
        // R-Zero: 1 - 2|p - 0.5|
        #expect(ProposerReward.rZero.reward(solved: 5, attempts: 10) == 1)
        #expect(abs(ProposerReward.rZero.reward(solved: 2, attempts: 10) - 0.4) < 1e-12)
        #expect(ProposerReward.rZero.reward(solved: 0, attempts: 10) == 0)
        // Absolute Zero: 1 - p, 0 at the extremes
        #expect(abs(ProposerReward.absoluteZero.reward(solved: 3, attempts: 10) - 0.7) < 1e-12)
        #expect(ProposerReward.absoluteZero.reward(solved: 0, attempts: 10) == 0)
        #expect(ProposerReward.absoluteZero.reward(solved: 10, attempts: 10) == 0)
        // Dr. Zero: (n - k) / (n - 1), 0 at the extremes
        #expect(ProposerReward.drZero.reward(solved: 1, attempts: 5) == 1)
        #expect(ProposerReward.drZero.reward(solved: 4, attempts: 5) == 0.25)
        #expect(ProposerReward.drZero.reward(solved: 5, attempts: 5) == 0)
        #expect(ProposerReward.drZero.reward(solved: 0, attempts: 1) == 0)
        // The band filter keeps 0.3 ... 0.8.
        #expect(ProposerReward.keeps(solved: 3, attempts: 10) && ProposerReward.keeps(solved: 8, attempts: 10))
        #expect(!ProposerReward.keeps(solved: 2, attempts: 10) && !ProposerReward.keeps(solved: 9, attempts: 10))
    }
}
