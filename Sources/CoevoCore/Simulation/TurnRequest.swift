/// What one agent is asked to do in one turn of a chamber step. It carries everything
/// the turn needs (workers keep no state), so the same request gives the same result on
/// any worker or in process.
public enum TurnAction: String, CaseIterable, Hashable, Sendable, Codable {
    case answer, critique, revise, reflect, distil
    /// Heartbeats: an agent's note to itself on its latest attempt (CORAL's reflect), and
    /// the strongest agent merging the pool's lessons into skills for all (consolidate).
    case note, consolidate
}

public struct TurnRequest: Hashable, Sendable, Codable {
    public var worldSeed: UInt64
    public var task: Int
    public var round: Int
    /// Position in the team (or, for CODREAM turns, a slot past the team).
    public var member: Int
    public var agent: Int
    public var action: TurnAction
    public var niche: Int
    public var difficulty: Double
    public var correctAnswer: String
    /// The agent's latent skill on the niche, its gap on the task's failure mode, that
    /// mode, the lessons it holds on the niche in prompt order and the share of them a
    /// teammate also holds: the simulator's hidden truth (a real backend gets the agent's
    /// prompt and insights instead).
    public var skill: Double
    public var gap: Double = 0
    public var mode: Int = 0
    public var insightLessons: [Int]
    public var sharedMemory: Double = 0
    public var ownAnswer: String
    /// Anchor first for a critique; the other members for a revise.
    public var othersAnswers: [String]
    /// For the anchor's revise in a review: the critic's verdict.
    public var critique: String
    /// For distil: how many insights to write.
    public var count: Int
    /// For a model backend: the question, and the texts of the insights the agent holds
    /// on the niche (the simulator reads `insightLessons` instead).
    public var question: String = ""
    public var insights: [String] = []
    /// For a model backend: the agent's persona, its specialty named (empty: the chamber's).
    public var persona: String = ""
    /// For CODREAM turns on a model: how the task ended, and (for distil) what each
    /// member reflected. `othersAnswers` then holds every member's answer and verdict.
    public var outcome: String = ""
    public var reflections: [String] = []

    public init(worldSeed: UInt64, task: Int, round: Int, member: Int, agent: Int, action: TurnAction,
                niche: Int, difficulty: Double, correctAnswer: String, skill: Double, gap: Double = 0, mode: Int = 0,
                insightLessons: [Int], sharedMemory: Double = 0, ownAnswer: String = "", othersAnswers: [String] = [],
                critique: String = "", count: Int = 0, question: String = "", insights: [String] = [],
                outcome: String = "", reflections: [String] = []) {
        self.worldSeed = worldSeed
        self.task = task
        self.round = round
        self.member = member
        self.agent = agent
        self.action = action
        self.niche = niche
        self.difficulty = difficulty
        self.correctAnswer = correctAnswer
        self.skill = skill
        self.gap = gap
        self.mode = mode
        self.insightLessons = insightLessons
        self.sharedMemory = sharedMemory
        self.ownAnswer = ownAnswer
        self.othersAnswers = othersAnswers
        self.critique = critique
        self.count = count
        self.question = question
        self.insights = insights
        self.outcome = outcome
        self.reflections = reflections
    }
}

public struct TurnResult: Hashable, Sendable, Codable {
    public var text: String
    public var tokens: Int
    /// What a turn whose call failed or could not be read counts as: no answer (wrong).
    public static let empty = TurnResult(text: "", tokens: 0)
    public init(text: String, tokens: Int) {
        self.text = text
        self.tokens = tokens
    }
}
