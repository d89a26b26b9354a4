import Foundation

/// What a finished step reports: accuracy, leadership (stable specialists), costs.
extension ChamberEngine {
    // MARK: Metrics

    /// Carries each niche's leadership streak into this step, given this step's leaders
    /// (agent ids by niche); returns the distinct agents that have led one niche for
    /// `stableSteps` steps in a row.
    mutating func updateLeadership(_ leaders: [Int?]) -> Int {
        var stable = Set<Int>()
        for (niche, leader) in leaders.enumerated() {
            guard let leader else {
                leadership[niche] = nil
                continue
            }
            let steps = leadership[niche].map { $0.agent == leader ? $0.steps + 1 : 1 } ?? 1
            leadership[niche] = (leader, steps)
            if steps >= Self.stableSteps { stable.insert(leader) }
        }
        return stable.count
    }

    func report(codreamEvents: Int, routed: Int, lifecycleEvents: Int) -> StepReport {
        var perNiche = Array(repeating: (0, 0), count: settings.niches)
        var successes = 0
        for state in tasks {
            perNiche[state.task.niche].0 += state.succeeded ? 1 : 0
            perNiche[state.task.niche].1 += 1
            successes += state.succeeded ? 1 : 0
        }
        // Each agent's share of successes on its best niche.
        var shareSum = 0.0
        var shareCount = 0
        for i in population.activeIndices {
            var tried = 0, total = 0, most = 0
            for (niche, stats) in population.profile(i).enumerated() {
                guard stats.attempts > 0 else { continue }
                tried += 1
                total += Int(stats.successes)
                most = max(most, Int(stats.successes))
            }
            if tried >= 2 && total > 0 {
                shareSum += Double(most) / Double(total)
                shareCount += 1
            }
        }
        // A niche's leader: the strongest there among agents with 3 or more attempts.
        let leaders = (0..<settings.niches).map { population.strongest(on: $0, minAttempts: 3) }
        return StepReport(
            step: step, tasks: tasks.count, successes: successes,
            nicheAccuracy: perNiche.map { $0.1 == 0 ? nil : Double($0.0) / Double($0.1) },
            population: population.activeCount, insightsRouted: routed, codreamEvents: codreamEvents,
            lifecycleEvents: lifecycleEvents, interventions: stepInterventions, specialists: Set(leaders.compactMap { $0 }).count, stableSpecialists: 0,
            leaders: leaders.map { $0.map { population.agents[$0].id.rawValue } },
            concentration: shareCount == 0 ? 0 : shareSum / Double(shareCount),
            agentTurns: stepTurns, tokens: stepTokens,
            simulatedMilliseconds: Double(stepTokens) * SimulatedWorld.millisecondsPerToken)
    }

    func nicheWeights() -> [Double] {
        let n = settings.niches
        let rotation = settings.driftEvery > 0 ? ((step - 1) / settings.driftEvery) % n : 0
        return (0..<n).map { niche in
            switch settings.mix {
            case .uniform: return 1
            case .zipf: return 1 / Double(((niche - rotation + n) % n) + 1)
            }
        }
    }
}
