@testable import CoevoCore
import Foundation
import Testing

/// The simulator's rules, each on its own, with numbers worked from the formulas in
/// `SimulatedWorld`'s doc comment (every other effect switched off).
@Suite struct SimulatedWorldTests {
    /// Only the rule under test on: steepness 1, no distraction, length or middle cost.
    static func plain() -> SimulatedWorld.Parameters {
        var p = SimulatedWorld.Parameters()
        p.steepness = 1
        p.distraction = 0
        p.lengthPenalty = 0
        p.middleLoss = 0
        p.correlation = 0
        p.conformity = 0
        return p
    }

    static let seed: UInt64 = 11

    /// The first lesson on `mode` whose quality has the sign asked for.
    static func lesson(mode: Int, wrong: Bool, _ p: SimulatedWorld.Parameters) -> (Int, Double) {
        for k in 0..<p.lessonsPerNiche where SimulatedWorld.mode(ofLesson: k, parameters: p) == mode {
            let q = SimulatedWorld.lessonQuality(worldSeed: seed, niche: 0, lesson: k, parameters: p)
            if (q < 0) == wrong { return (k, q) }
        }
        fatalError("no such lesson in world \(seed)")
    }

    static func request(_ action: TurnAction = .answer, task: Int = 1, member: Int = 0, skill: Double = 0.5, gap: Double,
                        mode: Int = 0, lessons: [Int] = [], shared: Double = 0) -> TurnRequest {
        TurnRequest(worldSeed: seed, task: task, round: 0, member: member, agent: member + 1, action: action, niche: 0,
                    difficulty: 0.2, correctAnswer: "answer-\(task)", skill: skill, gap: gap, mode: mode,
                    insightLessons: lessons, sharedMemory: shared)
    }

    static func sigmoid(_ x: Double) -> Double { 1 / (1 + exp(-x)) }

