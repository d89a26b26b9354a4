import Foundation

/// The chamber's CODREAM phase and the end of a step: the producers' distillations,
/// insights routed to the agents weak on the niche, evaluation, lifecycle operators.
extension ChamberEngine {
    // MARK: CODREAM and lifecycle

    mutating func finishCodream() {
        var routed = 0
        var eventsThisStep = 0
        for state in tasks {
            guard let text = distilled[state.task.id], let producer = state.producer else { continue }
            let niche = state.task.niche
            let event = nextCodreamEvent
            nextCodreamEvent += 1
            eventsThisStep += 1
            let insights = lessons(in: text, niche: niche, producer: population.agents[producer].id, event: event,
                                   limit: settings.evolution.codream.maxDistilled, source: "event \(event)")
            Lifecycle.archive(insights, niche: niche, into: &archive)
            let deliveries = Codream.route(insights, producer: producer, snapshot: snapshots[niche]!,
                                           population: population, settings: settings.evolution.codream)
            for (recipient, given) in deliveries {
                Codream.deliver(given, to: recipient, niche: niche, limit: settings.evolution.codream.maxInsightsPerNiche,
                                population: &population)
                routed += given.count
            }
            if !deliveries.isEmpty {
                let flow = InsightFlow(round: step, role: "agent", niche: backend.nicheName(niche), from: population.agents[producer].id.description,
                                       to: deliveries.map { population.agents[$0.recipient].id.description }, insights: insights.count)
                outbox.post(flow.event)
            }
            note("codream",
                "event \(event) niche \(niche) producer \(population.agents[producer].id): \(insights.count) insights to "
                + (deliveries.map { "\(population.agents[$0.recipient].id)" }.joined(separator: ",").nilIfEmpty ?? "nobody")
                + (insights.isEmpty ? "" : ": " + insights.map(\.text).joined(separator: " | ")))
        }
        finishStep(codreamEvents: eventsThisStep, routed: routed)
    }

    mutating func finishStep(codreamEvents: Int, routed: Int) {
        var lifecycleEvents = 0
        if completedTasks - lastLifecycleAt >= settings.evolution.lifecycle.everyTasks {
            lastLifecycleAt = completedTasks
            Lifecycle.observe(&population, settings: settings.evolution.lifecycle)
            let decisions = Lifecycle.decide(population: population, settings: settings.evolution.lifecycle,
                                             archive: archive, tasksSeenPerNiche: tasksSeen,
                                             duplicateThreshold: settings.evolution.codream.duplicateThreshold)
            for decision in decisions {
                let applied = Lifecycle.apply(decision, population: &population, archive: &archive,
                                              keepPerNiche: settings.evolution.codream.maxInsightsPerNiche, step: step)
                lifecycleEvents += 1
                note(decision.kind, applied.describe(population))
                if let child = applied.child {
                    // Its persona names the niche it specialises in, as a model reads it.
                    let backend = self.backend
                    Lifecycle.nameSpecialty(of: child, in: &population, names: backend.nicheName, seedPersona: ChamberTurnPrompt.persona)
                    if case .fork(let parent, _, _) = decision {
                        world.register(child, parent: population.agents[parent].id, inheritFrom: .fork)
                    } else {
                        world.register(child)
                    }
                }
            }
        }
        var report = report(codreamEvents: codreamEvents, routed: routed, lifecycleEvents: lifecycleEvents)
        report.stableSpecialists = updateLeadership(report.leaders)
        reports.append(report)
        outbox.post(report.event)
        // Large simulated studies keep about a hundred snapshots, the last among them.
        if step % max(1, settings.steps / 100) == 0 || step == settings.steps {
            let niches = (0..<settings.niches).map(backend.nicheName)
            outbox.post(PopulationSnapshot(population, role: "agent", niches: niches, round: step).event)
        }
        outbox.progress(String(format: "step %d/%d: accuracy %.3f, population %d, insights routed %d, specialists %d (%d stable), %d agent turns",
                               report.step, settings.steps, report.accuracy, report.population,
                               report.insightsRouted, report.specialists, report.stableSpecialists, report.agentTurns))
        phase = .done
    }


    /// CODREAM's second phase: each event's producer distils, seeing the task, every
    /// member's answer and verdict, the outcome and the reflections. Reflections with
    /// words are kept in the event log as the members' notes.
    mutating func distil() -> [TurnRequest] {
        var requests: [TurnRequest] = []
        defer { if requests.isEmpty { finishCodream() } }
        for state in tasks {
            guard let producer = state.producer else { continue }
            for (member, text) in state.reflections.enumerated() {
                guard let text, text.contains(where: \.isLetter) else { continue }
                note("reflection", "task \(state.task.id) \(population.agents[state.members[member]].id): \(text)")
            }
            let answers = state.answers.map { answer in
                answer.map { "\($0) (\($0 == state.task.correctAnswer ? "right" : "wrong"))" } ?? "no answer"
            }
            requests.append(request(state, member: state.members.firstIndex(of: producer)!, action: .distil,
                                    round: Self.codreamRound + 1, othersAnswers: answers,
                                    count: settings.evolution.codream.maxDistilled, outcome: state.outcome,
                                    reflections: state.reflections.compactMap { $0 }.filter { $0.contains(where: \.isLetter) }))
        }
        phase = .distil
        codreamPending = requests.count
        return requests
    }

    /// Records one member's outcome on `task` (what it answered): competence, insight
    /// utility, heartbeats.
    mutating func evaluate(_ index: Int, niche: Int, success: Bool, task: Int, answer: String) {
        // Every insight held on the niche is in the turn's prompt (and in the simulator's).
        let predicted = population.stats(index, niche).competence
        population.record(index, niche: niche, success: success, alpha: settings.evolution.ewmaAlpha)
        population.creditInsights(of: index, niche: niche, outcome: success ? 1 : 0, predicted: predicted)
        let id = population.agents[index].id
        let score = population.stats(index, niche).competence
        for intervention in heartbeats.evaluated(id, niche: niche, score: score) {
            stepInterventions += 1
            switch intervention.kind {
            case .pivot:
                // A different approach: drop the least useful insight on this niche.
                population.dropLeastUsefulInsight(of: index, niche: niche)
                note("pivot", "\(id) on niche \(niche)")
            case .custom(let name):
                note("heartbeat", "\(name) for \(intervention.agent.map(\.description) ?? "pool")")
            case .reflect:
                if reflectAsks[index] == nil { reflectAsks[index] = (niche, task, answer, success) }
            case .consolidate:
                consolidateAsked = true
            }
        }
    }
}
