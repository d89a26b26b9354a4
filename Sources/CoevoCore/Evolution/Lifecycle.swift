import Foundation

/// The population operators: prune, fork, merge, seed. `decide` reads the population and
/// returns at most one decision of each kind per check (gradual pressure, and each one
/// with its reason); `apply` carries a decision out. Both are pure.
public enum Lifecycle {
    public enum Decision: Hashable, Sendable {
        case prune(Int, reason: String)
        /// Fork `parent` into a specialist of `niche`.
        case fork(parent: Int, niche: Int, reason: String)
        /// Keep `keep`, fold `absorb` into it.
        case merge(keep: Int, absorb: Int, cosine: Double, reason: String)
        /// A new agent for an uncovered niche, holding the niche's best archived insights.
        case seed(niche: Int, insights: [Insight], reason: String)
    }

    /// Mean competence over the niches an agent has tried, and how many it tried.
    static func record(_ index: Int, _ population: Population) -> (mean: Double, tried: Int, attempts: Int) {
        var sum = 0.0, tried = 0, attempts = 0
        for stats in population.profile(index) where stats.attempts > 0 {
            sum += stats.competence
            tried += 1
            attempts += Int(stats.attempts)
        }
        return (tried == 0 ? 0 : sum / Double(tried), tried, attempts)
    }

    /// Counts, for every active agent, the lifecycle checks in a row at which it was below
    /// the prune bar (a check above it starts the count again). Call once per check,
    /// before `decide`.
    public static func observe(_ population: inout Population, settings: LifecycleSettings) {
        for index in population.activeIndices {
            let r = record(index, population)
            let below = r.attempts >= settings.minAttempts && r.mean < settings.pruneBelow
            population.updateAgent(index) { $0.checksBelowPruneBar = below ? $0.checksBelowPruneBar + 1 : 0 }
        }
    }

    /// `duplicateThreshold`: a seed takes no two archived insights this similar (word-set
    /// Jaccard, as CODREAM's routing uses).
    public static func decide(population: Population, settings: LifecycleSettings, archive: [Int: [Insight]],
                              tasksSeenPerNiche: [Int], duplicateThreshold: Double = 0.8) -> [Decision] {
        var decisions: [Decision] = []
        var size = population.activeCount
        let records = population.activeIndices.map { ($0, record($0, population)) }

        // Prune the weakest persistent under-performer: below the bar now and at the
        // checks before (`observe`).
        if size > settings.minPopulation,
           let (index, r) = records.filter({ $0.1.attempts >= settings.minAttempts && $0.1.mean < settings.pruneBelow
                                             && population.agents[$0.0].checksBelowPruneBar >= settings.pruneAfterChecks })
               .min(by: { $0.1.mean < $1.1.mean || ($0.1.mean == $1.1.mean && $0.0 < $1.0) }) {
            decisions.append(.prune(index, reason: String(format: "mean competence %.3f < %.3f after %d attempts, at %d checks in a row",
                                                          r.mean, settings.pruneBelow, r.attempts, population.agents[index].checksBelowPruneBar)))
            size -= 1
        }
        let pruned: Int? = decisions.first.flatMap { if case .prune(let i, _) = $0 { i } else { nil } }

        // Merge the most similar pair among agents that share a best niche.
        if size > settings.minPopulation, let merge = bestMerge(population, settings: settings, excluding: pruned) {
            decisions.append(merge)
            size -= 1
        }

        // Fork the strongest generalist into a specialist of its best niche.
        if size < settings.maxPopulation,
           let (parent, r) = records.filter({ population.agents[$0.0].specialty == nil && $0.0 != pruned
                                               && $0.1.attempts >= settings.minAttempts && $0.1.mean >= settings.forkAbove })
               .max(by: { $0.1.mean < $1.1.mean || ($0.1.mean == $1.1.mean && $0.0 > $1.0) }) {
            let best = (0..<population.nicheCount).max { population.stats(parent, $0).competence < population.stats(parent, $1).competence }!
            decisions.append(.fork(parent: parent, niche: best,
                                   reason: String(format: "generalist with mean competence %.3f >= %.3f; specialise on niche %d", r.mean, settings.forkAbove, best)))
            size += 1
        }

        // Seed the first niche nobody covers.
        if size < settings.maxPopulation {
            for niche in 0..<population.nicheCount where niche < tasksSeenPerNiche.count && tasksSeenPerNiche[niche] >= settings.seedAfterTasks {
                let covered = population.activeIndices.contains { i in
                    let s = population.stats(i, niche)
                    return s.attempts >= 3 && s.competence >= settings.coverage
                }
                if !covered {
                    // The most useful archived insights, skipping near-duplicates of those taken.
                    var picked: [Insight] = []
                    for insight in (archive[niche] ?? []).sorted(by: { $0.utility > $1.utility || ($0.utility == $1.utility && $0.id < $1.id) })
                    where picked.count < 8 && !picked.contains(where: { $0.isNearDuplicate(of: insight, threshold: duplicateThreshold) }) {
                        picked.append(insight)
                    }
                    decisions.append(.seed(niche: niche, insights: picked,
                                           reason: "no agent reaches competence \(settings.coverage) on niche \(niche) after \(tasksSeenPerNiche[niche]) tasks"))
                    break
                }
            }
        }
        return decisions
    }

