import Foundation

/// The chamber protocol as a pure state machine. A step draws tasks from the niche mix,
/// assembles a team and picks a structure for each, then asks for agent turns round by
/// round (`beginStep`, then `complete` for each result, in any order); when the teamwork
/// is done it updates the statistics, runs CODREAM on failed or split teams (every
/// member reflects on the task, the answers and the outcome; then the member strongest on
/// the niche distils from all of it), routes the insights, runs the lifecycle check and
/// closes with a `StepReport`. Heartbeats that fired during the teamwork are turns too,
/// made beside the reflections: an agent's note on its latest attempt (reflect), and the
/// strongest agent merging the pool's lessons on its busiest niche (consolidate). Results
/// are applied in task order whatever order they arrive in, and every turn's randomness
/// is its own, so a seed replays the same evolution in process and over workers.
public struct ChamberEngine: Sendable {
    struct TaskState: Sendable {
        var task: SimulatedTask
        var members: [Int]
        var structure: CollaborationStructure
        var plan: [[CollaborationStructure.Turn]]
        var round = 0
        var pending = 0
        var answers: [String?]
        var critique = ""
        var turns = 0
        var succeeded = false
        /// The member who distils for CODREAM, chosen once when the teamwork closes.
        var producer: Int?
        /// CODREAM: how the task ended, as its prompts tell it, and each member's
        /// reflection, as its turn returned it.
        var outcome = ""
        var reflections: [String?] = []
    }

    /// CODREAM runs in two phases: every member's reflection, then the distillations.
    enum Phase: Sendable { case idle, teamwork, reflect, distil, done }

    /// CODREAM turns use rounds from here on, so their randomness never meets teamwork's.
    static let codreamRound = 1000

    public let settings: ChamberSettings
    public private(set) var population: Population
    public private(set) var world: SimulatedWorld
    public private(set) var bandit: StructureBandit
    public private(set) var heartbeats: HeartbeatScheduler
    public private(set) var archive: [Int: [Insight]] = [:]
    /// Event lines and the latest step's progress line, for the driver to take.
    private var outbox = Outbox<ProtocolEvent>()
    public private(set) var reports: [StepReport] = []
    public private(set) var step = 0
    private var phase = Phase.idle
    private var tasks: [TaskState] = []
    /// Tasks whose plan has turns still to come.
    private var openTasks = 0
    private var taskIndex: [Int: Int] = [:]
    private var snapshots: [Int: NicheSnapshot] = [:]
    private var codreamPending = 0
    private var distilled: [Int: String] = [:]
    private var tasksSeen: [Int]
    private var completedTasks = 0
    private var lastLifecycleAt = 0
    private var nextInsightID = 1
    private var nextCodreamEvent = 1
    private var stepTurns = 0
    private var stepTokens = 0
    private var stepInterventions = 0
    /// Each niche's leader and for how many steps in a row it has led.
    private var leadership: [Int: (agent: Int, steps: Int)] = [:]
    /// Steps in a row an agent must lead a niche to count as a stable specialist.
    public static let stableSteps = 5
    /// Reflect heartbeats that fired this step: each agent's first, with the attempt it
    /// looks back on; and whether the pool's consolidation fired.
    private var reflectAsks: [Int: (niche: Int, task: Int, answer: String, right: Bool)] = [:]
    private var consolidateAsked = false
    /// Heartbeat turns of this step, by agent index (a consolidation under its producer's
    /// index too, told apart by `round`), and their results until the phase completes.
    private var heartbeatTurns: [TurnRequest] = []
    private var heartbeatResults: [TurnRequest: String] = [:]
    /// Heartbeat turns' task ids lie past every real task's, one per step.
    static let heartbeatTask = 1 << 40
    static let noteRound = codreamRound + 2, consolidateRound = codreamRound + 3

