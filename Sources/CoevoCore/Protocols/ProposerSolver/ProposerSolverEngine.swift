import Foundation

/// The proposer/solver loop (R-Zero, Absolute Zero, Dr. Zero) as a pure state machine.
///
/// Each round: every proposer writes `tasksPerProposer` tasks, each in a category (the
/// niches); the verifier reads them and computes their labels (a reply that is not a
/// task is a format failure and earns nothing); each readable task is attempted
/// `attempts` times by different solvers; the solve rate p pays the proposer (the chosen
/// reward), tasks with p in the band that are not near duplicates are kept. A task some
/// solvers got right and some wrong is a CODREAM event: its solvers reflect on it, the
/// strongest who solved it distils insights from the answers, the outcome and the
/// reflections, and they go to the solvers weak on its category. The examples channel
/// routes the task's worked example the same way, and a kept task to the proposers weak
/// on it. The heartbeats that fired make their calls (reflections, consolidations; see
/// `PoolHeartbeats`); then the lifecycle operators run on both pools.
public struct ProposerSolverEngine: ProtocolEngine {
    public let settings: ProposerSolverSettings
    let categories: [TaskCategory]
    private var proposers: AgentPool
    private var solvers: AgentPool
    public private(set) var round = 1
    private var phase: Phase
    private var taskHistory: [WordFingerprint] = []
    private var tasksSeen: [Int]
    private var outbox = Outbox()
    public private(set) var reports: [ProposerSolverRoundReport] = []
    private var proposalRecords: [ProposalRecord] = []
    private var keptTasks: [KeptTaskRecord] = []
    private var trajectories: [TrajectoryRecord] = []
    private var codreamRecords: [CodreamRecord] = []

    enum Phase: Sendable {
        case work(RoundWork)
        /// Reflections and consolidations, the round's figures waiting for the lifecycle.
        case ending(RoundEnd<ProposerSolverRoundReport>)
        /// Between rounds: before the first, and after the last.
        case idle
    }

    /// A round's proposals and attempts, in flight together: a task's attempts go out as
    /// soon as its proposal is read, not when the last proposal is in. Proposals are read
    /// in call order (each once every earlier one is in), so tasks get the same numbers,
    /// solvers and duplicate verdicts, and the run is the one it would be if every
    /// attempt had waited for the whole phase: only the model server is kept busier.
    struct RoundWork: Sendable {
        var proposals: CallBatch
        var slots: [String: (proposer: Int, category: Int)]
        var tasks: [ProposedTask] = []
        var attempts = CallBatch([])
        var attemptSlots: [String: (task: Int, solver: Int)] = [:]

        var isComplete: Bool { proposals.isRead && attempts.isComplete }
    }

    /// A readable proposal of this round, waiting for its attempts.
    struct ProposedTask: Sendable {
        var task: ArithmeticTask
        var category: Int
        var proposer: Int
        var claimed: String?
        var duplicate: Bool
        var proposalIndex: Int
    }

    static let proposerBase = "You write math problems for a student model."
    static let solverBase = "You solve math problems. Work briefly, then give the final answer."
    static let personas = [
        "Be precise.", "Work step by step and check the result.", "Prefer small, clean numbers.",
        "Think about the mistakes students make.", "Keep it short.",
    ]

    public init(settings: ProposerSolverSettings, evolution: EvolutionSettings) {
        self.settings = settings
        categories = settings.categories.compactMap(TaskCategory.named)
        let names = categories.map(\.name)
        proposers = AgentPool(role: "proposer", size: settings.proposers, nicheNames: names, personas: Self.personas, evolution: evolution)
        solvers = AgentPool(role: "solver", size: settings.solvers, nicheNames: names, personas: Self.personas.reversed(), evolution: evolution)
        tasksSeen = Array(repeating: 0, count: names.count)
        // Repeating a prompt's example is not a new task.
        taskHistory = categories.flatMap { $0.examples.map { WordFingerprint($0.task) } }
        phase = .idle
    }