    /// Candidates are compared within groups of agents sharing their best niche, each
    /// agent with its neighbour in competence order: near-identical profiles end up next
    /// to each other, and the check stays O(n log n) at 10,000 agents.
    static func bestMerge(_ population: Population, settings: LifecycleSettings, excluding pruned: Int?) -> Decision? {
        var groups: [Int: [(Double, Int)]] = [:]
        for index in population.activeIndices where index != pruned {
            let r = record(index, population)
            guard r.attempts >= settings.minAttempts else { continue }
            var bestNiche = 0
            for n in 1..<population.nicheCount where population.stats(index, n).competence > population.stats(index, bestNiche).competence {
                bestNiche = n
            }
            groups[bestNiche, default: []].append((population.stats(index, bestNiche).competence, index))
        }
        let center = population.competenceMeans()
        var best: (cosine: Double, a: Int, b: Int)?
        for niche in groups.keys.sorted() {
            let members = groups[niche]!.sorted { $0.0 > $1.0 || ($0.0 == $1.0 && $0.1 < $1.1) }
            for (x, y) in zip(members, members.dropFirst()) {
                let cosine = population.profileCosine(x.1, y.1, center: center)
                if cosine > settings.mergeCosine, cosine > (best?.cosine ?? -1) { best = (cosine, x.1, y.1) }
            }
        }
        guard let best else { return nil }
        let (keep, absorb) = record(best.a, population).mean >= record(best.b, population).mean ? (best.a, best.b) : (best.b, best.a)
        return .merge(keep: keep, absorb: absorb, cosine: best.cosine,
                      reason: String(format: "competence profiles cosine %.4f > %.2f", best.cosine, settings.mergeCosine))
    }

    /// What `apply` did, for the event log.
    public struct Applied: Hashable, Sendable {
        public var decision: Decision
        /// The new agent of a fork or seed.
        public var child: AgentID?
    }

    /// Archived insights kept per niche: the most useful, which are the ones seeds take
    /// first, so a long run's archive stops growing without changing what seeds get.
    public static let archivedPerNiche = 256

    /// Adds insights to a niche's archive. Past twice `limit` it is cut back to the `limit`
    /// most useful (ties: the older), so the sort is paid once per many additions.
    public static func archive(_ insights: [Insight], niche: Int, into archive: inout [Int: [Insight]],
                               limit: Int = archivedPerNiche) {
        archive[niche, default: []].append(contentsOf: insights)
        guard archive[niche]!.count > 2 * limit else { return }
        archive[niche]!.sort { $0.utility > $1.utility || ($0.utility == $1.utility && $0.id < $1.id) }
        archive[niche]!.removeLast(archive[niche]!.count - limit)
    }