    public init(settings: ChamberSettings) {
        self.settings = settings
        population = Population(nicheCount: settings.niches)
        world = SimulatedWorld(seed: settings.seed, nicheCount: settings.niches, parameters: settings.simulator)
        bandit = StructureBandit(nicheCount: settings.niches)
        heartbeats = HeartbeatScheduler(settings: settings.evolution.heartbeats)
        tasksSeen = Array(repeating: 0, count: settings.niches)
        for _ in 0..<settings.agents {
            let id = population.add(role: "solver", pool: "chamber",
                                    lineage: Agent.Lineage(parents: [], operator: .initial, reason: "initial population", step: 0),
                                    systemPrompt: "You are a careful problem solver.")
            world.register(id)
        }
    }

    public var isFinished: Bool { step >= settings.steps && !isStepOpen }

    public var stage: RunStage {
        let name = switch phase {
        case .teamwork: "teamwork"
        case .reflect: "reflect"
        case .distil: "distil"
        case .idle, .done: isFinished ? "finished" : "between steps"
        }
        return RunStage(unit: "step", current: max(step, 1), total: settings.steps, phase: name,
                        finished: isStepOpen ? step - 1 : step)
    }

    /// Event lines since the last call (`chamber_team`, `chamber_codream`, `chamber_step`, ...).
    public mutating func takeEvents() -> [ProtocolEvent] { outbox.takeEvents() }
    /// One line about the latest finished step, if one finished since the last call.
    public mutating func takeProgressLine() -> String? { outbox.takeProgressLine() }
    public var isStepOpen: Bool { phase == .teamwork || phase == .reflect || phase == .distil }

    // MARK: Driving

    /// Starts the next step; returns the first round of turns.
    public mutating func beginStep() -> [TurnRequest] {
        precondition(!isStepOpen, "a step is already running")
        step += 1
        phase = .teamwork
        tasks = []
        taskIndex = [:]
        distilled = [:]
        stepTurns = 0
        stepTokens = 0
        stepInterventions = 0
        var rng = SimulatedWorld.generator(settings.seed, 0x57E9, UInt64(step))
        let weights = nicheWeights()
        let total = weights.reduce(0, +)
        var drawn: [(id: Int, niche: Int)] = []
        for i in 0..<settings.tasksPerStep {
            var x = Double.random(in: 0..<total, using: &rng)
            var niche = 0
            while niche < weights.count - 1 && x >= weights[niche] { x -= weights[niche]; niche += 1 }
            drawn.append(((step - 1) * settings.tasksPerStep + i + 1, niche))
        }
        snapshots = NicheSnapshot.all(population: population, niches: Array(Set(drawn.map(\.niche))).sorted(),
                                      weakest: max(32, settings.evolution.codream.maxRecipients * 4))
        let teamSize = min(settings.evolution.teamSize, population.activeCount)
        let center = population.competenceMeans()
        var requests: [TurnRequest] = []
        for (id, niche) in drawn {
            let task = settings.backend == .model ? ChamberTaskBank.task(seed: settings.seed, id: id, niche: niche)
                                                  : world.task(id: id, niche: niche)
            let team = TeamAssembler.assemble(size: teamSize, snapshot: snapshots[niche]!, population: population,
                                              center: center, scoutCandidates: settings.evolution.scoutCandidates, using: &rng)
            let structure = bandit.choose(niche: niche, allowed: settings.evolution.structures, using: &rng)
            let members = team.members
            var state = TaskState(task: task, members: members, structure: structure,
                                  plan: structure.plan(teamSize: members.count),
                                  answers: Array(repeating: nil, count: members.count))
            taskIndex[id] = tasks.count
            requests += roundRequests(&state)
            openTasks += 1
            tasks.append(state)
        }
        return requests
    }