    public var isFinished: Bool { if case .idle = phase { round > settings.rounds } else { false } }

    public var stage: RunStage {
        let name = switch phase {
        case .work(let work): work.proposals.isRead ? "solve" : "propose"
        case .ending: "reflect"
        case .idle: isFinished ? "finished" : "start"
        }
        return .protocolRound(round, of: settings.rounds, phase: name)
    }

    public mutating func start() -> EngineStep<AgentCall> {
        guard round == 1, case .idle = phase else { return outbox.step([]) }
        return outbox.step(beginRound())
    }

    public mutating func complete(_ key: String, _ reply: AgentReply, at: Double? = nil) -> EngineStep<AgentCall> {
        outbox.step(record(key, reply))
    }

    /// A reply recorded; the calls that became due.
    private mutating func record(_ key: String, _ reply: AgentReply) -> [AgentCall] {
        switch phase {
        case .work(var work):
            var calls: [AgentCall] = []
            if work.proposals.record(key, reply) {
                for (call, reply) in work.proposals.takeReadyInOrder() {
                    guard let task = readProposal(call, reply, slot: work.slots[call.key]!) else { continue }
                    let attempts = attemptCalls(task, number: work.tasks.count)
                    work.tasks.append(task)
                    for (call, slot) in attempts { work.attemptSlots[call.key] = slot }
                    let made = attempts.map(\.call)
                    work.attempts.append(made)
                    calls += made
                }
            } else if !work.attempts.record(key, reply) {
                return []
            }
            phase = .work(work)
            return work.isComplete ? finishAttempts(work) : calls
        case .ending(var ending):
            guard let next = ending.record(key, reply, proposers, solvers) else { return [] }
            phase = .ending(ending)
            return ending.isComplete ? closeRound(ending) : next
        case .idle:
            return []
        }
    }


    // MARK: Phases

    private mutating func beginRound() -> [AgentCall] {
        var calls: [AgentCall] = []
        var slots: [String: (Int, Int)] = [:]
        for (position, proposer) in proposers.active.enumerated() {
            for t in 0..<settings.tasksPerProposer {
                // A specialist writes in its niche; the others cycle through the
                // categories, shifted each round so every proposer meets every category.
                let category = proposers.agent(proposer).specialty
                    ?? (position * settings.tasksPerProposer + t + round - 1) % categories.count
                let c = categories[category]
                let key = "r\(round).propose.\(proposers.agent(proposer).id).\(t)"
                let examples = c.examples.map { "TASK: \($0.task)\nANSWER: \($0.answer)" }.joined(separator: "\n")
                let prompt = """
                    Examples of \(c.name) problems (\(c.description)):
                    \(examples)
                    Write one new \(c.name) problem that a student solves about half the time, in the same format.
                    """
                calls.append(AgentCall(key: key, role: "proposer", agent: proposers.agent(proposer).id,
                                       system: proposers.systemPrompt(proposer, base: Self.proposerBase, niches: [category]),
                                       prompt: prompt, maxTokens: settings.maxTokens, temperature: settings.proposerTemperature,
                                       runSeed: settings.seed))
                slots[key] = (proposer, category)
            }
        }
        phase = .work(RoundWork(proposals: CallBatch(calls), slots: slots))
        return calls
    }

