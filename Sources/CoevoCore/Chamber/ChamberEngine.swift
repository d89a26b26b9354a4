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
public struct ChamberEngine: RunEngine {
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
    /// What differs between the simulator and a model (`settings.backend`'s behaviour).
    let backend: any ChamberBackend
    public internal(set) var population: Population
    public internal(set) var world: SimulatedWorld
    public internal(set) var bandit: StructureBandit
    public internal(set) var heartbeats: HeartbeatScheduler
    public internal(set) var archive: [Int: [Insight]] = [:]
    /// Event lines and the latest step's progress line, for the driver to take.
    var outbox = Outbox()
    public internal(set) var reports: [StepReport] = []
    public internal(set) var step = 0
    var phase = Phase.idle
    var tasks: [TaskState] = []
    /// Tasks whose plan has turns still to come.
    var openTasks = 0
    var taskIndex: [Int: Int] = [:]
    var snapshots: [Int: NicheSnapshot] = [:]
    var codreamPending = 0
    var distilled: [Int: String] = [:]
    var tasksSeen: [Int]
    var completedTasks = 0
    var lastLifecycleAt = 0
    var nextInsightID = 1
    var nextCodreamEvent = 1
    var stepTurns = 0
    var stepTokens = 0
    var stepInterventions = 0
    /// Each niche's leader and for how many steps in a row it has led.
    var leadership: [Int: (agent: Int, steps: Int)] = [:]
    /// Steps in a row an agent must lead a niche to count as a stable specialist.
    public static let stableSteps = 5
    /// Reflect heartbeats that fired this step: each agent's first, with the attempt it
    /// looks back on; and whether the pool's consolidation fired.
    var reflectAsks: [Int: (niche: Int, task: Int, answer: String, right: Bool)] = [:]
    var consolidateAsked = false
    /// Heartbeat turns of this step, by agent index (a consolidation under its producer's
    /// index too, told apart by `round`), and their results until the phase completes.
    var heartbeatTurns: [TurnRequest] = []
    var heartbeatResults: [TurnRequest: String] = [:]
    /// Heartbeat turns' task ids lie past every real task's, one per step.
    static let heartbeatTask = 1 << 40
    static let noteRound = codreamRound + 2, consolidateRound = codreamRound + 3

    public init(settings: ChamberSettings) {
        self.settings = settings
        backend = settings.backend.behaviour
        population = Population(nicheCount: settings.niches)
        world = SimulatedWorld(seed: settings.seed, nicheCount: settings.niches, parameters: settings.simulator)
        bandit = StructureBandit(nicheCount: settings.niches)
        heartbeats = HeartbeatScheduler(settings: settings.evolution.heartbeats)
        tasksSeen = Array(repeating: 0, count: settings.niches)
        for _ in 0..<settings.agents {
            let id = population.add(role: "solver", pool: "chamber",
                                    lineage: Agent.Lineage(parents: [], operator: .initial, reason: "initial population", step: 0),
                                    systemPrompt: ChamberTurnPrompt.persona)
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

    public var isStepOpen: Bool { phase == .teamwork || phase == .reflect || phase == .distil }

    // MARK: Driving

    public static func key(of request: TurnRequest) -> TurnRequest { request }

    /// The first step's first turns (none once finished). Event lines are `chamber_team`,
    /// `chamber_codream`, `chamber_step` and the like; a step's progress line comes with
    /// the turn that closed it.
    public mutating func start() -> EngineStep<TurnRequest> {
        outbox.step(isFinished || isStepOpen ? [] : beginStep())
    }

    /// Applies one turn's result; the turns that became due, and the next step's first
    /// turns when this one closed the step.
    public mutating func complete(_ request: TurnRequest, _ result: TurnResult, at: Double? = nil) -> EngineStep<TurnRequest> {
        var due = completeTurn(request, result)
        if !isStepOpen && !isFinished { due += beginStep() }
        return outbox.step(due)
    }

    public var summary: [SummaryLine] { [] }
    public func exports() -> [String: [String]] { [:] }

    /// Starts the next step; returns the first round of turns.
    mutating func beginStep() -> [TurnRequest] {
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
            let task = backend.task(id: id, niche: niche, seed: settings.seed, world: world)
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

    /// Applies one turn's result; returns the turns of this step that became due.
    mutating func completeTurn(_ request: TurnRequest, _ result: TurnResult) -> [TurnRequest] {
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

    /// Runs one whole step here, answering turns with the simulator: its report and what it said.
    @discardableResult
    public mutating func runStepInProcess() -> (report: StepReport, events: [ProtocolEvent]) {
        var queue = beginStep()
        var cursor = 0
        while cursor < queue.count {
            let request = queue[cursor]
            cursor += 1
            queue += completeTurn(request, SimulatedWorld.execute(request, parameters: settings.simulator))
        }
        return (reports.last!, outbox.step([TurnRequest]()).events)
    }

    // MARK: Teamwork

    func request(_ state: TaskState, member: Int, action: TurnAction, round: Int,
                         othersAnswers: [String] = [], critique: String = "", count: Int = 0,
                         outcome: String = "", reflections: [String] = []) -> TurnRequest {
        let index = state.members[member]
        let agent = population.agents[index]
        let niche = state.task.niche
        var request = TurnRequest(
            worldSeed: settings.seed, task: state.task.id, round: round, member: member, agent: agent.id.rawValue,
            action: action, niche: niche, difficulty: state.task.difficulty, correctAnswer: state.task.correctAnswer,
            skill: world.skill(agent.id, niche: niche), gap: world.gap(agent.id, niche: niche, mode: state.task.mode),
            mode: state.task.mode, insightLessons: (agent.insights[niche] ?? []).compactMap(\.simulatedLesson),
            sharedMemory: sharedMemory(index, team: state.members, niche: niche),
            ownAnswer: member < state.answers.count ? (state.answers[member] ?? "") : "",
            othersAnswers: othersAnswers, critique: critique, count: count, question: state.task.question,
            insights: backend.shownInsights(agent.insights[niche] ?? []),
            outcome: outcome, reflections: reflections)
        request.persona = backend.shownPersona(agent)
        return request
    }

    /// The share of agent `index`'s lessons on `niche` that a teammate also holds: what
    /// correlates their errors on the simulator.
    func sharedMemory(_ index: Int, team: [Int], niche: Int) -> Double {
        let own = (population.agents[index].insights[niche] ?? []).compactMap(\.simulatedLesson)
        guard !own.isEmpty else { return 0 }
        let others = Set(team.filter { $0 != index }.flatMap { (population.agents[$0].insights[niche] ?? []).compactMap(\.simulatedLesson) })
        return Double(own.filter(others.contains).count) / Double(own.count)
    }

    func roundRequests(_ state: inout TaskState) -> [TurnRequest] {
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
    mutating func finishTeamwork() -> [TurnRequest] {
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

    /// An event line: `chamber_<action>`, its detail prefixed with the step.
    mutating func note(_ action: String, _ detail: String) {
        outbox.post(ProtocolEvent(.chamber(action), "step \(step): \(detail)"))
    }
}

extension String {
    var nilIfEmpty: String? { isEmpty ? nil : self }
}
