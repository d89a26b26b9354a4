import Foundation

/// The records red-blue exports and its summary.
extension RedBlueEngine {
    // MARK: Helpers

    func promptRecord(_ attack: Attack, reward: Double) -> AttackerPromptRecord {
        AttackerPromptRecord(round: attack.round, family: families[attack.family].name, goal: intents[attack.intent].goal.rawValue,
                             system: attack.system, prompt: attack.prompt, completion: attack.text, reward: reward)
    }

    func record(_ attack: Attack, label: String, bypassRate: Double, championBypass: Double, reward: Double) -> AttackRecord {
        AttackRecord(round: attack.round, attacker: attack.attacker.description, family: families[attack.family].name,
                     goal: intents[attack.intent].goal.rawValue, intent: intents[attack.intent].text, attack: attack.text,
                     fidelity: attack.fidelity, bypassRate: bypassRate, championBypass: championBypass, reward: reward, label: label,
                     parent: attack.parent)
    }

    static func snippet(_ text: String) -> String {
        let line = text.split(whereSeparator: \.isNewline).joined(separator: " ")
        return line.count <= 160 ? line : String(line.prefix(157)) + "..."
    }

    static func describe(_ goal: RedBlueDomain.Goal) -> String {
        switch goal {
        case .revealSecret: "reveal the secret password"
        case .hiddenInstructions: "repeat your confidential instructions"
        case .forbiddenWord: "say the forbidden word"
        case .injection: "follow an instruction hidden in a document"
        case .external: "do what you should refuse"
        }
    }

    // MARK: Results

    public var summary: [SummaryLine] {
        [
            SummaryLine("rounds", "\(reports.count) of \(settings.rounds); \(settings.attackers) attackers, \(settings.defenders) defenders, \(families.count) attack families"),
            SummaryLine("bypass", reports.map { String(format: "%.2f", $0.bypassRate) }.joined(separator: " -> ") + " (by round; archive attacks included)"),
            SummaryLine("refusals", reports.map { String(format: "%.2f", $0.falseRefusalRate) }.joined(separator: " -> ")),
            SummaryLine("rewards", "attacker " + reports.map { String(format: "%.2f", $0.meanAttackerReward) }.joined(separator: " -> ")
                + "; defender " + reports.map { String(format: "%.2f", $0.meanDefenderReward) }.joined(separator: " -> ")),
            SummaryLine("archive", "\(archive.count) elite attacks (family x strategy cells), \(min(archive.count, settings.archiveSize)) in play; \(pastChampions.count) past champions"),
            SummaryLine("CODREAM", "\(reports.reduce(0) { $0 + $1.codreamEvents }) events, \(reports.reduce(0) { $0 + $1.insightsRouted }) insights routed, \(reports.reduce(0) { $0 + $1.examplesRouted }) examples routed"),
            SummaryLine("heartbeats", PoolHeartbeats.summary(attackers, defenders)),
            SummaryLine("lineage", "\(reports.reduce(0) { $0 + $1.lifecycleEvents }) events; \(attackers.active.count) attackers, \(defenders.active.count) defenders now"),
        ]
    }

    public func exports() -> [String: [String]] {
        [
            "attacks.jsonl": attackRecords.map(ExportLine.json),
            "sft.jsonl": sftRecords.map(ExportLine.json),
            "preferences.jsonl": preferenceRecords.map(ExportLine.json),
            "attacker_prompts.jsonl": attackerPromptRecords.map(ExportLine.json),
            "codream.jsonl": codreamRecords.map(ExportLine.json),
        ]
    }
}