    @Test func aRelevantLessonClosesItsShareOfTheGap() {
        var p = Self.plain()
        p.lessonsPerNiche = 30
        let (k, q) = Self.lesson(mode: 0, wrong: false, p)
        // p = sigmoid(s - g + q g - d)
        for gap in [0.0, 0.5, 1.5] {
            let with = SimulatedWorld.successProbability(Self.request(gap: gap, lessons: [k]), parameters: p)
            #expect(abs(with - Self.sigmoid(0.5 - gap + q * gap - 0.2)) < 1e-12)
        }
        // No gap, no help: the strong agent gains nothing.
        #expect(SimulatedWorld.successProbability(Self.request(gap: 0, lessons: [k]), parameters: p)
                == SimulatedWorld.successProbability(Self.request(gap: 0), parameters: p))
    }

    @Test func aWrongLessonWidensTheGap() {
        var p = Self.plain()
        p.lessonsPerNiche = 30
        let (k, q) = Self.lesson(mode: 0, wrong: true, p)
        #expect(q < 0)
        let with = SimulatedWorld.successProbability(Self.request(gap: 1, lessons: [k]), parameters: p)
        #expect(abs(with - Self.sigmoid(0.5 - 1 + q - 0.2)) < 1e-12)
        #expect(with < SimulatedWorld.successProbability(Self.request(gap: 1), parameters: p))
    }

    @Test func irrelevantAndLongContextCosts() {
        var p = Self.plain()
        p.lessonsPerNiche = 30
        p.distraction = 0.1
        let (other, _) = Self.lesson(mode: 1, wrong: false, p)
        // Two lessons on another mode: 2 x 0.1 off the logit.
        let distracted = SimulatedWorld.successProbability(Self.request(gap: 1, lessons: [other, other + 3]), parameters: p)
        #expect(abs(distracted - Self.sigmoid(0.5 - 1 - 0.2 - 0.2)) < 1e-12)
        p.distraction = 0
        p.lengthPenalty = 0.2
        p.insightTokens = 50
        // Two lessons of 50 tokens: 0.2 per 1,000 tokens, 0.02 off.
        let long = SimulatedWorld.successProbability(Self.request(gap: 1, lessons: [other, other + 3]), parameters: p)
        #expect(abs(long - Self.sigmoid(0.5 - 1 - 0.2 - 0.02)) < 1e-12)
        #expect(SimulatedWorld.execute(Self.request(gap: 1, lessons: [other, other + 3]), parameters: p).tokens == 300 + 100)
    }

    @Test func aRelevantLessonInTheMiddleCountsLess() {
        var p = Self.plain()
        p.lessonsPerNiche = 60
        p.middleLoss = 0.3
        p.modes = 1
        let good = (0..<60).map { ($0, SimulatedWorld.lessonQuality(worldSeed: Self.seed, niche: 0, lesson: $0, parameters: p)) }
            .filter { $0.1 > 0 }
        let (a, qa) = good[0], (b, qb) = good[1], (c, qc) = good[2]
        // Diminishing returns by |q|, largest first; the middle one weighs 0.7.
        let weights = [qa, qb * 0.7, qc].sorted { abs($0) > abs($1) }
        let bonus = weights[0] + weights[1] / 2 + weights[2] / 4
        let got = SimulatedWorld.successProbability(Self.request(gap: 1, lessons: [a, b, c]), parameters: p)
        #expect(abs(got - Self.sigmoid(0.5 - 1 + bonus - 0.2)) < 1e-12)
    }

    /// Teammates who hold the same lessons err together; with nothing shared they err
    /// apart. Two members answering 300 tasks at p near 0.5.
    @Test func sharedMemoryCorrelatesTeammatesErrors() {
        var p = Self.plain()
        func agreement(correlation: Double, shared: Double) -> Double {
            p.correlation = correlation
            var same = 0
            for task in 1...300 {
                let a = SimulatedWorld.execute(Self.request(task: task, member: 0, skill: 0.2, gap: 0, shared: shared), parameters: p)
                let b = SimulatedWorld.execute(Self.request(task: task, member: 1, skill: 0.2, gap: 0, shared: shared), parameters: p)
                same += a.text == b.text ? 1 : 0
            }
            return Double(same) / 300
        }
        #expect(agreement(correlation: 1, shared: 1) == 1, "fully shared memory: the same answer, right or wrong")
        let apart = agreement(correlation: 0, shared: 1)
        #expect(apart < 0.75, "independent: they often differ (\(apart))")
        #expect(agreement(correlation: 1, shared: 0) == apart, "nothing shared: correlation has nothing to act on")
    }

    @Test func aConformingDebaterFollowsTheMajorityRightOrWrong() {
        var p = Self.plain()
        var revise = Self.request(.revise, gap: 0)
        revise.ownAnswer = "answer-1"
        revise.othersAnswers = ["wrong-2", "wrong-2", "answer-1"]
        p.conformity = 1
        #expect(SimulatedWorld.execute(revise, parameters: p).text == "wrong-2")
        p.conformity = 0
        #expect(SimulatedWorld.execute(revise, parameters: p).text == "answer-1", "it keeps its own right answer")
        #expect(SimulatedWorld.mostCommon(["b", "a", "a", "b"]) == "b", "a tie goes to the first")
    }

    /// A producer who knows the mode writes fewer wrong lessons; every lesson is on the
    /// event task's mode.
    @Test func lessonQualityDependsOnTheProducer() {
        var p = Self.plain()
        p.lessonsPerNiche = 30
        p.wrongShare = 0.4
        func wrongShare(skill: Double, gap: Double) -> Double {
            var wrong = 0, total = 0
            for task in 1...400 {
                var distil = Self.request(.distil, task: task, skill: skill, gap: gap, mode: 2)
                distil.count = 1
                let text = SimulatedWorld.execute(distil, parameters: p).text
                let lesson = SimulatedWorld.lesson(inText: text)!
                #expect(SimulatedWorld.mode(ofLesson: lesson, parameters: p) == 2)
                wrong += SimulatedWorld.lessonQuality(worldSeed: Self.seed, niche: 0, lesson: lesson, parameters: p) < 0 ? 1 : 0
                total += 1
            }
            return Double(wrong) / Double(total)
        }
        let strong = wrongShare(skill: 3, gap: 0), weak = wrongShare(skill: -3, gap: 1)
        #expect(strong < weak, "strong \(strong), weak \(weak)")
    }

    @Test func gapsAreInheritedByForksAndFreshForSeeds() {
        var p = SimulatedWorld.Parameters()
        p.forkMutation = 0
        var world = SimulatedWorld(seed: Self.seed, nicheCount: 2, parameters: p)
        world.register(AgentID(1))
        world.register(AgentID(2), parent: AgentID(1), inheritFrom: .fork)
        world.register(AgentID(3))
        #expect(world.gaps[AgentID(2)] == world.gaps[AgentID(1)])
        #expect(world.gaps[AgentID(3)] != world.gaps[AgentID(1)])
        #expect(world.gaps[AgentID(1)]!.count == 2 * p.modes && world.gaps[AgentID(1)]!.allSatisfy { $0 >= 0 })
        #expect((1...50).map { world.task(id: $0, niche: 0).mode }.allSatisfy { (0..<p.modes).contains($0) })
    }
}