    /// Applies one turn's result; returns the turns that became due.
    public mutating func complete(_ request: TurnRequest, _ result: TurnResult) -> [TurnRequest] {
        stepTurns += 1
        stepTokens += result.tokens
        switch phase {
        case .teamwork:
            guard let index = taskIndex[request.task], tasks[index].round == request.round else { return [] }
            var state = tasks[index]
            switch request.action {
            case .answer, .revise: state.answers[request.member] = result.text
            case .critique: state.critique = result.text
            default: break
            }
            state.pending -= 1
            var next: [TurnRequest] = []
            if state.pending == 0 {
                state.round += 1
                if state.round < state.plan.count { next = roundRequests(&state) } else { openTasks -= 1 }
            }
            tasks[index] = state
            return openTasks == 0 ? finishTeamwork() : next
        case .reflect:
            switch request.action {
            case .reflect:
                guard let index = taskIndex[request.task] else { return [] }
                tasks[index].reflections[request.member] = result.text
            case .note, .consolidate:
                guard heartbeatTurns.contains(request) else { return [] }
                heartbeatResults[request] = result.text
            default:
                return []
            }
            codreamPending -= 1
            guard codreamPending == 0 else { return [] }
            applyHeartbeats()
            return distil()
        case .distil:
            guard request.action == .distil else { return [] }
            distilled[request.task] = result.text
            codreamPending -= 1
            if codreamPending == 0 { finishCodream() }
            return []
        case .idle, .done:
            return []
        }
    }

    /// Runs one whole step here, answering turns with the simulator.
    @discardableResult
    public mutating func runStepInProcess() -> StepReport {
        var queue = beginStep()
        var cursor = 0
        while cursor < queue.count {
            let request = queue[cursor]
            cursor += 1
            queue += complete(request, SimulatedWorld.execute(request, parameters: settings.simulator))
        }
        return reports.last!
    }

    // MARK: Teamwork

    private func request(_ state: TaskState, member: Int, action: TurnAction, round: Int,
                         othersAnswers: [String] = [], critique: String = "", count: Int = 0,
                         outcome: String = "", reflections: [String] = []) -> TurnRequest {
        let index = state.members[member]
        let agent = population.agents[index]
        let niche = state.task.niche
        return TurnRequest(
            worldSeed: settings.seed, task: state.task.id, round: round, member: member, agent: agent.id.rawValue,
            action: action, niche: niche, difficulty: state.task.difficulty, correctAnswer: state.task.correctAnswer,
            skill: world.skill(agent.id, niche: niche), gap: world.gap(agent.id, niche: niche, mode: state.task.mode),
            mode: state.task.mode, insightLessons: (agent.insights[niche] ?? []).compactMap(\.simulatedLesson),
            sharedMemory: sharedMemory(index, team: state.members, niche: niche),
            ownAnswer: member < state.answers.count ? (state.answers[member] ?? "") : "",
            othersAnswers: othersAnswers, critique: critique, count: count, question: state.task.question,
            insights: settings.backend == .model ? (agent.insights[niche] ?? []).map(\.text) : [],
            outcome: outcome, reflections: reflections)
    }

    /// The share of agent `index`'s lessons on `niche` that a teammate also holds: what
    /// correlates their errors on the simulator.
    private func sharedMemory(_ index: Int, team: [Int], niche: Int) -> Double {
        let own = (population.agents[index].insights[niche] ?? []).compactMap(\.simulatedLesson)
        guard !own.isEmpty else { return 0 }
        let others = Set(team.filter { $0 != index }.flatMap { (population.agents[$0].insights[niche] ?? []).compactMap(\.simulatedLesson) })
        return Double(own.filter(others.contains).count) / Double(own.count)
    }

    private func roundRequests(_ state: inout TaskState) -> [TurnRequest] {
        let turns = state.plan[state.round]
        state.pending = turns.count
        state.turns += turns.count
        return turns.map { turn in
            switch turn.action {
            case .answer:
                return request(state, member: turn.member, action: .answer, round: state.round)
            case .critique:
                return request(state, member: turn.member, action: .critique, round: state.round,
                               othersAnswers: [state.answers[0] ?? ""])
            case .revise:
                let others = state.answers.enumerated().filter { $0.offset != turn.member }.compactMap(\.element)
                return request(state, member: turn.member, action: .revise, round: state.round,
                               othersAnswers: state.structure == .review ? [] : others, critique: state.critique)
            }
        }
    }

