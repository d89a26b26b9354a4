import Foundation

/// Measures the simulator's context and conformity parameters on a real model
/// (`coevo calibrate`): the same chamber questions (`ChamberTaskBank`) asked under a few
/// conditions, and each parameter read off the difference in log-odds of a right answer,
/// divided by the simulator's `steepness` (its answers are `sigmoid(steepness * x)`).
///
/// | condition | prompt |
/// |---|---|
/// | base | the question |
/// | short distractors | 4 short off-topic lessons in the system prompt |
/// | long distractors | the same 4 lessons, each padded to about 4x the tokens |
/// | hint first | the answer as a lesson, first of 5 (then the 4 short ones) |
/// | hint middle | the same hint third of 5 |
/// | majority | a revise turn: own answer right, both teammates the same wrong one |
///
/// - `length_penalty` = (short - long) / (4 lessons x extra tokens / 1000);
/// - `distraction` = ((base - short) - the length cost of the short lessons) / 4;
/// - `middle_loss` = 1 - (hint middle - short) / (hint first - short);
/// - `conformity` = share of majority turns that switch to the wrong answer.
/// Gaps, wrong lessons and error correlation are not measured here.
public struct Calibration: Sendable {
    public enum Condition: String, CaseIterable, Hashable, Sendable {
        case base
        case shortDistractors = "short distractors"
        case longDistractors = "long distractors"
        case hintFirst = "hint first"
        case hintMiddle = "hint middle"
        case majority
    }

    /// One call to make: which condition and question, and the turn it is.
    public struct Probe: Hashable, Sendable {
        public var condition: Condition
        public var question: Int
        public var request: TurnRequest
        /// For `majority`: the wrong answer the teammates gave.
        public var wrong: String
    }

    static let distractors = [
        "When writing a poem, count the syllables of each line.",
        "A good cover letter names the job it applies for.",
        "Water plants in the morning, not at noon.",
        "In chess, develop knights before bishops.",
    ]
    static let padding = " Keep this in mind whatever the task, and read it again before you start, since it applies in more situations than it seems at first."

    public let probes: [Probe]
    private var right: [Condition: Int] = [:]
    private var asked: [Condition: Int] = [:]

    /// `questions` chamber questions, niches in turn, from `seed`.
    public init(seed: UInt64, questions: Int) {
        var probes: [Probe] = []
        for q in 0..<questions {
            let task = ChamberTaskBank.task(seed: seed, id: q + 1, niche: q % ChamberTaskBank.niches.count)
            let hint = "The answer to \"\(task.question)\" is \(task.correctAnswer)."
            let long = Self.distractors.map { $0 + Self.padding }
            var lessons: [Condition: [String]] = [
                .base: [], .shortDistractors: Self.distractors, .longDistractors: long,
                .hintFirst: [hint] + Self.distractors,
                .hintMiddle: Array(Self.distractors.prefix(2)) + [hint] + Array(Self.distractors.suffix(2)),
            ]
            lessons[.majority] = []
            for condition in Condition.allCases {
                let wrong = Self.wrongAnswer(for: task.correctAnswer)
                var request = TurnRequest(
                    worldSeed: seed, task: task.id, round: 0, member: 0, agent: 1,
                    action: condition == .majority ? .revise : .answer, niche: task.niche, difficulty: 0,
                    correctAnswer: task.correctAnswer, skill: 0, insightLessons: [], question: task.question,
                    insights: lessons[condition]!)
                if condition == .majority {
                    request.ownAnswer = task.correctAnswer
                    request.othersAnswers = [wrong, wrong]
                }
                probes.append(Probe(condition: condition, question: q, request: request, wrong: wrong))
            }
        }
        self.probes = probes
    }

    /// A wrong answer of the same kind: the number plus one, else another word.
    static func wrongAnswer(for correct: String) -> String {
        if let n = Int(correct) { return String(n + 1) }
        return correct == "yes" ? "no" : correct == "no" ? "yes" : "unknown"
    }

    /// Records a probe's reply (nil: the call failed, which counts as not right).
    public mutating func record(_ probe: Probe, reply: String?) {
        asked[probe.condition, default: 0] += 1
        guard let reply else { return }
        let answer = ChamberTurnPrompt.result(for: probe.request, reply: reply, tokens: 0).text
        let hit = probe.condition == .majority ? answer == probe.wrong : answer == probe.request.correctAnswer
        right[probe.condition, default: 0] += hit ? 1 : 0
    }

    /// Right answers (for `majority`: switches to the wrong one) over calls, per condition.
    public func counts(_ condition: Condition) -> (right: Int, asked: Int) {
        (right[condition] ?? 0, asked[condition] ?? 0)
    }

    public struct Estimate: Hashable, Sendable {
        public var distraction: Double
        public var lengthPenalty: Double
        /// Nil when the hint did not help even first (nothing to lose in the middle).
        public var middleLoss: Double?
        public var conformity: Double
    }

    /// The parameters, in the simulator's units for `steepness`, each clamped to what a
    /// config accepts (a negative cost is read as none).
    public func estimate(steepness: Double) -> Estimate {
        func logit(_ c: Condition) -> Double {
            let (k, n) = counts(c)
            let p = (Double(k) + 0.5) / (Double(n) + 1)
            return log(p / (1 - p))
        }
        let count = Double(Self.distractors.count)
        let shortTokens = Double(Self.distractors.map(Self.tokens).reduce(0, +))
        let extraTokens = Double(Self.distractors.map { Self.tokens($0 + Self.padding) - Self.tokens($0) }.reduce(0, +))
        let lengthPenalty = max(0, logit(.shortDistractors) - logit(.longDistractors)) / (extraTokens / 1000) / steepness
        let distraction = max(0, (logit(.base) - logit(.shortDistractors)) / steepness - lengthPenalty * shortTokens / 1000) / count
        let first = logit(.hintFirst) - logit(.shortDistractors), middle = logit(.hintMiddle) - logit(.shortDistractors)
        let (switched, asked) = counts(.majority)
        return Estimate(distraction: distraction, lengthPenalty: lengthPenalty,
                        middleLoss: first > 0 ? min(1, max(0, 1 - middle / first)) : nil,
                        conformity: asked == 0 ? 0 : Double(switched) / Double(asked))
    }

    /// Tokens of a text, as the usual rule of thumb for English: a token per 4 characters.
    static func tokens(_ text: String) -> Int { max(1, text.count / 4) }
}
