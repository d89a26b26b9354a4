import Foundation

/// The chamber's heartbeats: which agents reflect and whether the pool consolidates this
/// step, their turns, and the lessons read out of what they wrote.
extension ChamberEngine {
    // MARK: Heartbeats

    /// The heartbeats that fired this step as turns (agents in index order, then the
    /// consolidation); clears what fired.
    mutating func heartbeatRequests() -> [TurnRequest] {
        defer {
            reflectAsks = [:]
            consolidateAsked = false
            heartbeatResults = [:]
        }
        var out: [TurnRequest] = []
        for index in reflectAsks.keys.sorted() where population.agents[index].status == .active {
            let ask = reflectAsks[index]!
            let task = tasks[taskIndex[ask.task]!].task
            out.append(turn(.note, by: index, niche: ask.niche, round: Self.noteRound, task: task, count: 1,
                            ownAnswer: ask.answer, outcome: ask.right ? "right" : "wrong"))
        }
        if consolidateAsked, let (niche, lessons) = population.busiestNiche(reading: PoolHeartbeats.consolidateReads),
           let strongest = population.strongest(on: niche), let task = tasks.last(where: { $0.task.niche == niche })?.task {
            out.append(turn(.consolidate, by: strongest, niche: niche, round: Self.consolidateRound, task: task,
                            count: PoolHeartbeats.skillsKept, lessons: lessons))
        }
        return out
    }

    /// A heartbeat turn of agent `index` on `niche`, about `task` (the attempt a note looks
    /// back on; for a consolidation, the niche's latest question, to say what it is about).
    func turn(_ action: TurnAction, by index: Int, niche: Int, round: Int, task: SimulatedTask, count: Int,
                      ownAnswer: String = "", outcome: String = "", lessons: [String] = []) -> TurnRequest {
        let agent = population.agents[index]
        let held = agent.insights[niche] ?? []
        var request = TurnRequest(
            worldSeed: settings.seed, task: Self.heartbeatTask + step, round: round, member: index, agent: agent.id.rawValue,
            action: action, niche: niche, difficulty: task.difficulty, correctAnswer: task.correctAnswer,
            skill: world.skill(agent.id, niche: niche), gap: world.gap(agent.id, niche: niche, mode: task.mode), mode: task.mode,
            insightLessons: held.compactMap(\.simulatedLesson),
            ownAnswer: ownAnswer, othersAnswers: lessons, count: count, question: task.question,
            insights: backend.shownInsights(held), outcome: outcome)
        request.persona = backend.shownPersona(agent)
        return request
    }

    /// Applies the heartbeat turns' lessons in turn order, whatever order they came back
    /// in: a note to its writer, a consolidation's skills to every active agent.
    mutating func applyHeartbeats() {
        for turn in heartbeatTurns {
            guard let text = heartbeatResults[turn] else { continue }
            let id = population.agents[turn.member].id
            let given = lessons(in: text, niche: turn.niche, producer: id, event: 0, limit: turn.count, source: "\(turn.action.rawValue) of \(id)")
            guard !given.isEmpty else {
                note("heartbeat_failure", "\(turn.action.rawValue) of \(id) on niche \(turn.niche): no lesson in the reply")
                continue
            }
            let recipients = turn.action == .note ? [turn.member] : population.activeIndices
            for recipient in recipients {
                Codream.deliver(given, to: recipient, niche: turn.niche, limit: settings.evolution.codream.maxInsightsPerNiche,
                                population: &population)
            }
            note(turn.action == .note ? "reflect" : "consolidate",
                 "\(id) on niche \(turn.niche) -> \(turn.action == .note ? "itself" : "all \(recipients.count)"): "
                 + given.map(\.text).joined(separator: " | "))
        }
        heartbeatTurns = []
    }

    /// Insights from a turn's lines, at most `limit`, as the backend reads them (lines it
    /// cannot parse are noted).
    mutating func lessons(in text: String, niche: Int, producer: AgentID, event: Int, limit: Int, source: String) -> [Insight] {
        var out: [Insight] = []
        for line in text.split(separator: "\n") where out.count < limit {
            let lesson: Int?
            switch backend.reading(line) {
            case .skipped: continue
            case .unparsed:
                note("insight_unparsed", "\(source): '\(line)'")
                continue
            case .insight(let simulated): lesson = simulated
            }
            out.append(Insight(id: nextInsightID, text: String(line), niche: niche, producer: producer, event: event,
                               simulatedLesson: lesson))
            nextInsightID += 1
        }
        return out
    }
}