    /// Reads one proposal (in call order): a task, or a format failure charged to its
    /// proposer (nil).
    private mutating func readProposal(_ call: AgentCall, _ reply: AgentReply, slot: (proposer: Int, category: Int)) -> ProposedTask? {
        let category = categories[slot.category].name
        tasksSeen[slot.category] += 1
        var record = ProposalRecord(round: round, proposer: call.agent.description, category: category,
                                    system: call.system, prompt: call.prompt, reply: reply.text ?? "", valid: false, failure: nil, task: nil,
                                    label: nil, duplicate: false, solved: nil, attempts: nil, reward: 0, kept: false)
        var proposed: ProposedTask?
        switch reply {
        case .failed(let reason):
            record.failure = "call failed: \(reason)"
        case .text(let text):
            switch ReplyFormat.proposal(text) {
            case .failure(let failure):
                record.failure = failure.reason
            case .success(let (task, claimed)):
                let fingerprint = WordFingerprint(task.text)
                let duplicate = taskHistory.contains { $0.similarity(to: fingerprint) >= settings.duplicateSimilarity }
                taskHistory.append(fingerprint)
                record.valid = true
                record.task = task.text
                record.label = task.label.description
                record.duplicate = duplicate
                proposed = ProposedTask(task: task, category: slot.category, proposer: slot.proposer, claimed: claimed,
                                        duplicate: duplicate, proposalIndex: proposalRecords.count)
            }
        }
        if let failure = record.failure {
            outbox.post(ProtocolEvent(.formatFailure, "round \(round) \(call.key): \(failure)"))
            proposers.record(slot.proposer, niche: slot.category, success: false,
                             attempt: "a \(category) task: your reply was not read as one (\(failure))", round: round)
        }
        proposalRecords.append(record)
        return proposed
    }

    /// The k attempts at the round's task number `t`: see `attemptOrder`.
    private func attemptCalls(_ task: ProposedTask, number t: Int) -> [(call: AgentCall, slot: (task: Int, solver: Int))] {
        let order = Self.attemptOrder(pool: solvers.active, specialty: { solvers.agent($0).specialty }, category: task.category,
                                      task: t, attempts: settings.attempts)
        return order.enumerated().map { j, solver in
            let ask = task.task.isEquation ? "Solve for x: \(task.task.text)" : "Compute: \(task.task.text)"
            let call = AgentCall(key: "r\(round).solve.\(t).\(j)", role: "solver", agent: solvers.agent(solver).id,
                                 system: solvers.systemPrompt(solver, base: Self.solverBase, niches: [task.category]),
                                 prompt: "\(ask)\nEnd your reply with a line of the form ANSWER: <number>.",
                                 maxTokens: settings.maxTokens, temperature: settings.solverTemperature, runSeed: settings.seed)
            return (call, (t, solver))
        }
    }

    /// Who makes the `attempts` attempts at task number `t` of `category`: the solvers that
    /// specialise in the category first (a fork's or seed's specialty steers what it
    /// works on), then the others in rotation: with s specialists, the rest of the k
    /// attempts are others (t * (k - s) + j - s) mod n, so that with no specialist the
    /// tasks go round the pool as they always did.
    static func attemptOrder(pool: [Int], specialty: (Int) -> Int?, category: Int, task t: Int, attempts: Int) -> [Int] {
        let specialists = Array(pool.filter { specialty($0) == category }.prefix(attempts))
        let others = pool.filter { specialty($0) != category }
        let rotation = others.isEmpty ? specialists : others
        let rest = attempts - specialists.count
        return (0..<attempts).map { j in
            j < specialists.count ? specialists[j] : rotation[(t * rest + j - specialists.count) % rotation.count]
        }
    }

    /// One attempt's outcome, for the round's bookkeeping.
    struct Attempt: Sendable {
        var solver: Int
        var answer: String?
        var correct: Bool
    }

    /// Every proposal read and every attempt in: the attempts are read in call order.
    private mutating func finishAttempts(_ work: RoundWork) -> [AgentCall] {
        let tasks = work.tasks
        var outcomes = Array(repeating: [Attempt](), count: tasks.count)
        for (call, reply) in work.attempts.answered {
            let (t, solver) = work.attemptSlots[call.key]!
            let task = tasks[t]
            let answer = reply.text.flatMap(ReplyFormat.finalAnswer)
            let correct = answer.map { task.task.check($0) == .correct } ?? false
            let verdict = correct ? "correct" : "wrong, the answer is \(task.task.label)"
            solvers.record(solver, niche: task.category, success: correct,
                           attempt: "\(task.task.text): you answered \(answer ?? "nothing readable"), \(verdict)", round: round)
            outcomes[t].append(Attempt(solver: solver, answer: answer, correct: correct))
            trajectories.append(TrajectoryRecord(
                round: round, category: categories[task.category].name, task: task.task.text, label: task.task.label.description,
                solver: call.agent.description, system: call.system, prompt: call.prompt, reply: reply.text ?? "", answer: answer,
                correct: correct, reward: correct ? 1 : 0))
        }
        return finishRound(tasks: tasks, outcomes: outcomes)
    }

