import Foundation

/// The simulator: a stochastic model of LLM agents, for large studies and tests. All of
/// its rules are in this file.
///
/// **Agents.** Every agent is the same model; agent *a* has a latent skill `s[a][n]` on
/// niche *n*: the model's skill on the niche, `bias[n] ~ Normal(0, nicheSpread)` drawn
/// once per world, plus the agent's own offset `~ Normal(0, agentSpread)` (its prompt and
/// history make it a little different). A fork inherits its parent's skills plus
/// `Normal(0, forkMutation)` noise; a merge keeps the survivor's; a seed draws fresh
/// offsets. Skills never change otherwise: nothing is trained.
///
/// **Insights.** Each niche has `lessonsPerNiche` lessons with a fixed quality
/// `q ~ Uniform(0, 1)` (a hash of world seed, niche and lesson). Holding lessons on a
/// niche adds `insightWeight * sum_k q_k / 2^k` (best first: diminishing returns) to the
/// skill on that niche.
///
/// **Answering.** A task has a niche, a difficulty `d ~ Normal(0, difficultySpread)` and
/// one correct answer; every wrong answer is one of three wrong strings. An agent answers
/// correctly with `p = sigmoid(steepness * (s + insightBonus - d))`.
/// A *revise* turn adopts a correct answer it sees among the others' with probability
/// `p`, otherwise keeps its own. A *critique* flags a wrong answer with probability `p`
/// and a right one by mistake with probability `(1 - p) * falseAlarm`; a flagged anchor
/// answers again.
///
/// **Distilling.** A producer writes `count` insights; each is the best of `1 + round(2 *
/// sigmoid(s))` lessons drawn at random, so strong producers write better lessons. A
/// heartbeat *note* is one lesson drawn the same way. A *consolidation* keeps the `count`
/// best of the lessons it is shown.
///
/// **Costs.** Tokens per turn: answer 300, critique 200, revise 250, reflect 150, distil
/// 400 per insight, note 150, consolidate 400; latency 0.02 ms a token (reported, never
/// slept).
///
/// Every draw comes from a generator seeded by the turn's own identity (world seed, task,
/// round, member), so the same seed gives the same evolution in process or over workers,
/// whatever order results arrive in. Nothing here knows how insights are routed.
public struct SimulatedWorld: Sendable {
    public struct Parameters: Hashable, Sendable {
        public var nicheSpread = 1.0
        public var agentSpread = 0.3
        public var forkMutation = 0.1
        public var difficultySpread = 1.0
        public var steepness = 1.5
        public var insightWeight = 1.0
        public var lessonsPerNiche = 12
        public var falseAlarm = 0.3
        public init() {}
    }

    public static let tokensPerTurn: [TurnAction: Int] = [
        .answer: 300, .critique: 200, .revise: 250, .reflect: 150, .distil: 400, .note: 150, .consolidate: 400,
    ]
    public static let millisecondsPerToken = 0.02

    public let seed: UInt64
    public let parameters: Parameters
    public let nicheCount: Int
    private let nicheBias: [Double]
    /// Latent skills by agent.
    public private(set) var skills: [AgentID: [Double]] = [:]

    public init(seed: UInt64, nicheCount: Int, parameters: Parameters = Parameters()) {
        self.seed = seed
        self.parameters = parameters
        self.nicheCount = nicheCount
        var rng = SeededGenerator(seed: seed ^ 0x5EED_0F_B1A5)
        nicheBias = (0..<nicheCount).map { _ in Distributions.normal(using: &rng) * parameters.nicheSpread }
    }

    // MARK: Agents

    /// Gives a new agent its latent skills (see the rules above).
    public mutating func register(_ agent: AgentID, parent: AgentID? = nil, inheritFrom: Agent.Lineage.Operator = .initial) {
        var rng = Self.generator(seed, 0xA6E7, UInt64(agent.rawValue))
        if let parent, let base = skills[parent], inheritFrom == .fork {
            skills[agent] = base.map { $0 + Distributions.normal(using: &rng) * parameters.forkMutation }
        } else {
            skills[agent] = nicheBias.map { $0 + Distributions.normal(using: &rng) * parameters.agentSpread }
        }
    }

    public func skill(_ agent: AgentID, niche: Int) -> Double { skills[agent]?[niche] ?? nicheBias[niche] }

    // MARK: Tasks

    /// The task with id `id` on `niche`: its difficulty and correct answer.
    public func task(id: Int, niche: Int) -> SimulatedTask {
        var rng = Self.generator(seed, 0x7A5C, UInt64(id))
        let difficulty = Distributions.normal(using: &rng) * parameters.difficultySpread
        return SimulatedTask(id: id, niche: niche, difficulty: difficulty, correctAnswer: "answer-\(id)")
    }

