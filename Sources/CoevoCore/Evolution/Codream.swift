/// CODREAM: after a team fails or disagrees, its members reflect, the member strongest on
/// the niche distils insights, and the insights are routed to the agents that need them.
/// Reflection and distillation are agent work (jobs, or the simulator); the decisions
/// around them are here.
public enum Codream {
    public enum Trigger: String, Hashable, Sendable {
        case failure
        /// The team succeeded but the normalised final answers of its members differ.
        case disagreement
    }

    /// Why CODREAM runs for a task, or nil. Failure wins over disagreement.
    public static func trigger(teamSucceeded: Bool, memberAnswers: [String]) -> Trigger? {
        if !teamSucceeded { return .failure }
        return AnswerNormalizer.disagree(memberAnswers) ? .disagreement : nil
    }

    /// The member who distils: the most competent on the niche (ties: earlier member).
    public static func producer(of team: [Int], niche: Int, population: Population) -> Int {
        var best = team[0]
        for member in team.dropFirst() where population.stats(member, niche).competence > population.stats(best, niche).competence {
            best = member
        }
        return best
    }

    /// Recipients, in delivery order, with the insights each gets.
    ///
    /// - asymmetric: agents whose competence on the niche is below the niche median,
    ///   weakest first, never the producer, at most `maxRecipients` of them; an agent that
    ///   already holds a near-duplicate of every insight is skipped and does not count.
    /// - symmetric: every active agent but the producer, with the same duplicate rule.
    /// - random-k, top-k: as many recipients as asymmetric picks for this event, drawn from
    ///   every active agent but the producer that lacks the insights: at random (seeded by
    ///   the first insight's id, so a seed replays), or strongest on the niche first.
    /// - none: nobody.
    public static func route(
        _ insights: [Insight], producer: Int, snapshot: NicheSnapshot, population: Population,
        settings: CodreamSettings
    ) -> [(recipient: Int, insights: [Insight])] {
        guard !insights.isEmpty else { return [] }
        let niche = snapshot.niche
        func fresh(for recipient: Int) -> [Insight] {
            let held = population.agents[recipient].insights[niche] ?? []
            return insights.filter { candidate in
                !held.contains { $0.isNearDuplicate(of: candidate, threshold: settings.duplicateThreshold) }
            }
        }
        var out: [(Int, [Insight])] = []
        /// Every active agent but the producer that lacks some of the insights, with those.
        func candidates() -> [(Int, [Insight])] {
            population.activeIndices.compactMap { recipient in
                guard recipient != producer else { return nil }
                let new = fresh(for: recipient)
                return new.isEmpty ? nil : (recipient, new)
            }
        }
        switch settings.routing {
        case .none:
            return []
        case .symmetric:
            out = candidates()
        case .asymmetric:
            for recipient in snapshot.weakest where out.count < settings.maxRecipients {
                guard recipient != producer,
                      population.agents[recipient].status == .active,
                      population.stats(recipient, niche).competence < snapshot.medianCompetence
                else { continue }
                let new = fresh(for: recipient)
                if !new.isEmpty { out.append((recipient, new)) }
            }
        case .randomK, .topK:
            var matched = settings
            matched.routing = .asymmetric
            let count = route(insights, producer: producer, snapshot: snapshot, population: population, settings: matched).count
            var pool = candidates()
            if settings.routing == .topK {
                pool.sort { a, b in
                    let x = population.stats(a.0, niche).competence, y = population.stats(b.0, niche).competence
                    return x != y ? x > y : a.0 < b.0
                }
            } else {
                var rng = SeededGenerator(seed: UInt64(insights[0].id) &* 0x9E37_79B9_7F4A_7C15 ^ UInt64(niche))
                pool.shuffle(using: &rng)
            }
            out = Array(pool.prefix(count))
        }
        return out
    }

    /// Gives `insights` to an agent, keeping at most `limit` on the niche: beyond it the
    /// least useful (lowest utility, then fewest uses, then oldest) goes. Returns what was
    /// evicted.
    @discardableResult
    public static func deliver(_ insights: [Insight], to recipient: Int, niche: Int, limit: Int,
                               population: inout Population) -> [Insight] {
        var evicted: [Insight] = []
        population.updateAgent(recipient) { agent in
            var held = agent.insights[niche] ?? []
            held.append(contentsOf: insights)
            // Each channel within its own `limit`.
            for channel in Insight.Channel.allCases {
                while held.count(where: { $0.channel == channel }) > limit {
                    let worst = held.indices.filter { held[$0].channel == channel }.min { a, b in
                        let x = held[a], y = held[b]
                        if x.utility != y.utility { return x.utility < y.utility }
                        if x.uses != y.uses { return x.uses < y.uses }
                        return x.id < y.id
                    }!
                    evicted.append(held.remove(at: worst))
                }
            }
            agent.insights[niche] = held
        }
        return evicted
    }
}