    private mutating func finishRound(tasks: [ProposedTask], outcomes: [[Attempt]]) -> [AgentCall] {
        var rewards: [Double] = []
        var kept = 0
        var solveRates: [Double] = []
        var codream: [CodreamCase] = []
        let examplesBefore = proposers.examplesRouted + solvers.examplesRouted
        for (t, task) in tasks.enumerated() {
            let solved = outcomes[t].filter(\.correct).count
            let k = outcomes[t].count
            let p = Double(solved) / Double(max(1, k))
            // A readable task earns the format score on top (a format failure earns nothing).
            var reward = settings.reward.reward(solved: solved, attempts: k) + settings.effectiveFormatScore
            if task.duplicate { reward *= 1 - settings.duplicatePenalty }
            let keep = !task.duplicate && ProposerReward.keeps(solved: solved, attempts: k, band: settings.band)
            rewards.append(reward)
            solveRates.append(p)
            let why = keep ? "kept" : task.duplicate ? "a near duplicate" : p > settings.band.upperBound ? "too easy" : "too hard"
            proposers.record(task.proposer, niche: task.category, success: keep,
                             attempt: "the \(categories[task.category].name) task \(task.task.text): solved \(solved) of \(k), \(why)", round: round)
            proposalRecords[task.proposalIndex].solved = solved
            proposalRecords[task.proposalIndex].attempts = k
            proposalRecords[task.proposalIndex].reward = reward
            proposalRecords[task.proposalIndex].kept = keep
            let category = categories[task.category].name
            if keep {
                kept += 1
                keptTasks.append(KeptTaskRecord(
                    round: round, category: category, task: task.task.text, label: task.task.label.description,
                    proposer: proposers.agent(task.proposer).id.description, proposerAnswer: task.claimed,
                    proposerAnswerCorrect: task.claimed.map { task.task.check($0) == .correct } ?? false,
                    solveRate: p, solved: solved, attempts: k, reward: reward))
                if let event = proposers.example("A good \(category) task (solved \(solved) of \(k)): \(task.task.text)",
                                                 niche: task.category, producer: task.proposer, round: round) {
                    outbox.post(event)
                }
            }
            // Someone solved it and someone did not: CODREAM, and a worked example.
            let solvedBy = outcomes[t].filter(\.correct).map(\.solver)
            if !solvedBy.isEmpty && solved < k {
                let producer = Codream.producer(of: solvedBy, niche: task.category, population: solvers.population)
                codream.append(codreamCase(task, outcomes[t], producer: producer))
                if let event = solvers.example("Worked example: \(task.task.text) gives \(task.task.label).",
                                               niche: task.category, producer: producer, round: round) {
                    outbox.post(event)
                }
            }
        }
        let proposals = proposalRecords.filter { $0.round == round }.count
        let attempts = outcomes.joined()
        let report = ProposerSolverRoundReport(
            round: round, proposals: proposals, formatFailures: proposals - tasks.count, tasks: tasks.count,
            duplicates: tasks.filter(\.duplicate).count, kept: kept,
            solveRate: attempts.isEmpty ? 0 : Double(attempts.filter(\.correct).count) / Double(attempts.count),
            meanProposerReward: proposals == 0 ? 0 : rewards.reduce(0, +) / Double(proposals),
            codreamEvents: 0, insightsRouted: 0,
            examplesRouted: proposers.examplesRouted + solvers.examplesRouted - examplesBefore,
            heartbeatCalls: 0, lifecycleEvents: 0, proposers: 0, solvers: 0)
        let ending = RoundEnd(report, round: round, maxTokens: settings.maxTokens, seed: settings.seed,
                              &proposers, HeartbeatVoice(base: Self.proposerBase, temperature: settings.proposerTemperature),
                              &solvers, HeartbeatVoice(base: Self.solverBase, temperature: settings.solverTemperature),
                              codream: codream, outbox: &outbox)
        guard ending.isComplete else {
            phase = .ending(ending)
            return ending.calls
        }
        return closeRound(ending)
    }