    /// Everything the team results change, in task order.
    private mutating func finishTeamwork() -> [TurnRequest] {
        var codreamRequests: [TurnRequest] = []
        for index in tasks.indices {
            let state = tasks[index]
            let niche = state.task.niche
            tasksSeen[niche] += 1
            completedTasks += 1
            let answered = state.answers.enumerated().compactMap { i, a in a.map { (i, $0) } }
            let final = CollaborationStructure.finalAnswer(state.structure, memberAnswers: answered.map(\.1))
            let success = final == state.task.correctAnswer
            tasks[index].succeeded = success
            bandit.record(niche: niche, state.structure, success: success)
            let ids = state.members.map { population.agents[$0].id.description }
            note("team",
                "task \(state.task.id) niche \(niche): \(state.structure.rawValue) by \(ids.joined(separator: ",")) (anchor first); \(success ? "solved" : "failed")")
            for (member, answer) in answered {
                evaluate(state.members[member], niche: niche, success: answer == state.task.correctAnswer,
                         task: state.task.id, answer: answer)
            }
            if state.structure == .review, state.members.count > 1 {
                let anchorWrong = state.answers[0] != state.task.correctAnswer
                let right = (state.critique == "wrong") == anchorWrong
                evaluate(state.members[1], niche: niche, success: right, task: state.task.id,
                         answer: "the critique '\(state.critique)' of a teammate's answer")
            }
            if settings.evolution.codream.maxDistilled > 0,
               let trigger = Codream.trigger(teamSucceeded: success, memberAnswers: answered.map(\.1)) {
                let producer = Codream.producer(of: state.members, niche: niche, population: population)
                tasks[index].producer = producer
                tasks[index].reflections = Array(repeating: nil, count: state.members.count)
                tasks[index].outcome = success
                    ? "the team answered \(final), which is right, but its members disagreed"
                    : "the team answered \(final), which is wrong; the right answer is \(state.task.correctAnswer)"
                if settings.evolution.codream.reflect {
                    for member in state.members.indices {
                        codreamRequests.append(request(tasks[index], member: member, action: .reflect, round: Self.codreamRound,
                                                       outcome: tasks[index].outcome))
                    }
                }
                note("codream_triggered",
                     "task \(state.task.id) niche \(niche) \(trigger.rawValue); producer \(population.agents[producer].id)")
            }
        }
        heartbeatTurns = heartbeatRequests()
        codreamRequests += heartbeatTurns
        guard !codreamRequests.isEmpty else { return distil() }
        phase = .reflect
        codreamPending = codreamRequests.count
        return codreamRequests
    }

    // MARK: Heartbeats

