@testable import CoevoCore
import Foundation
import Testing

/// The proposer/solver state machine driven by scripted agent replies, with rewards
/// worked out by hand. Bad input tried: a proposal that is prose (format failure), a
/// solver reply with no number, a failed call, a reply for a key nobody asked for.
@Suite struct ProposerSolverEngineTests {
    static func settings(rounds: Int = 2) -> ProposerSolverSettings {
        var s = ProposerSolverSettings()
        s.rounds = rounds
        s.proposers = 2
        s.solvers = 2
        s.tasksPerProposer = 1
        s.attempts = 4
        s.categories = ["addition", "linear-equation"]
        s.reward = .rZero
        return s
    }

    /// Answers every call of a phase, in the given order; returns the next phase's calls
    /// with what the engine said meanwhile.
    static func answer(_ engine: inout ProposerSolverEngine, _ calls: some Sequence<AgentCall>, reversed: Bool = false,
                       _ reply: (AgentCall) -> AgentReply) -> EngineStep<AgentCall> {
        var next = EngineStep<AgentCall>()
        for call in reversed ? Array(calls).reversed() : Array(calls) { next += engine.complete(call.key, reply(call)) }
        return next
    }

    /// A specialty steers the work: worked by hand for 4 solvers, 3 attempts, solver 2
    /// specialising in category 1. Before, the choice ignored specialties (task 0 of
    /// category 1 went to solvers 0, 1, 2 and task 1 to 3, 0, 1 whoever specialised).
    @Test func aSolversSpecialtyPutsItFirstOnItsCategory() {
        let specialty: (Int) -> Int? = { $0 == 2 ? 1 : nil }
        func order(_ category: Int, _ t: Int) -> [Int] {
            ProposerSolverEngine.attemptOrder(pool: [0, 1, 2, 3], specialty: specialty, category: category, task: t, attempts: 3)
        }
        // Category 1: solver 2 first, then two of the others [0, 1, 3] in turn from t * 2.
        #expect(order(1, 0) == [2, 0, 1])
        #expect(order(1, 1) == [2, 3, 0], "others[2], others[3 % 3]")
        #expect(order(1, 2) == [2, 1, 3])
        // Another category: the plain rotation over every solver, as before.
        #expect(order(0, 0) == [0, 1, 2] && order(0, 1) == [3, 0, 1])
        // Only specialists: they take turns.
        #expect(ProposerSolverEngine.attemptOrder(pool: [5, 6], specialty: { _ in 4 }, category: 4, task: 3, attempts: 3) == [5, 6, 6],
                "specialists[(3 * 1 + 0) % 2]")
    }

    @Test func oneRoundByHand() throws {
        var engine = ProposerSolverEngine(settings: Self.settings(rounds: 1), evolution: .withoutHeartbeats)
        let proposals = engine.start()
        #expect(proposals.map(\.key) == ["r1.propose.a1.0", "r1.propose.a2.0"])
        #expect(proposals[0].prompt.contains("addition") && proposals[1].prompt.contains("linear-equation"))
        #expect(engine.complete("r9.propose.a7.0", .text("TASK: 1 + 1")).isEmpty, "an unknown key changes nothing")
        let attempts = Self.answer(&engine, proposals) { call in
            call.agent == AgentID(1) ? .text("TASK: 23 + 19\nANSWER: 42") : .text("I like math.")
        }
        // One readable task, 4 attempts, alternating between the two solvers.
        #expect(attempts.map(\.key) == ["r1.solve.0.0", "r1.solve.0.1", "r1.solve.0.2", "r1.solve.0.3"])
        #expect(attempts.map(\.agent.rawValue) == [1, 2, 1, 2])
        #expect(attempts.allSatisfy { $0.prompt.contains("23 + 19") })
        let replies: [String: AgentReply] = [
            "r1.solve.0.0": .text("ANSWER: 42"), "r1.solve.0.1": .text("ANSWER: 41"),
            "r1.solve.0.2": .text("The answer is 42."), "r1.solve.0.3": .failed("timed_out: lease lost"),
        ]
        // Replies arriving in reverse order are read in call order all the same.
        let reflections = Self.answer(&engine, attempts, reversed: true) { replies[$0.key]! }
        // a1 solved it twice and a2 never: a CODREAM event. Each solver reflects once, on
        // all its answers.
        #expect(reflections.map(\.key) == ["r1.codream.solver.0.reflect.a1", "r1.codream.solver.0.reflect.a2"])
        #expect(reflections[1].prompt.contains("Task: the addition task 23 + 19\nOutcome: the answer is 42; 2 of 4 attempts got it"))
        #expect(reflections[1].prompt.contains("Your answer: 41 / nothing readable (wrong / wrong)"))
        #expect(!engine.isFinished)
        let distil = Self.answer(&engine, reflections) { call in
            call.agent == AgentID(1) ? .text("REFLECTION: I added the ones first.") : .text("Sure!\nI forgot to carry the one.")
        }
        // The strongest who solved it distils, seeing every answer and reflection.
        #expect(distil.map(\.key) == ["r1.codream.solver.0.distil"] && distil[0].agent == AgentID(1))
        #expect(distil[0].prompt.contains("- a1: 42 / 42 (correct / correct)\n- a2: 41 / nothing readable (wrong / wrong)"))
        #expect(distil[0].prompt.contains("Their reflections:\n- a1: I added the ones first.\n- a2: I forgot to carry the one."))
        let last = Self.answer(&engine, distil) { _ in
            .text("Here you go.\nINSIGHT: carry the one when the ones add up past 9\n- **Insight:** check by subtracting")
        }
        #expect(last.isEmpty)
        #expect(engine.isFinished)

        let report = try #require(engine.reports.first)
        // p = 2/4: R-Zero pays 1 - 2|0.5 - 0.5| = 1; the format failure pays 0; mean 0.5.
        #expect(report.proposals == 2 && report.formatFailures == 1 && report.tasks == 1 && report.kept == 1)
        #expect(report.solveRate == 0.5 && report.meanProposerReward == 0.5)
        let events = [proposals, attempts, reflections, distil, last].flatMap(\.events)
        #expect(events.contains { $0.kind == .formatFailure && $0.detail.contains("r1.propose.a2.0") })
        // a1 solved, a2 failed: the examples channel sends a1's worked example to a2, and
        // CODREAM the two insights a1 distilled.
        #expect(events.contains { $0.kind == .pool("solver", "example") && $0.detail.contains("a1 -> a2") && $0.detail.contains("23 + 19 gives 42") })
        #expect(events.contains { $0.kind == .pool("solver", "codream")
            && $0.detail.hasSuffix("a1 -> a2: carry the one when the ones add up past 9 | check by subtracting") })
        #expect(report.codreamEvents == 1 && report.insightsRouted == 2 && report.examplesRouted == 2)

        let exports = engine.exports()
        let tasks = try exports["tasks.jsonl"]!.map { try JSONSerialization.jsonObject(with: Data($0.utf8)) as! [String: Any] }
        #expect(tasks.count == 1)
        #expect(tasks[0]["task"] as? String == "23 + 19" && tasks[0]["label"] as? String == "42")
        #expect(tasks[0]["solve_rate"] as? Double == 0.5 && tasks[0]["reward"] as? Double == 1)
        #expect(tasks[0]["proposer_answer_correct"] as? Bool == true)
        #expect(exports["proposals.jsonl"]!.count == 2 && exports["trajectories.jsonl"]!.count == 4)
        let codream = try exports["codream.jsonl"]!.map { try JSONSerialization.jsonObject(with: Data($0.utf8)) as! [String: Any] }
        let members = try #require(codream.first?["members"] as? [[String: Any]])
        #expect(codream.count == 1 && members.map { $0["reflection"] as? String } == ["I added the ones first.", "I forgot to carry the one."])
        #expect(codream[0]["insights"] as? [String] == ["carry the one when the ones add up past 9", "check by subtracting"])
        let correct = exports["trajectories.jsonl"]!.filter { $0.contains("\"correct\":true") }
        #expect(correct.count == 2)
    }

    /// Dr. Zero pays (n - k) / (n - 1) plus a format score for a readable task; prose
    /// earns neither. Worked by hand: 2 of 4 solved gives 2/3, + 0.1 = 0.7667; the mean
    /// over both proposals is 0.3833.
    @Test func drZeroAddsItsFormatScoreToReadableTasksOnly() throws {
        var settings = Self.settings(rounds: 1)
        settings.reward = .drZero
        #expect(settings.effectiveFormatScore == 0.1)
        var engine = ProposerSolverEngine(settings: settings, evolution: .withoutCalls)
        let attempts = Self.answer(&engine, engine.start()) { call in
            call.agent == AgentID(1) ? .text("TASK: 23 + 19") : .text("I like math.")
        }
        _ = Self.answer(&engine, attempts) { call in call.key.hasSuffix(".0") || call.key.hasSuffix(".2") ? .text("ANSWER: 42") : .text("ANSWER: 7") }
        let report = try #require(engine.reports.first)
        #expect(abs(report.meanProposerReward - (2.0 / 3 + 0.1) / 2) < 1e-12)
        let proposals = engine.exports()["proposals.jsonl"]!
        #expect(proposals.contains { $0.contains("\"reward\":0.7666666666666") } && proposals.contains { $0.contains("\"reward\":0,") })
        settings.formatScore = 1.5
        #expect(throws: ConfigError.self) { try settings.validate() }
    }

    /// How a distillation is read. Bad input tried: prose with no marker and no list, a
    /// list that echoes the prompt's answer lines, markdown, a wordless item.
    @Test func distilledInsightsAreMarkedLinesElseListItems() {
        #expect(CodreamCase.insights(in: "Sure.\nINSIGHT: carry the one\n1. not this\ninsight: check by subtracting", limit: 3)
                == ["carry the one", "check by subtracting"])
        #expect(CodreamCase.insights(in: "Tips:\n1. **Read** the task twice.\n- a2: 48 (wrong)\n2) ...\n* Check the sign.\n- Four", limit: 2)
                == ["Read the task twice.", "Check the sign."])
        #expect(CodreamCase.insights(in: "The answer to 7 x 6 is 42, which the team found hard.", limit: 3).isEmpty)
        #expect(CodreamCase.insights(in: "INSIGHT: a\nINSIGHT: b\nINSIGHT: c\nINSIGHT: d", limit: 3) == ["a", "b", "c"])
    }

    @Test func aRoutedLessonReachesTheWeakSolversNextPrompt() {
        var engine = ProposerSolverEngine(settings: Self.settings(rounds: 2), evolution: .withoutCalls)
        var calls = Self.answer(&engine, engine.start()) { call in
            call.agent == AgentID(1) ? .text("TASK: 23 + 19") : .text("nothing")
        }
        calls = Self.answer(&engine, calls) { call in call.agent == AgentID(1) ? .text("ANSWER: 42") : .text("ANSWER: 40") }
        // Round 2: the categories shift, so proposer a2 writes the addition task.
        #expect(calls.map(\.key) == ["r2.propose.a1.0", "r2.propose.a2.0"])
        calls = Self.answer(&engine, calls) { call in call.agent == AgentID(2) ? .text("TASK: 10 + 5") : .text("nothing") }
        let bySolver2 = calls.filter { $0.agent == AgentID(2) }
        #expect(!bySolver2.isEmpty && bySolver2.allSatisfy { $0.system.contains("Worked example: 23 + 19 gives 42.") })
        #expect(calls.filter { $0.agent == AgentID(1) }.allSatisfy { !$0.system.contains("Worked example") },
                "the producer does not get its own lesson")
    }

    /// A task's attempts go out as soon as its proposal, and every earlier one, is read:
    /// the model server need not idle while the round's last proposal is written.
    /// Proposals are still read in call order: a later one arriving first sends nothing,
    /// and tasks are numbered (and given solvers) in call order.
    @Test func attemptsGoOutAsSoonAsTheirTaskIsRead() {
        var settings = Self.settings(rounds: 1)
        settings.proposers = 3
        var engine = ProposerSolverEngine(settings: settings, evolution: .withoutHeartbeats)
        let proposals = engine.start()
        #expect(proposals.count == 3)
        #expect(engine.complete(proposals[2].key, .text("TASK: 5 + 6")).isEmpty, "waits for the two before it")
        let first = engine.complete(proposals[0].key, .text("TASK: 23 + 19"))
        #expect(first.map(\.key) == ["r1.solve.0.0", "r1.solve.0.1", "r1.solve.0.2", "r1.solve.0.3"])
        #expect(engine.stage == .protocolRound(1, of: 1, phase: "propose"))
        // Attempts answered while a proposal is still out.
        #expect(Self.answer(&engine, first) { _ in .text("ANSWER: 42") }.isEmpty)
        // The second is prose: the third becomes task 1, and its attempts go out.
        let third = engine.complete(proposals[1].key, .text("I like math."))
        #expect(third.map(\.key) == ["r1.solve.1.0", "r1.solve.1.1", "r1.solve.1.2", "r1.solve.1.3"])
        #expect(third.allSatisfy { $0.prompt.contains("5 + 6") })
        #expect(engine.stage == .protocolRound(1, of: 1, phase: "solve"))
        #expect(Self.answer(&engine, third) { _ in .text("ANSWER: 11") }.isEmpty)
        #expect(engine.isFinished)
        let report = engine.reports.first
        #expect(report?.proposals == 3 && report?.formatFailures == 1 && report?.tasks == 2 && report?.solveRate == 1)
    }

    /// Replies arriving in any interleaving (proposals and attempts mixed, heartbeat calls
    /// out of order) give the same run: the engine reads replies in call order.
    @Test func theSameRepliesInAnyOrderGiveTheSameRun() {
        func run(shuffledBy seed: UInt64?) -> [String: [String]] {
            var engine = ProposerSolverEngine(settings: Self.settings(rounds: 3), evolution: EvolutionSettings())
            var outstanding = engine.start().requests
            var order = SeededGenerator(seed: seed ?? 0)
            while !outstanding.isEmpty {
                // First come first answered, or a seeded random one of those out.
                let call = outstanding.remove(at: seed == nil ? 0 : Int.random(in: 0..<outstanding.count, using: &order))
                // A deterministic "model": the reply depends on the call only.
                let n = call.seed % 7
                let reply: AgentReply = call.role != "proposer" ? .text("ANSWER: \(call.seed % 13)")
                    : n == 0 ? .text("prose") : .text("TASK: \(n) + \(call.seed % 11)")
                outstanding += engine.complete(call.key, reply)
            }
            #expect(engine.isFinished)
            return engine.exports()
        }
        let inOrder = run(shuffledBy: nil)
        #expect(inOrder["trajectories.jsonl"]!.count > 0)
        for seed: UInt64 in 1...6 { #expect(run(shuffledBy: seed) == inOrder, "arrival order \(seed)") }
    }
}
