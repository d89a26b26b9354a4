import Foundation

/// The simulator: a stochastic model of LLM agents, for large studies and tests. All of
/// its rules are in this file, and every parameter (`Parameters`) names where its effect
/// comes from in the literature and the range that supports. The operators never see any
/// of it: they see answers, and lesson texts. The rules are fixed; no parameter is set to
/// make one routing mode win, and `coevo ablate --sweep` maps how results move across the
/// ranges.
///
/// **Agents.** Every agent is the same model; agent *a* has a latent skill `s[a][n]` on
/// niche *n*: the model's skill on the niche, `bias[n] ~ Normal(0, nicheSpread)` drawn
/// once per world, plus the agent's own offset `~ Normal(0, agentSpread)` (its prompt and
/// history make it a little different). A fork inherits its parent's skills and gaps plus
/// `Normal(0, forkMutation)` noise; a merge keeps the survivor's; a seed draws fresh ones.
/// Skills never change otherwise: nothing is trained.
///
/// **Failure modes and gaps.** Each niche has `modes` failure modes, and each task one of
/// them (drawn with the task): the way it goes wrong when it does. Agent *a* has a gap
/// `g[a][n][m] = |Normal(0, gapSpread)|` on each mode; on a task of mode *m* its skill is
/// `s[a][n] - g[a][n][m]`. Agents differ most in where their gaps are.
///
/// **Lessons.** Niche *n* has `lessonsPerNiche` lessons; lesson *k* is about mode
/// `k mod modes` and has a quality `q` (a hash of world seed, niche and lesson): with
/// probability `wrongShare` it is wrong, `q ~ -Uniform(0, 1)`, else `q ~ Uniform(0, 1)`.
///
/// **What held lessons do** to an answer on a task of mode *m* (in prompt order):
/// - a lesson on *m* is relevant: it closes the share `q` of the agent's gap, or widens
///   it when wrong, `insightWeight * q * g`; relevant lessons count with diminishing
///   returns (strongest |q| first, the *k*-th by `1/2^k`), and one that is neither first
///   nor last in the prompt counts `1 - middleLoss` as much;
/// - a lesson on another mode is irrelevant and costs `distraction`;
/// - all of them cost `lengthPenalty` per 1,000 tokens (`insightTokens` each).
/// So a lesson helps an agent in proportion to its gap on the lesson's mode: a strong
/// agent with no gap gains nothing from it and still pays for reading it.
///
/// **Answering.** With `x = s - g + bonus - penalties - d` for a task of difficulty
/// `d ~ Normal(0, difficultySpread)`, an agent is right with `p = sigmoid(steepness * x)`.
/// Teammates' draws are correlated by what they hold in common: the draw is
/// `Phi(sqrt(rho) * z_team + sqrt(1 - rho) * z_own)` with `rho = correlation *
/// sharedMemory` (the share of its lessons a teammate also holds), and a wrong answer is
/// the team's wrong answer with probability `rho`, else one of three at random. A vote
/// gains only from errors that are independent.
/// A *revise* turn without a critique (debate) follows the others' most common answer
/// with probability `conformity`, right or wrong; otherwise it adopts a correct answer
/// it sees with probability `p`, else keeps its own. A critique `ok` keeps the answer, a
/// critique `wrong` answers again. A *critique* flags a wrong answer with probability `p`
/// and a right one with probability `(1 - p) * falseAlarm`.
///
/// **Distilling.** A producer writes `count` lessons on the event task's mode; each is the
/// best (highest q) of `1 + round(2 * sigmoid(s - g))` lessons of that mode drawn at
/// random, so an agent that knows the mode writes better ones, and a weak one often
/// writes a wrong one. A heartbeat *note* is one lesson written the same way on the
/// mode of the agent's latest attempt. A *consolidation* keeps the `count` best of the
/// lessons it is shown.
///
/// **Costs.** Tokens per turn: answer 300, critique 200, revise 250, reflect 150, distil
/// 400 per insight, note 150, consolidate 400, plus `insightTokens` per lesson held in
/// the prompt; latency 0.02 ms a token (reported, never slept).
///
/// Every draw comes from a generator seeded by the turn's own identity (world seed, task,
/// round, member; the team draw by world seed, task and round), so the same seed gives the
/// same evolution in process or over workers, whatever order results arrive in. Nothing
/// here knows how insights are routed.
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
        /// Failure modes per niche. Error analyses of LLM math and reasoning find a few
        /// dominant kinds (misreading, a wrong step, a calculation slip): 1 to 5.
        public var modes = 3
        /// How far apart agents' gaps are. Agents built on one model differ mostly in
        /// prompt and memory; EvoChamber's specialists emerge from such differences: 0 to 2.
        public var gapSpread = 1.0
        /// Share of lessons that are wrong. Self-generated feedback is often wrong
        /// (Huang et al. 2024, "LLMs cannot self-correct reasoning yet"): 0 to 0.5.
        public var wrongShare = 0.25
        /// Logit cost of each irrelevant lesson in the prompt. Irrelevant context drops
        /// GSM8K accuracy by up to tens of points (Shi et al. 2023, GSM-IC): 0 to 0.3.
        public var distraction = 0.1
        /// Logit cost per 1,000 prompt tokens of lessons. Reasoning degrades with input
        /// length well before the context limit (Levy et al. 2024, "Same task, more
        /// tokens"): 0 to 0.5.
        public var lengthPenalty = 0.2
        /// Weight lost by a relevant lesson in the middle of the list. Accuracy is
        /// U-shaped in the position of relevant information (Liu et al. 2023, "Lost in
        /// the middle"): 0 to 0.5.
        public var middleLoss = 0.3
        /// How much holding the same lessons correlates teammates' errors. Ensembles and
        /// votes of LLMs gain little when their errors are correlated (Li et al. 2024,
        /// "More agents is all you need"; Kim et al. 2025, correlated errors): 0 to 0.8.
        public var correlation = 0.5
        /// Chance a debater follows the majority, right or wrong. Multi-agent debate shows
        /// conformity (Smit et al. 2024, "Should we be going MAD?"; Wang et al. 2024): 0
        /// to 0.6.
        public var conformity = 0.2
        /// Tokens one lesson adds to a prompt: 20 to 80.
        public var insightTokens = 40
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
    /// Gaps by agent, niche-major (`niche * modes + mode`).
    public private(set) var gaps: [AgentID: [Double]] = [:]

    public init(seed: UInt64, nicheCount: Int, parameters: Parameters = Parameters()) {
        self.seed = seed
        self.parameters = parameters
        self.nicheCount = nicheCount
        var rng = SeededGenerator(seed: seed ^ 0x5EED_0F_B1A5)
        nicheBias = (0..<nicheCount).map { _ in Distributions.normal(using: &rng) * parameters.nicheSpread }
    }

    // MARK: Agents

    /// Gives a new agent its latent skills and gaps (see the rules above).
    public mutating func register(_ agent: AgentID, parent: AgentID? = nil, inheritFrom: Agent.Lineage.Operator = .initial) {
        var rng = Self.generator(seed, 0xA6E7, UInt64(agent.rawValue))
        let modes = max(1, parameters.modes)
        if let parent, let base = skills[parent], let baseGaps = gaps[parent], inheritFrom == .fork {
            skills[agent] = base.map { $0 + Distributions.normal(using: &rng) * parameters.forkMutation }
            gaps[agent] = baseGaps.map { abs($0 + Distributions.normal(using: &rng) * parameters.forkMutation) }
        } else {
            skills[agent] = nicheBias.map { $0 + Distributions.normal(using: &rng) * parameters.agentSpread }
            gaps[agent] = (0..<(nicheCount * modes)).map { _ in abs(Distributions.normal(using: &rng)) * parameters.gapSpread }
        }
    }

    public func skill(_ agent: AgentID, niche: Int) -> Double { skills[agent]?[niche] ?? nicheBias[niche] }

    public func gap(_ agent: AgentID, niche: Int, mode: Int) -> Double {
        gaps[agent]?[niche * max(1, parameters.modes) + mode] ?? 0
    }

    // MARK: Tasks and lessons

    /// The task with id `id` on `niche`: its difficulty, failure mode and correct answer.
    public func task(id: Int, niche: Int) -> SimulatedTask {
        var rng = Self.generator(seed, 0x7A5C, UInt64(id))
        let difficulty = Distributions.normal(using: &rng) * parameters.difficultySpread
        let mode = Int.random(in: 0..<max(1, parameters.modes), using: &rng)
        return SimulatedTask(id: id, niche: niche, difficulty: difficulty, correctAnswer: "answer-\(id)", mode: mode)
    }

    /// Quality of lesson `lesson` of `niche`: negative for a wrong one.
    public static func lessonQuality(worldSeed: UInt64, niche: Int, lesson: Int, parameters: Parameters) -> Double {
        var rng = generator(worldSeed, 0x1E55, UInt64(niche) << 20 | UInt64(lesson))
        let q = Double.random(in: 0..<1, using: &rng)
        return Double.random(in: 0..<1, using: &rng) < parameters.wrongShare ? -q : q
    }

    /// The failure mode lesson `lesson` is about.
    public static func mode(ofLesson lesson: Int, parameters: Parameters) -> Int { lesson % max(1, parameters.modes) }

    // MARK: Turns (pure: everything a turn needs is in the request)

    /// The logit shift the held lessons give an answer on a task of `request.mode`, and
    /// the prompt tokens they add (see "What held lessons do").
    static func lessonEffect(_ request: TurnRequest, parameters: Parameters) -> (shift: Double, tokens: Int) {
        let lessons = request.insightLessons
        var relevant: [Double] = []
        var irrelevant = 0
        for (position, lesson) in lessons.enumerated() {
            guard mode(ofLesson: lesson, parameters: parameters) == request.mode else {
                irrelevant += 1
                continue
            }
            let q = lessonQuality(worldSeed: request.worldSeed, niche: request.niche, lesson: lesson, parameters: parameters)
            let atAnEnd = position == 0 || position == lessons.count - 1
            relevant.append(q * (atAnEnd ? 1 : 1 - parameters.middleLoss))
        }
        let bonus = relevant.sorted { abs($0) > abs($1) }.enumerated()
            .reduce(0.0) { $0 + $1.element / pow(2, Double($1.offset)) }
        let tokens = lessons.count * parameters.insightTokens
        let shift = parameters.insightWeight * bonus * request.gap - parameters.distraction * Double(irrelevant)
            - parameters.lengthPenalty * Double(tokens) / 1000
        return (shift, tokens)
    }

    public static func successProbability(_ request: TurnRequest, parameters: Parameters) -> Double {
        successProbability(request, shift: lessonEffect(request, parameters: parameters).shift, parameters: parameters)
    }

    static func successProbability(_ request: TurnRequest, shift: Double, parameters: Parameters) -> Double {
        sigmoid(parameters.steepness * (request.skill - request.gap + shift - request.difficulty))
    }

    /// Executes one agent turn under the rules above.
    public static func execute(_ request: TurnRequest, parameters: Parameters) -> TurnResult {
        var rng = generator(request.worldSeed, UInt64(request.task), UInt64(request.round) << 16 | UInt64(request.member))
        var team = generator(request.worldSeed, UInt64(request.task), UInt64(request.round) << 16 | 0xFFFF)
        let effect = lessonEffect(request, parameters: parameters)
        let p = successProbability(request, shift: effect.shift, parameters: parameters)
        let lessonTokens = effect.tokens
        let tokens = tokensPerTurn[request.action]! * (request.action == .distil ? max(1, request.count) : 1) + lessonTokens
        let rho = min(1, max(0, parameters.correlation * request.sharedMemory))
        func attempt() -> String {
            let z = rho.squareRoot() * Distributions.normal(using: &team) + (1 - rho).squareRoot() * Distributions.normal(using: &rng)
            if normalCDF(z) < p { return request.correctAnswer }
            let teamWrong = Int.random(in: 1...3, using: &team)
            return "wrong-\(Double.random(in: 0..<1, using: &rng) < rho ? teamWrong : Int.random(in: 1...3, using: &rng))"
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
            if let majority = mostCommon(request.othersAnswers), Double.random(in: 0..<1, using: &rng) < parameters.conformity {
                return TurnResult(text: majority, tokens: tokens)
            }
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
                let x = lessonQuality(worldSeed: request.worldSeed, niche: request.niche, lesson: $0, parameters: parameters)
                let y = lessonQuality(worldSeed: request.worldSeed, niche: request.niche, lesson: $1, parameters: parameters)
                return x != y ? x > y : $0 < $1
            }
            return TurnResult(text: best.prefix(request.count).map { "niche \(request.niche) lesson \($0)" }.joined(separator: "\n"),
                              tokens: tokens)
        case .distil, .note:
            let modes = max(1, parameters.modes)
            let onMode = stride(from: request.mode, to: parameters.lessonsPerNiche, by: modes).map { $0 }
            guard !onMode.isEmpty else { return TurnResult(text: "", tokens: tokens) }
            let draws = 1 + Int((2 * sigmoid(request.skill - request.gap)).rounded())
            var lessons: [Int] = []
            for _ in 0..<max(1, request.count) {
                var best = -1
                var bestQuality = -Double.infinity
                for _ in 0..<draws {
                    let lesson = onMode[Int.random(in: 0..<onMode.count, using: &rng)]
                    let quality = lessonQuality(worldSeed: request.worldSeed, niche: request.niche, lesson: lesson, parameters: parameters)
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

    /// The most common answer (the earliest on a tie), or nil when there are none.
    static func mostCommon(_ answers: [String]) -> String? {
        var counts: [String: Int] = [:]
        for answer in answers { counts[answer, default: 0] += 1 }
        return answers.max { a, b in counts[a]! != counts[b]! ? counts[a]! < counts[b]! : answers.firstIndex(of: a)! > answers.firstIndex(of: b)! }
    }

    static func sigmoid(_ x: Double) -> Double { 1 / (1 + exp(-x)) }
    static func normalCDF(_ z: Double) -> Double { 0.5 * (1 + erf(z / 2.0.squareRoot())) }

    static func generator(_ seed: UInt64, _ a: UInt64, _ b: UInt64) -> SeededGenerator {
        var mix = SeededGenerator(seed: seed ^ (a &* 0x9E37_79B9_7F4A_7C15) ^ (b &* 0xC2B2_AE3D_27D4_EB4F))
        return SeededGenerator(seed: mix.next())
    }
}

/// A chamber task: the simulator's (an id, a difficulty, a failure mode, an opaque
/// answer) or a real one from `ChamberTaskBank` (a question and its answer).
public struct SimulatedTask: Hashable, Sendable {
    public var id: Int
    public var niche: Int
    public var difficulty: Double
    public var correctAnswer: String
    /// The way the task goes wrong when it does (simulator; 0 for a real task).
    public var mode: Int = 0
    /// The question a model is asked; empty on the simulator.
    public var question: String = ""
}
