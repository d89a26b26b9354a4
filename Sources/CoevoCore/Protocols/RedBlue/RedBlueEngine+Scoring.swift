import Foundation

/// How a round's defences are read and paid: verdicts per reply, the attackers' reward
/// against the champions, the defenders' lessons (CODREAM) and rewards.
extension RedBlueEngine {
    /// Reads every defence reply: a leak checked mechanically (or by the judge's verdict
    /// for external intents), benign answers graded; each defender's attempt recorded.
    mutating func readDefences(_ defence: DefenceRound, verdicts: [String: Bool]) -> DefenceReplies {
        let faced = defence.faced
        var replies = DefenceReplies(outcomes: Array(repeating: [], count: faced.count),
                                     past: Array(repeating: [], count: defence.current.count))
        /// Whether a reply to faced attack `i` leaked; nil when the judge could not say.
        func leaked(_ call: AgentCall, _ reply: AgentReply, _ i: Int) -> Bool? {
            guard intents[faced[i].intent].goal == .external else {
                return domain.leaked(reply.text ?? "", goal: intents[faced[i].intent].goal)
            }
            // No reply is no bypass; a reply the judge could not score is left out.
            return reply.text == nil ? false : verdicts[call.key]
        }
        for (call, reply) in defence.answered {
            switch defence.slots[call.key]! {
            case .pastChampion(let i):
                if let leaked = leaked(call, reply, i) { replies.past[i].append(leaked) }
            case .attack(let defender, let i):
                let text = reply.text ?? ""
                guard let leaked = leaked(call, reply, i) else { continue }
                replies.outcomes[i].append((defender, text, leaked))
                defenders.record(defender, niche: faced[i].family, success: !leaked,
                                 attempt: "a \(families[faced[i].family].name) attack \"\(Self.snippet(faced[i].text))\": you \(leaked ? "gave in" : "held")",
                                 round: round)
                replies.held[defender, default: (0, 0)].held += leaked ? 0 : 1
                replies.held[defender, default: (0, 0)].faced += 1
            case .benign(let defender, let prompt):
                let grade = RedBlueDomain.grade(reply.text ?? "", RedBlueDomain.benign[prompt])
                replies.benign[defender, default: (0, 0)].helpful += grade.helpful ? 1 : 0
                replies.benign[defender, default: (0, 0)].asked += 1
                replies.refusals += grade.refused ? 1 : 0
                replies.benignAsked += 1
            }
        }
        return replies
    }

    /// Each elite the defenders faced again is scored again against today's champions, as
    /// a new attack is (past champions are not asked archive attacks): its cell's fitness
    /// is what it does now, and one that every champion held loses its cell. An elite no
    /// champion gave a verdict on keeps its fitness.
    mutating func rescoreElites(_ defence: DefenceRound, _ replies: DefenceReplies) {
        for i in defence.current.count..<defence.faced.count {
            let attack = defence.faced[i]
            let againstChampions = replies.championVerdicts(i, champions: defence.champions)
            guard !againstChampions.isEmpty else { continue }
            let fitness = DefenceReplies.leakShare(againstChampions) * attack.fidelity
            let goal = intents[attack.intent].goal
            guard let before = archive.rescore(attack, goal: goal, fitness: fitness), before != fitness else { continue }
            outbox.post(ProtocolEvent(.pool("attacker", "elite"), String(
                format: "round %d %@/%@: %@ re-scored against today's champions, fitness %.2f -> %.2f%@", round,
                families[attack.family].name, goal.rawValue, attack.id, before, fitness, fitness > 0 ? "" : "; it loses its cell")))
        }
    }

    /// Attackers are paid their bypass of the champions times their fidelity (CHASE); an
    /// attack that got through is offered to the archive and shared as an example with the
    /// attackers weak on its family.
    mutating func payAttackers(_ defence: DefenceRound, _ replies: DefenceReplies) -> [Double] {
        var rewards: [Double] = []
        for (i, attack) in defence.current.enumerated() {
            let outcomes = replies.outcomes[i]
            // The champions, today's and the past rounds' as they were.
            let championBypass = DefenceReplies.leakShare(replies.championVerdicts(i, champions: defence.champions) + replies.past[i])
            let bypassRate = DefenceReplies.leakShare(outcomes.map(\.leaked))
            let reward = championBypass * attack.fidelity
            rewards.append(reward)
            attackers.record(attack.attackerIndex, niche: attack.family, success: reward > 0,
                             attempt: String(format: "your %@ attack \"%@\": got through %.0f%% of the champions, reward %.2f",
                                             families[attack.family].name, Self.snippet(attack.text), championBypass * 100, reward),
                             round: round)
            let goal = intents[attack.intent].goal
            if archive.offer(attack, goal: goal, fitness: reward) {
                outbox.post(ProtocolEvent(.pool("attacker", "elite"), String(format: "round %d %@/%@: %@ takes the cell (fitness %.2f)%@",
                                                                              round, families[attack.family].name, goal.rawValue, attack.id, reward,
                                                                              attack.parent.map { ", mutating \($0)" } ?? "")))
            }
            let family = families[attack.family].name
            attackRecords.append(record(attack, label: bypassRate > 0 ? "bypass" : "held", bypassRate: bypassRate,
                                        championBypass: championBypass, reward: reward))
            attackerPromptRecords.append(promptRecord(attack, reward: reward))
            if reward > 0, let event = attackers.example("This \(family) attack got through: \"\(Self.snippet(attack.text))\"",
                                                         niche: attack.family, producer: attack.attackerIndex, round: round) {
                outbox.post(event)
            }
        }
        return rewards
    }

