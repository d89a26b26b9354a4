import Foundation

/// One graded submission: a row of the pool's shared memory.
public struct Attempt: Codable, Hashable, Sendable {
    public enum Status: String, Codable, Hashable, Sendable, CaseIterable {
        /// Beat the agent's own best by more than epsilon (`poolBest` says whether the pool's too).
        case improved
        /// Within epsilon of the agent's own best (or its first attempt).
        case baseline
        case regressed
        /// The grader crashed or printed no score.
        case crashed
        case timeout
    }

    /// The step's key (`r<round>.step.<agent>`): unique in the run.
    public var key: String
    public var round: Int
    public var agent: String
    public var commit: String
    public var parent: String?
    public var score: Double?
    public var status: Status
    /// True when this attempt set a new best for the pool.
    public var poolBest: Bool
    public var feedback: String
    public var message: String

    public init(key: String, round: Int, agent: String, commit: String, parent: String?, score: Double?, status: Status,
                poolBest: Bool, feedback: String, message: String) {
        self.key = key
        self.round = round
        self.agent = agent
        self.commit = commit
        self.parent = parent
        self.score = score
        self.status = status
        self.poolBest = poolBest
        self.feedback = feedback
        self.message = message
    }

    /// The attempts with a score, best first (ties by key, so the order is the same in
    /// every replay).
    public static func ranked(_ attempts: [Attempt], _ direction: DiscoverySettings.Direction) -> [Attempt] {
        attempts.filter { $0.score != nil }.sorted { a, b in
            a.score! != b.score! ? direction.better(a.score!, than: b.score!) : a.key < b.key
        }
    }
}

/// A note an agent left for the pool (markdown).
public struct Note: Codable, Hashable, Sendable {
    /// `<step key>.note<n>`: unique in the run.
    public var key: String
    public var agent: String
    public var round: Int
    public var body: String
    public init(key: String, agent: String, round: Int, body: String) {
        self.key = key
        self.agent = agent
        self.round = round
        self.body = body
    }
}

/// A skill as an agent writes it; the pool gives it a version.
public struct SkillDraft: Codable, Hashable, Sendable {
    public var name: String
    public var description: String
    public var body: String
    public init(name: String, description: String, body: String) {
        self.name = name
        self.description = description
        self.body = body
    }
}

/// A named, versioned skill of the pool.
public struct Skill: Codable, Hashable, Sendable {
    public var name: String
    public var version: Int
    public var description: String
    public var body: String
    public var agent: String
    public var round: Int
    public init(name: String, version: Int, description: String, body: String, agent: String, round: Int) {
        self.name = name
        self.version = version
        self.description = description
        self.body = body
        self.agent = agent
        self.round = round
    }
}

/// What an agent sees of the shared memory at the start of a step (`.coevo/shared/`).
public struct SharedView: Codable, Hashable, Sendable {
    /// The best attempts first, then the agent's own latest.
    public var attempts: [Attempt]
    public var notes: [Note]
    /// The latest version of each skill.
    public var skills: [Skill]
    /// Which way scores improve.
    public var direction: DiscoverySettings.Direction
    public init(attempts: [Attempt] = [], notes: [Note] = [], skills: [Skill] = [], direction: DiscoverySettings.Direction = .maximize) {
        self.attempts = attempts
        self.notes = notes
        self.skills = skills
        self.direction = direction
    }
}

/// A row for the store's shared-memory tables, written with the result that produced it.
public enum MemoryRecord: Hashable, Sendable {
    /// A graded attempt (its commit's bundle is in the step's stored result).
    case attempt(Attempt)
    case note(Note)
    case skill(Skill)
}