    /// Names the specialty of `child` (a fork or a seed) in its persona: the persona it
    /// comes from (its parent's, or `seedPersona` for a seed), without a specialty that one
    /// had itself, then "You specialise in <name>.". The operators speak in niche numbers;
    /// a pool, which knows the names, calls this for each agent they make.
    public static func nameSpecialty(of child: AgentID, in population: inout Population, names: (Int) -> String,
                                     seedPersona: String) {
        guard let index = population.index(of: child), let niche = population.agents[index].specialty else { return }
        let base = population.agents[index].lineage.parents.first.flatMap { population.agent($0)?.systemPrompt } ?? seedPersona
        let persona = (base.components(separatedBy: " You specialise in").first ?? "") + " You specialise in \(names(niche))."
        population.updateAgent(index) { $0.systemPrompt = persona }
    }

    /// Carries out a decision. Pruned agents' insights go to `archive` for later seeds.
    public static func apply(_ decision: Decision, population: inout Population, archive: inout [Int: [Insight]],
                             keepPerNiche: Int, step: Int) -> Applied {
        switch decision {
        case .prune(let index, let reason):
            for (niche, insights) in population.agents[index].insights.sorted(by: { $0.key < $1.key }) {
                Self.archive(insights, niche: niche, into: &archive)
            }
            population.retire(index, as: .pruned)
            _ = reason
            return Applied(decision: decision, child: nil)
        case .fork(let parentIndex, let niche, let reason):
            let parent = population.agents[parentIndex]
            // The child starts from the prior everywhere but its niche, where it keeps the
            // parent's competence estimate (not its counts: it must earn its own record),
            // and it takes the parent's insights on the niche.
            let stats = (0..<population.nicheCount).map { n in
                NicheStats(competence: n == niche ? population.stats(parentIndex, n).competence : NicheStats().competence)
            }
            let child = population.add(
                role: parent.role, pool: parent.pool,
                lineage: Agent.Lineage(parents: [parent.id], operator: .fork, reason: reason, step: step),
                systemPrompt: parent.systemPrompt + "\nSpecialise in niche \(niche).",
                insights: parent.insights[niche].map { [niche: $0] } ?? [:], specialty: niche, stats: stats)
            return Applied(decision: decision, child: child)
        case .merge(let keep, let absorb, _, let reason):
            let absorbed = population.agents[absorb]
            for (niche, insights) in absorbed.insights {
                let held = population.agents[keep].insights[niche] ?? []
                let new = insights.filter { i in !held.contains { $0.text == i.text } }
                Codream.deliver(new, to: keep, niche: niche, limit: keepPerNiche, population: &population)
            }
            population.updateAgent(keep) { agent in
                agent.lineage.parents.append(absorbed.id)
                agent.lineage.reason += (agent.lineage.reason.isEmpty ? "" : "; ") + "absorbed \(absorbed.id) (\(reason))"
            }
            population.retire(absorb, as: .merged)
            return Applied(decision: decision, child: nil)
        case .seed(let niche, let insights, let reason):
            guard let template = population.activeIndices.first.map({ population.agents[$0] }) else {
                return Applied(decision: decision, child: nil)
            }
            let child = population.add(
                role: template.role, pool: template.pool,
                lineage: Agent.Lineage(parents: [], operator: .seed, reason: reason, step: step),
                systemPrompt: "You specialise in niche \(niche).",
                insights: insights.isEmpty ? [:] : [niche: insights], specialty: niche)
            return Applied(decision: decision, child: child)
        }
    }
}

extension Lifecycle.Decision {
    /// The operator's name, as event kinds use it.
    public var kind: String {
        switch self {
        case .prune: "prune"
        case .fork: "fork"
        case .merge: "merge"
        case .seed: "seed"
        }
    }
}

extension Lifecycle.Applied {
    /// One line for the event log, naming agents by id.
    public func describe(_ population: Population) -> String {
        let id = { (i: Int) in population.agents[i].id.description }
        switch decision {
        case .prune(let i, let reason): return "\(id(i)): \(reason)"
        case .fork(let p, _, let reason): return "\(id(p)) -> \(child?.description ?? "?"): \(reason)"
        case .merge(let keep, let absorb, _, let reason): return "\(id(absorb)) into \(id(keep)): \(reason)"
        case .seed(_, let insights, let reason): return "\(child?.description ?? "?") with \(insights.count) archived insights: \(reason)"
        }
    }
}