    /// The heartbeats that fired this step as turns (agents in index order, then the
    /// consolidation); clears what fired.
    private mutating func heartbeatRequests() -> [TurnRequest] {
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
    private func turn(_ action: TurnAction, by index: Int, niche: Int, round: Int, task: SimulatedTask, count: Int,
                      ownAnswer: String = "", outcome: String = "", lessons: [String] = []) -> TurnRequest {
        let agent = population.agents[index]
        let held = agent.insights[niche] ?? []
        return TurnRequest(
            worldSeed: settings.seed, task: Self.heartbeatTask + step, round: round, member: index, agent: agent.id.rawValue,
            action: action, niche: niche, difficulty: task.difficulty, correctAnswer: task.correctAnswer,
            skill: world.skill(agent.id, niche: niche), gap: world.gap(agent.id, niche: niche, mode: task.mode), mode: task.mode,
            insightLessons: held.compactMap(\.simulatedLesson),
            ownAnswer: ownAnswer, othersAnswers: lessons, count: count, question: task.question,
            insights: settings.backend == .model ? held.map(\.text) : [], outcome: outcome)
    }

    /// Applies the heartbeat turns' lessons in turn order, whatever order they came back
    /// in: a note to its writer, a consolidation's skills to every active agent.
    private mutating func applyHeartbeats() {
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

    /// Insights from a turn's lines, at most `limit`: on a model, the lines with a letter
    /// in them; on the simulator, lines naming a lesson (others are logged as unparsed).
    private mutating func lessons(in text: String, niche: Int, producer: AgentID, event: Int, limit: Int, source: String) -> [Insight] {
        var out: [Insight] = []
        for line in text.split(separator: "\n") where out.count < limit {
            let lesson: Int?
            if settings.backend == .model {
                guard line.contains(where: \.isLetter) else { continue }
                lesson = nil
            } else {
                lesson = SimulatedWorld.lesson(inText: String(line))
                guard lesson != nil else {
                    note("insight_unparsed", "\(source): '\(line)'")
                    continue
                }
            }
            out.append(Insight(id: nextInsightID, text: String(line), niche: niche, producer: producer, event: event,
                               simulatedLesson: lesson))
            nextInsightID += 1
        }
        return out
    }

    /// CODREAM's second phase: each event's producer distils, seeing the task, every
    /// member's answer and verdict, the outcome and the reflections. Reflections with
    /// words are kept in the event log as the members' notes.
    private mutating func distil() -> [TurnRequest] {
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
    private mutating func evaluate(_ index: Int, niche: Int, success: Bool, task: Int, answer: String) {
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

    // MARK: CODREAM and lifecycle

    private mutating func finishCodream() {
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
                let flow = InsightFlow(round: step, role: "agent", niche: nicheName(niche), from: population.agents[producer].id.description,
                                       to: deliveries.map { population.agents[$0.recipient].id.description }, insights: insights.count)
                outbox.post(ProtocolEvent(.insightFlow, flow.json))
            }
            note("codream",
                "event \(event) niche \(niche) producer \(population.agents[producer].id): \(insights.count) insights to "
                + (deliveries.map { "\(population.agents[$0.recipient].id)" }.joined(separator: ",").nilIfEmpty ?? "nobody")
                + (insights.isEmpty ? "" : ": " + insights.map(\.text).joined(separator: " | ")))
        }
        finishStep(codreamEvents: eventsThisStep, routed: routed)
    }

    private mutating func finishStep(codreamEvents: Int, routed: Int) {
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
        outbox.post(ProtocolEvent(.chamberStep, report.json))
        // Large simulated studies keep about a hundred snapshots, the last among them.
        if step % max(1, settings.steps / 100) == 0 || step == settings.steps {
            let niches = (0..<settings.niches).map(nicheName)
            outbox.post(ProtocolEvent(.population, PopulationSnapshot(population, role: "agent", niches: niches, round: step).json))
        }
        outbox.progress(String(format: "step %d/%d: accuracy %.3f, population %d, insights routed %d, specialists %d (%d stable), %d agent turns",
                               report.step, settings.steps, report.accuracy, report.population,
                               report.insightsRouted, report.specialists, report.stableSpecialists, report.agentTurns))
        phase = .done
    }

    /// A niche's name: the task bank's for the model backend, its number for the simulator.
    private func nicheName(_ niche: Int) -> String {
        settings.backend == .model && niche < ChamberTaskBank.niches.count ? ChamberTaskBank.niches[niche] : "niche \(niche)"
    }

    /// An event line: `chamber_<action>`, its detail prefixed with the step.
    private mutating func note(_ action: String, _ detail: String) {
        outbox.post(ProtocolEvent(.chamber(action), "step \(step): \(detail)"))
    }

    // MARK: Metrics

    /// Carries each niche's leadership streak into this step, given this step's leaders
    /// (agent ids by niche); returns the distinct agents that have led one niche for
    /// `stableSteps` steps in a row.
    private mutating func updateLeadership(_ leaders: [Int?]) -> Int {
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

    private func report(codreamEvents: Int, routed: Int, lifecycleEvents: Int) -> StepReport {
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

    private func nicheWeights() -> [Double] {
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

extension String {
    var nilIfEmpty: String? { isEmpty ? nil : self }
}