    /// A task its solvers split on, as CODREAM tells it: each solver once, with every
    /// answer it gave and how each went.
    private func codreamCase(_ task: ProposedTask, _ attempts: [Attempt], producer: Int) -> CodreamCase {
        var members: [CodreamCase.Member] = []
        for attempt in attempts {
            let answer = attempt.answer ?? "nothing readable", verdict = attempt.correct ? "correct" : "wrong"
            if let m = members.firstIndex(where: { $0.agent == attempt.solver }) {
                members[m].answer += " / " + answer
                members[m].verdict += " / " + verdict
            } else {
                members.append(CodreamCase.Member(agent: attempt.solver, answer: answer, verdict: verdict))
            }
        }
        let solved = attempts.filter(\.correct).count
        return CodreamCase(role: "solver", niche: task.category,
                           task: "the \(categories[task.category].name) task \(task.task.text)",
                           outcome: "the answer is \(task.task.label); \(solved) of \(attempts.count) attempts got it",
                           members: members, producer: producer)
    }

    /// The shared round ending, then the next round.
    private mutating func closeRound(_ ending: RoundEnd<ProposerSolverRoundReport>) -> [AgentCall] {
        reports.append(ending.close(rounds: settings.rounds, tasksSeen: tasksSeen, &proposers, &solvers,
                                    records: &codreamRecords, outbox: &outbox))
        round += 1
        phase = .idle
        return round <= settings.rounds ? beginRound() : []
    }

    // MARK: Results

    public var summary: [SummaryLine] {
        let proposals = reports.reduce(0) { $0 + $1.proposals }
        let tasks = reports.reduce(0) { $0 + $1.tasks }
        return [
            SummaryLine("rounds", "\(reports.count) of \(settings.rounds); reward \(settings.reward.rawValue), band \(settings.band.lowerBound)-\(settings.band.upperBound)"),
            SummaryLine("proposals", "\(proposals), \(proposals - tasks) format failures, \(reports.reduce(0) { $0 + $1.duplicates }) near duplicates, \(keptTasks.count) tasks kept"),
            SummaryLine("solve rate", reports.map { String(format: "%.2f", $0.solveRate) }.joined(separator: " -> ") + " (by round)"),
            SummaryLine("proposer", "mean reward " + reports.map { String(format: "%.2f", $0.meanProposerReward) }.joined(separator: " -> ")),
            SummaryLine("CODREAM", "\(reports.reduce(0) { $0 + $1.codreamEvents }) events, \(reports.reduce(0) { $0 + $1.insightsRouted }) insights routed, \(reports.reduce(0) { $0 + $1.examplesRouted }) examples routed"),
            SummaryLine("heartbeats", PoolHeartbeats.summary(proposers, solvers)),
            SummaryLine("lineage", "\(reports.reduce(0) { $0 + $1.lifecycleEvents }) events; \(proposers.active.count) proposers, \(solvers.active.count) solvers now"),
        ]
    }

    public func exports() -> [String: [String]] {
        [
            "tasks.jsonl": keptTasks.map(ExportLine.json),
            "proposals.jsonl": proposalRecords.map(ExportLine.json),
            "trajectories.jsonl": trajectories.map(ExportLine.json),
            "codream.jsonl": codreamRecords.map(ExportLine.json),
        ]
    }
}