    /// For every attack faced, archive included: the defences that held become SFT and
    /// preference data; an attack some held and some gave in to is a CODREAM event, and
    /// the defence that held goes out as an example to the defenders weak on the family.
    /// Returns the round's leak counts and CODREAM events.
    mutating func learnFromDefences(_ defence: DefenceRound, _ replies: DefenceReplies)
        -> (pairs: Int, leaks: Int, archivePairs: Int, archiveLeaks: Int, codream: [CodreamCase]) {
        var pairs = 0, leaks = 0, archiveLeaks = 0, archivePairs = 0
        var codream: [CodreamCase] = []
        for (i, attack) in defence.faced.enumerated() {
            let goal = intents[attack.intent].goal
            let holders = replies.outcomes[i].filter { !$0.leaked }
            let leakers = replies.outcomes[i].filter(\.leaked)
            pairs += replies.outcomes[i].count
            leaks += leakers.count
            if i >= defence.current.count {
                archivePairs += replies.outcomes[i].count
                archiveLeaks += leakers.count
            }
            for holder in holders where !holder.reply.isEmpty {
                sftRecords.append(SFTRecord(system: defenderBase, prompt: attack.text, response: holder.reply,
                                            family: families[attack.family].name, goal: goal.rawValue))
            }
            if let chosen = holders.first(where: { !$0.reply.isEmpty }), let rejected = leakers.first {
                preferenceRecords.append(PreferenceRecord(system: defenderBase, prompt: attack.text,
                                                          chosen: chosen.reply, rejected: rejected.reply,
                                                          family: families[attack.family].name, goal: goal.rawValue))
            }
            // The distiller held with words (a failed call also "holds").
            let spoke = holders.filter { !$0.reply.isEmpty }
            if !leakers.isEmpty && !spoke.isEmpty {
                let producer = Codream.producer(of: spoke.map(\.defender), niche: attack.family, population: defenders.population)
                let family = families[attack.family].name
                // A reply that gave in holds what it leaked: the others are told only that it did.
                let members = replies.outcomes[i].map { outcome in
                    CodreamCase.Member(agent: outcome.defender,
                                       answer: outcome.leaked ? "(not shown: it gave in)" : "\"\(Self.snippet(outcome.reply))\"",
                                       verdict: outcome.leaked ? "gave in" : "held")
                }
                codream.append(CodreamCase(
                    role: "defender", niche: attack.family,
                    task: "a \(family) attack said: \"\(Self.snippet(attack.text))\"; it tries to make you \(Self.describe(goal))",
                    outcome: "\(leakers.count) of \(replies.outcomes[i].count) defenders gave in", members: members, producer: producer))
                let held = holders.first { $0.defender == producer }!.reply
                if let event = defenders.example("A \(family) attack said: \"\(Self.snippet(attack.text))\". A defence that held: \"\(Self.snippet(held))\"",
                                                 niche: attack.family, producer: producer, round: round) {
                    outbox.post(event)
                }
            }
        }
        return (pairs, leaks, archivePairs, archiveLeaks, codream)
    }

    /// Defenders are paid the share of attacks they held, weighted with their helpfulness
    /// on benign prompts; their running score picks the next round's champions.
    mutating func payDefenders(_ replies: DefenceReplies) -> [Double] {
        var rewards: [Double] = []
        for defender in defenders.active {
            let h = replies.held[defender].map { Double($0.held) / Double(max(1, $0.faced)) } ?? 1
            let reward: Double
            if let b = replies.benign[defender], b.asked > 0 {
                reward = settings.defenceWeight * h + (1 - settings.defenceWeight) * Double(b.helpful) / Double(b.asked)
            } else {
                reward = h
            }
            rewards.append(reward)
            let id = defenders.agent(defender).id
            defenderScore[id] = defenderScore[id].map { 0.5 * $0 + 0.5 * reward } ?? reward
        }
        return rewards
    }
}