    /// Quality of lesson `lesson` of `niche`.
    public static func lessonQuality(worldSeed: UInt64, niche: Int, lesson: Int) -> Double {
        var rng = generator(worldSeed, 0x1E55, UInt64(niche) << 20 | UInt64(lesson))
        return Double.random(in: 0..<1, using: &rng)
    }

    // MARK: Turns (pure: everything a turn needs is in the request)

    public static func successProbability(skill: Double, insightQualities: [Double], difficulty: Double,
                                          parameters: Parameters) -> Double {
        let bonus = insightQualities.sorted(by: >).enumerated().reduce(0.0) { $0 + $1.element / pow(2, Double($1.offset)) }
        return sigmoid(parameters.steepness * (skill + parameters.insightWeight * bonus - difficulty))
    }

    /// Executes one agent turn under the rules above.
    public static func execute(_ request: TurnRequest, parameters: Parameters) -> TurnResult {
        var rng = generator(request.worldSeed, UInt64(request.task), UInt64(request.round) << 16 | UInt64(request.member))
        let p = successProbability(skill: request.skill, insightQualities: request.insightQualities,
                                   difficulty: request.difficulty, parameters: parameters)
        let tokens = tokensPerTurn[request.action]! * (request.action == .distil ? max(1, request.count) : 1)
        func attempt() -> String {
            if Double.random(in: 0..<1, using: &rng) < p { return request.correctAnswer }
            return "wrong-\(Int.random(in: 1...3, using: &rng))"
        }
        switch request.action {
        case .answer:
            return TurnResult(text: attempt(), tokens: tokens)
        case .critique:
            let anchorRight = request.othersAnswers.first == request.correctAnswer
            let flag = anchorRight ? Double.random(in: 0..<1, using: &rng) < (1 - p) * parameters.falseAlarm
                                   : Double.random(in: 0..<1, using: &rng) < p
            return TurnResult(text: flag ? "wrong" : "ok", tokens: tokens)
        case .revise:
            if request.critique == "wrong" { return TurnResult(text: attempt(), tokens: tokens) }
            if request.critique == "ok" { return TurnResult(text: request.ownAnswer, tokens: tokens) }
            let sawCorrect = request.othersAnswers.contains(request.correctAnswer)
            if sawCorrect && request.ownAnswer != request.correctAnswer && Double.random(in: 0..<1, using: &rng) < p {
                return TurnResult(text: request.correctAnswer, tokens: tokens)
            }
            return TurnResult(text: request.ownAnswer, tokens: tokens)
        case .reflect:
            return TurnResult(text: "", tokens: tokens)
        case .consolidate:
            let held = Set(request.othersAnswers.compactMap(lesson(inText:)))
            let best = held.sorted {
                let x = lessonQuality(worldSeed: request.worldSeed, niche: request.niche, lesson: $0)
                let y = lessonQuality(worldSeed: request.worldSeed, niche: request.niche, lesson: $1)
                return x != y ? x > y : $0 < $1
            }
            return TurnResult(text: best.prefix(request.count).map { "niche \(request.niche) lesson \($0)" }.joined(separator: "\n"),
                              tokens: tokens)
        case .distil, .note:
            let draws = 1 + Int((2 * sigmoid(request.skill)).rounded())
            var lessons: [Int] = []
            for _ in 0..<request.count {
                var best = -1
                var bestQuality = -1.0
                for _ in 0..<draws {
                    let lesson = Int.random(in: 0..<parameters.lessonsPerNiche, using: &rng)
                    let quality = lessonQuality(worldSeed: request.worldSeed, niche: request.niche, lesson: lesson)
                    if quality > bestQuality { bestQuality = quality; best = lesson }
                }
                lessons.append(best)
            }
            return TurnResult(text: lessons.map { "niche \(request.niche) lesson \($0)" }.joined(separator: "\n"),
                              tokens: tokens)
        }
    }

    /// Reads the lesson number back from an insight text written by `execute(.distil)`.
    public static func lesson(inText text: String) -> Int? {
        guard let last = text.split(separator: " ").last else { return nil }
        return Int(last)
    }

    static func sigmoid(_ x: Double) -> Double { 1 / (1 + exp(-x)) }

    static func generator(_ seed: UInt64, _ a: UInt64, _ b: UInt64) -> SeededGenerator {
        var mix = SeededGenerator(seed: seed ^ (a &* 0x9E37_79B9_7F4A_7C15) ^ (b &* 0xC2B2_AE3D_27D4_EB4F))
        return SeededGenerator(seed: mix.next())
    }
}

/// A task as the simulator sees it.
/// A chamber task: the simulator's (an id, a difficulty, an opaque answer) or a real one
/// from `ChamberTaskBank` (a question and its answer).
public struct SimulatedTask: Hashable, Sendable {
    public var id: Int
    public var niche: Int
    public var difficulty: Double
    public var correctAnswer: String
    /// The question a model is asked; empty on the simulator.
    public var question: String = ""
}
