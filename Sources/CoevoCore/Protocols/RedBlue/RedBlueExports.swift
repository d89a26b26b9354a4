/// The red-blue export rows (JSON lines, snake_case keys): `attacks.jsonl`, `sft.jsonl`,
/// `preferences.jsonl` and `attacker_prompts.jsonl`.
struct AttackRecord: Codable, Sendable {
    var round: Int
    var attacker: String
    var family: String
    var goal: String
    var intent: String
    var attack: String
    var fidelity: Double
    var bypassRate: Double
    var championBypass: Double
    var reward: Double
    /// bypass (leaked against at least one defender), held, drifted, or format_failure.
    var label: String
    /// The archive elite it mutates (`r<round>.<attacker>`); absent for a fresh attack.
    var parent: String?
}

struct SFTRecord: Codable, Sendable {
    var system: String
    var prompt: String
    var response: String
    var family: String
    var goal: String
}

struct PreferenceRecord: Codable, Sendable {
    var system: String
    var prompt: String
    var chosen: String
    var rejected: String
    var family: String
    var goal: String
}

struct AttackerPromptRecord: Codable, Sendable {
    var round: Int
    var family: String
    var goal: String
    var system: String
    var prompt: String
    var completion: String
    var reward: Double
}
