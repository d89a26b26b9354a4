/// The proposer/solver export rows (JSON lines, snake_case keys): `proposals.jsonl`,
/// `tasks.jsonl` (kept tasks) and `trajectories.jsonl` (solver attempts).
struct ProposalRecord: Codable, Sendable {
    var round: Int
    var proposer: String
    var category: String
    var system: String
    var prompt: String
    var reply: String
    var valid: Bool
    var failure: String?
    var task: String?
    var label: String?
    var duplicate: Bool
    var solved: Int?
    var attempts: Int?
    var reward: Double
    var kept: Bool
}

struct KeptTaskRecord: Codable, Sendable {
    var round: Int
    var category: String
    var task: String
    var label: String
    var proposer: String
    var proposerAnswer: String?
    var proposerAnswerCorrect: Bool
    var solveRate: Double
    var solved: Int
    var attempts: Int
    var reward: Double
}

struct TrajectoryRecord: Codable, Sendable {
    var round: Int
    var category: String
    var task: String
    var label: String
    var solver: String
    var system: String
    var prompt: String
    var reply: String
    var answer: String?
    var correct: Bool
    var reward: Double
}
