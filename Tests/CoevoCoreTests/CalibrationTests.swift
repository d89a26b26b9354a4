@testable import CoevoCore
import Foundation
import Testing

/// `coevo calibrate`'s arithmetic on scripted replies, worked by hand. Bad input tried: a
/// failed call (counts as not right), a reply with no answer line.
@Suite struct CalibrationTests {
    @Test func probesAreTheSameQuestionsUnderEachCondition() {
        let calibration = Calibration(seed: 3, questions: 4)
        #expect(calibration.probes.count == 4 * Calibration.Condition.allCases.count)
        for q in 0..<4 {
            let probes = calibration.probes.filter { $0.question == q }
            #expect(Set(probes.map(\.request.question)).count == 1)
            let hintFirst = probes.first { $0.condition == .hintFirst }!.request.insights
            let hintMiddle = probes.first { $0.condition == .hintMiddle }!.request.insights
            #expect(hintFirst.count == 5 && hintFirst[0].contains("is \(probes[0].request.correctAnswer)."))
            #expect(hintMiddle[2] == hintFirst[0] && Set(hintMiddle) == Set(hintFirst))
            let majority = probes.first { $0.condition == .majority }!
            #expect(majority.request.action == .revise && majority.request.ownAnswer == majority.request.correctAnswer)
            #expect(majority.request.othersAnswers == [majority.wrong, majority.wrong] && majority.wrong != majority.request.correctAnswer)
            #expect(ChamberTurnPrompt.call(for: probes.first { $0.condition == .longDistractors }!.request).system.count
                    > ChamberTurnPrompt.call(for: probes.first { $0.condition == .shortDistractors }!.request).system.count)
        }
    }

    @Test func parametersAreLogOddsDifferencesOverSteepness() throws {
        var calibration = Calibration(seed: 3, questions: 8)
        // Right answers per condition, out of 8: base 6, short 4, long 3, hint first 7,
        // hint middle 5; majority: 2 of 8 switch to the wrong answer.
        let wanted: [Calibration.Condition: Int] = [.base: 6, .shortDistractors: 4, .longDistractors: 3, .hintFirst: 7,
                                                    .hintMiddle: 5, .majority: 2]
        var given: [Calibration.Condition: Int] = [:]
        for probe in calibration.probes {
            let hit = given[probe.condition, default: 0] < wanted[probe.condition]!
            given[probe.condition, default: 0] += 1
            let answer = probe.condition == .majority ? probe.wrong : probe.request.correctAnswer
            // A miss: a failed call, or a reply with no answer in it.
            calibration.record(probe, reply: hit ? "ANSWER: \(answer)" : (probe.question % 2 == 0 ? nil : "I am not sure."))
        }
        #expect(calibration.counts(.base) == (6, 8) && calibration.counts(.majority) == (2, 8))
        func logit(_ k: Double) -> Double { let p = (k + 0.5) / 9; return log(p / (1 - p)) }
        let short = Calibration.distractors.map(Calibration.tokens).reduce(0, +)
        let extra = Calibration.distractors.map { Calibration.tokens($0 + Calibration.padding) - Calibration.tokens($0) }.reduce(0, +)
        let length = (logit(4) - logit(3)) / (Double(extra) / 1000) / 2
        let estimate = calibration.estimate(steepness: 2)
        #expect(abs(estimate.lengthPenalty - length) < 1e-12)
        #expect(abs(estimate.distraction - ((logit(6) - logit(4)) / 2 - length * Double(short) / 1000) / 4) < 1e-12)
        #expect(abs(estimate.middleLoss! - (1 - (logit(5) - logit(4)) / (logit(7) - logit(4)))) < 1e-12)
        #expect(estimate.conformity == 0.25)
    }
}
