import CoevoCore
import Testing

/// How proposer and solver replies are read. Bad input tried: prose with no TASK line,
/// a placeholder copied from the prompt, a bare number, an equation with no or every
/// solution, a non-linear equation, an over-long task, a reply with no number at all.
@Suite struct TaskFormatTests {
    @Test func aWellFormedProposalIsReadAndLabelledByTheVerifier() throws {
        let (task, claimed) = try ReplyFormat.proposal("TASK: 23 + 45\nANSWER: 68").get()
        #expect(task.text == "23 + 45" && task.label.description == "68" && !task.isEquation && claimed == "68")
        // A wrong claimed answer does not change the label: the verifier computes it.
        let (wrong, claim) = try ReplyFormat.proposal("TASK: 7 * 8\nANSWER: 54").get()
        #expect(wrong.label.description == "56" && claim == "54")
        // "= answer" on the task line is the claim; markdown and case are decoration.
        let (inline, inlineClaim) = try ReplyFormat.proposal("Sure!\n**task:** 1/2 + 1/3 = 5/6").get()
        #expect(inline.text == "1/2 + 1/3" && inline.label.description == "5/6" && inlineClaim == "5/6")
    }

    @Test func linearEquationsAreSolvedExactly() throws {
        let (task, _) = try ReplyFormat.proposal("TASK: 3x + 5 = 20\nANSWER: 5").get()
        #expect(task.isEquation && task.label.description == "5")
        #expect(try ArithmeticTask.parse("2x - 7 = 9").get().label.description == "8")
        #expect(try ArithmeticTask.parse("(x + 1) / 4 = 2/3").get().label.description == "5/3")
        #expect(try ArithmeticTask.parse("3x + 5 = 20").get().check("x = 5") == .correct)
        #expect(try ArithmeticTask.parse("3x + 5 = 20").get().check("4") == .wrong)
        #expect(ExactArithmetic.evaluate("3x + 5", x: Rational(2)) == Rational(11))
        #expect(ExactArithmetic.evaluate("3x + 5") == nil, "without a value for x, x is not a number")
    }

    @Test(arguments: [
        ("I like numbers a lot.", "no 'TASK:' line"),
        ("TASK: <the problem, like 7 * 8>", "not arithmetic"),
        ("TASK: 5\nANSWER: 5", "a number, not a problem"),
        ("TASK: 2x + 1 = 2x + 3", "one solution"),
        ("TASK: x = x", "one solution"),
        ("TASK: x^2 = 4", "one solution"),
        ("TASK: " + String(repeating: "1 + ", count: 30) + "1", "longer than 80"),
        ("TASK: sqrt(16)", "not arithmetic"),
    ])
    func malformedProposalsAreFormatFailures(reply: String, reason: String) {
        guard case .failure(let failure) = ReplyFormat.proposal(reply) else {
            Issue.record("'\(reply)' was read as a task")
            return
        }
        #expect(failure.reason.contains(reason), "\(failure.reason)")
    }

    @Test(arguments: [
        ("17 * 6 = 102\nThe answer is: 102", "102"),
        ("Work: 3/4 + 0 = 3/4\nANSWER: -3/4", "-3/4"),
        ("Subtract 5, divide by 3: x = 5", "5"),
        ("so it comes to 12.", "12"),
        ("**ANSWER:** 2.5", "2.5"),
        ("ANSWER: \n7\nso 3 + 4 = 8?", "7"),  // the marker ends its line
    ])
    func solverAnswersAreFound(reply: String, answer: String) {
        #expect(ReplyFormat.finalAnswer(reply) == answer)
    }

    @Test func aReplyWithoutANumberHasNoAnswer() {
        #expect(ReplyFormat.finalAnswer("I do not know.") == nil)
        #expect(ReplyFormat.finalAnswer("") == nil)
    }
}
