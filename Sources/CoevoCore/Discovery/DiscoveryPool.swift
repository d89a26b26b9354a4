import Foundation

/// A discovery pool as a pure state machine: it asks for agent steps and grades and
/// consumes their results. A round is one step of every agent; a submission's grade is
/// asked for as soon as its step is back (at most `graders` at once), and the round is
/// closed when every grade is in, reading them in agent order. So the pool's course
/// (statuses, heartbeats, the parents `evolve` picks) does not depend on which worker
/// finishes first, and a run replayed after a crash reaches exactly the state it had:
/// the heartbeat counters and the pivot cooldown survive a coordinator restart.
public struct DiscoveryPool: RunEngine {
    public enum Request: Hashable, Sendable {
        case step(DiscoveryStepJob)
        case grade(DiscoveryGradeJob)

        public var key: String {
            switch self {
            case .step(let job): job.key
            case .grade(let job): job.key
            }
        }
    }

    public enum Reply: Hashable, Sendable {
        case step(DiscoveryStepOutput)
        case grade(DiscoveryGradeOutput)
        /// The job failed for good, or its output was unreadable.
        case failed(String)
    }

    struct Member: Sendable {
        var id: String
        var group: DiscoverySettings.AgentGroup
        /// The commit its next step starts from (command agents go on from their latest
        /// submission, as in their own workspace); nil: the seed.
        var base: String?
        var best: Double?
        var evaluations = 0
        var sinceBest = 0
        /// The agent's evaluation count at its last pivot.
        var lastPivot: Int?
        var heartbeats: [DiscoveryPrompt.Heartbeat] = []
        var pivoting = false
        /// Unclean steps in a row, the breaker's pauses so far, and the last round of its latest.
        var faults = 0
        var pauses = 0
        var pausedThrough = 0
        /// The CLI session its last step reported.
        var session: String?
    }

    public let settings: DiscoverySettings
    public let run: String
    private var members: [Member]
    public private(set) var attempts: [Attempt] = []
    public private(set) var notes: [Note] = []
    /// The latest version of each skill, by name.
    public private(set) var skills: [String: Skill] = [:]
    private var bundles: [String: Data] = [:]
    /// Per attempt key: its diff and the agent's transcript, for the training export.
    private var details: [String: (diff: String, transcript: String)] = [:]
    private var parents: [String: String] = [:]
    private var children: [String: Int] = [:]
    public private(set) var round = 0
    public private(set) var evaluations = 0
    /// What the agents reported using: model calls and tokens.
    public private(set) var modelCalls = 0
    public private(set) var tokens = 0
    public private(set) var usd = 0.0
    /// When the run was created (the wall-time budget counts from it), and the time of the
    /// latest reply: a replay passes each stored result's own time, so a replayed run stops
    /// in the round the lost one did.
    private var startedAt: Double?
    private var latest: Double?
    private var consolidations = 0
    public private(set) var best: Attempt?
    public private(set) var stopReason: String?

    // The open round.
    private var stepsOut: [String: Int] = [:]
    private var stepOutputs: [Int: DiscoveryStepOutput] = [:]
    private var gradeQueue: [(job: DiscoveryGradeJob, member: Int)] = []
    private var gradesOut: [String: Int] = [:]
    private var grades: [Int: DiscoveryGradeOutput] = [:]

    /// What the pool has said since its last step.
    private var outbox = Outbox()
    private var roundLines: [String] = []

    /// `startedAt`: when the run was created (nil: the first reply's time).
    public init(settings: DiscoverySettings, run: String, startedAt: Double? = nil) {
        self.settings = settings
        self.run = run
        self.startedAt = startedAt
        members = settings.roster.map { Member(id: $0.id, group: $0.group) }
    }

    public var isFinished: Bool { stopReason != nil }

    /// Steps run while any agent works; grading once only grades are out.
    public var stage: RunStage {
        let phase = isFinished ? "finished" : stepsOut.isEmpty ? "grade" : "agents working"
        return RunStage(unit: "round", current: max(round, 1), total: settings.rounds, phase: phase,
                        finished: isFinished ? round : max(0, round - 1))
    }

    public static func key(of request: Request) -> String { request.key }

    public mutating func start() -> EngineStep<Request> { outbox.step(beginRound()) }

    /// `at`: the reply's wall time (seconds since 1970), for `max_wall_seconds`.
    public mutating func complete(_ key: String, _ reply: Reply, at: Double? = nil) -> EngineStep<Request> {
        outbox.step(record(key, reply, at: at))
    }

    private mutating func record(_ key: String, _ reply: Reply, at: Double?) -> [Request] {
        if let at {
            latest = max(latest ?? at, at)
            if startedAt == nil { startedAt = at }
        }
        if let index = stepsOut.removeValue(forKey: key) {
            stepReturned(index, key: key, reply)
        } else if let index = gradesOut.removeValue(forKey: key) {
            switch reply {
            case .grade(let output): grades[index] = output
            case .step: grades[index] = DiscoveryGradeOutput(score: nil, feedback: "a grade job answered with a step's output", failure: .crashed)
            case .failed(let why): grades[index] = DiscoveryGradeOutput(score: nil, feedback: why, failure: .crashed)
            }
        } else {
            return []
        }
        var due = dispatchGrades()
        if stepsOut.isEmpty && gradesOut.isEmpty && gradeQueue.isEmpty {
            closeRound()
            if stopReason == nil { due += beginRound() }
        }
        return due
    }

    public var summary: [SummaryLine] {
        let scored = attempts.compactMap(\.score)
        var lines = [SummaryLine("rounds", "\(round) of \(settings.rounds)"),
                     SummaryLine("attempts", "\(attempts.count) graded, \(attempts.filter { $0.status == .crashed || $0.status == .timeout }.count) without a score"),
                     SummaryLine("best", best.map { "\(DiscoveryPrompt.format($0.score!)) by \($0.agent) (\($0.commit.prefix(8)), round \($0.round))" } ?? "none")]
        if let first = scored.first { lines.append(SummaryLine("first", DiscoveryPrompt.format(first))) }
        lines.append(SummaryLine("notes", "\(notes.count) notes, \(skills.count) skills"))
        if modelCalls > 0 || usd > 0 {
            lines.append(SummaryLine("model", "\(modelCalls) calls, \(tokens) tokens" + (usd > 0 ? String(format: ", $%.4f", usd) : "")))
        }
        lines.append(SummaryLine("stopped", stopReason ?? "running"))
        return lines
    }

    /// The training export: every graded attempt with its diff and the agent's
    /// transcript, one JSON line each.
    public func exports() -> [String: [String]] {
        struct Line: Encodable {
            var attempt: Attempt
            var diff: String
            var transcript: String
        }
        return ["attempts.jsonl": attempts.map { ExportLine.json(Line(attempt: $0, diff: details[$0.key]?.diff ?? "",
                                                                      transcript: details[$0.key]?.transcript ?? "")) }]
    }

    // MARK: Rounds

    /// Opens the next round; a round in which every agent is paused passes at once.
    private mutating func beginRound() -> [Request] {
        while stopReason == nil {
            round += 1
            let requests = stepRequests()
            if !requests.isEmpty { return requests }
            closeRound()
        }
        return []
    }

    private mutating func stepRequests() -> [Request] {
        // What every agent's step shares, worked out once a round.
        let ranked = Attempt.ranked(attempts, settings.task.direction)
        var requests: [Request] = []
        for index in members.indices {
            let member = members[index]
            if member.pausedThrough >= round {
                outbox.post(ProtocolEvent(.discoveryAgentFault, "\(member.id) paused in round \(round) (through round \(member.pausedThrough))"))
                continue
            }
            let key = "r\(round).step.\(member.id)"
            var rng = SeededGenerator(seed: AgentCall.seed(runSeed: settings.seed, key: key))
            var base = member.base
            var evolve: EvolveMutation?
            if member.group.runtime == .evolve {
                base = ParentSelection.choose(from: ranked, children: children, uniform: member.pivoting, using: &rng)
                evolve = EvolveMutation(files: member.group.files, seed: rng.next(),
                                        scale: member.group.scale * (member.pivoting ? 4 : 1), byModel: member.group.mutation == .model)
            }
            let prompt = DiscoveryPrompt.make(task: settings.task.description, agent: member.id, round: round, rounds: settings.rounds,
                                              direction: settings.task.direction, poolBest: best?.score, heartbeats: member.heartbeats)
            members[index].heartbeats = []
            members[index].pivoting = false
            let launch = AgentLaunch(group: member.group, seed: AgentCall.seed(runSeed: settings.seed, key: key + ".model"))
            let chain = chain(to: base)
            let shared = view(for: member.id, top: ranked.prefix(10))
            var job = DiscoveryStepJob(key: key, run: run, agent: member.id, launch: launch, session: member.session, prompt: prompt,
                                       chain: chain, shared: shared, evolve: evolve,
                                       timeoutMilliseconds: settings.stepTimeoutMilliseconds, stallMilliseconds: settings.stallMilliseconds)
            job.round = round
            job.limits = settings.limits
            // Only an agent that can run `coevo memory checkout` needs the listed attempts'
            // commits; the evolve runtime starts from its chain's commit and never lists them,
            // and they are the part of a step that grows with the pool's history.
            if member.group.runtime != .evolve {
                job.viewed = viewedBundles(for: shared.attempts.map(\.commit), besides: chain)
            }
            stepsOut[key] = index
            requests.append(.step(job))
        }
        return requests
    }

    private mutating func stepReturned(_ index: Int, key: String, _ reply: Reply) {
        let agent = members[index].id
        guard case .step(let output) = reply else {
            let why = if case .failed(let why) = reply { why } else { "a step job answered with a grade" }
            outbox.post(ProtocolEvent(.discoveryStepFailed, "\(key): \(why)"))
            fault(index, key: key, why: why)
            return
        }
        if output.crashed {
            fault(index, key: key, why: "\(output.exit); output ends: \(output.transcript.suffix(400))")
        } else {
            members[index].faults = 0
        }
        stepOutputs[index] = output
        if let session = output.session { members[index].session = session }
        modelCalls += output.modelCalls
        tokens += output.tokens
        usd += output.costUSD
        guard let commit = output.commit, let bundle = output.bundle else {
            outbox.post(ProtocolEvent(.discoveryNoSubmission, "\(key): \(output.exit); no `coevo eval`"))
            return
        }
        bundles[commit] = bundle
        if let parent = output.parent { parents[commit] = parent }
        let job = DiscoveryGradeJob(
            key: "r\(round).grade.\(agent)", run: run, chain: chain(to: commit), command: settings.task.gradeCommand,
            graderFiles: settings.graderFiles, timeoutMilliseconds: settings.task.graderTimeoutMilliseconds, userID: settings.task.graderUser,
            candidate: CandidateRun(settings), network: settings.task.graderNetwork)
        gradeQueue.append((job, index))
    }

    /// An unclean step: logged with the tail of the agent's output; `crash_limit` in a row
    /// pause the agent, each pause twice as long as its last.
    private mutating func fault(_ index: Int, key: String, why: String) {
        outbox.post(ProtocolEvent(.discoveryAgentFault, "\(key): \(why)"))
        members[index].faults += 1
        guard members[index].faults >= settings.health.crashLimit else { return }
        // Restart backoff: each pause twice the last (at most 64 times the first).
        let length = settings.health.pauseRounds << min(members[index].pauses, 6)
        members[index].faults = 0
        members[index].pauses += 1
        members[index].pausedThrough = round + length
        outbox.post(ProtocolEvent(.discoveryAgentFault,
                                    "\(members[index].id) paused for \(length) round(s) after \(settings.health.crashLimit) unclean steps in a row"))
    }

    /// Grades go out in the order their steps came back, at most `graders` at a time.
    private mutating func dispatchGrades() -> [Request] {
        var due: [Request] = []
        while gradesOut.count < settings.task.graders, !gradeQueue.isEmpty {
            let (job, member) = gradeQueue.removeFirst()
            gradesOut[job.key] = member
            due.append(.grade(job))
        }
        return due
    }

    /// Reads the round's results in agent order: attempts, statuses, notes, skills, heartbeats.
    private mutating func closeRound() {
        let direction = settings.task.direction
        let epsilon = settings.heartbeats.epsilon
        var graded = 0, improved = 0, failed = 0
        for index in members.indices {
            let key = "r\(round).step.\(members[index].id)"
            guard let output = stepOutputs[index] else { continue }
            if let commit = output.commit, let grade = grades[index] {
                var member = members[index]
                let score = grade.failure == nil ? grade.score : nil
                let status: Attempt.Status
                if let failure = grade.failure {
                    status = failure == .timeout ? .timeout : .crashed
                } else if let score, let own = member.best {
                    status = direction.better(score, than: own, by: epsilon) ? .improved
                        : direction.better(own, than: score, by: epsilon) ? .regressed : .baseline
                } else {
                    status = score == nil ? .crashed : .baseline
                }
                let poolBest = score.map { s in best?.score.map { direction.better(s, than: $0, by: epsilon) } ?? true } ?? false
                let attempt = Attempt(key: key, round: round, agent: member.id, commit: commit, parent: output.parent, score: score,
                                      status: status, poolBest: poolBest, feedback: grade.feedback, message: output.message)
                attempts.append(attempt)
                if let detail = grade.detail, !detail.isEmpty {
                    outbox.post(ProtocolEvent(.discoveryGradeDetail, "r\(round).grade.\(member.id): \(detail)"))
                }
                details[key] = (output.diff, String(output.transcript.suffix(8192)))
                outbox.remember(.attempt(attempt))
                if let parent = output.parent { children[parent, default: 0] += 1 }
                if poolBest {
                    best = attempt
                    outbox.post(ProtocolEvent(.discoveryBest, "\(member.id) \(commit.prefix(8)): \(DiscoveryPrompt.format(score!))"))
                }
                member.evaluations += 1
                evaluations += 1
                graded += 1
                if status == .improved { improved += 1 }
                if score == nil { failed += 1 }
                if let score, status == .improved || member.best == nil {
                    member.best = score
                    member.sinceBest = 0
                } else {
                    member.sinceBest += 1
                }
                member.base = commit
                heartbeats(after: attempt, of: &member)
                members[index] = member
                consolidateIfDue()
            }
            for (n, body) in output.notes.enumerated() {
                let note = Note(key: "\(key).note\(n + 1)", agent: members[index].id, round: round, body: body)
                notes.append(note)
                outbox.remember(.note(note))
            }
            for draft in output.skills {
                let skill = Skill(name: draft.name, version: (skills[draft.name]?.version ?? 0) + 1, description: draft.description,
                                  body: draft.body, agent: members[index].id, round: round)
                skills[draft.name] = skill
                outbox.remember(.skill(skill))
            }
        }
        stepOutputs = [:]
        grades = [:]
        let bestText = best.map { "\(DiscoveryPrompt.format($0.score!)) (\($0.agent))" } ?? "none"
        outbox.progress("round \(round)/\(settings.rounds): \(graded) graded, \(improved) improved, \(failed) without a score; best \(bestText); \(evaluations) evaluations")
        if settings.maxEvaluations > 0 && evaluations >= settings.maxEvaluations {
            stopReason = "max_evaluations (\(settings.maxEvaluations)) reached"
        } else if settings.maxTokens > 0 && tokens >= settings.maxTokens {
            stopReason = "max_tokens (\(settings.maxTokens)) reached: \(tokens) tokens"
        } else if settings.maxUSD > 0 && usd >= settings.maxUSD {
            stopReason = String(format: "max_usd ($%.4f) reached: $%.4f", settings.maxUSD, usd)
        } else if settings.maxWallSeconds > 0, let startedAt, let latest, latest - startedAt >= settings.maxWallSeconds {
            stopReason = String(format: "max_wall_seconds (%.0f) reached: %.0f s since the run was created", settings.maxWallSeconds,
                                latest - startedAt)
        } else if let target = settings.targetScore, let score = best?.score, !direction.better(target, than: score) {
            stopReason = "target score \(DiscoveryPrompt.format(target)) reached"
        } else if round >= settings.rounds {
            stopReason = "all \(settings.rounds) rounds done"
        }
        if let stopReason { outbox.post(ProtocolEvent(.discoveryStopped, stopReason)) }
    }

    /// Reflect after every evaluation, pivot after `pivot_after` without a personal best
    /// (outside the cooldown), custom heartbeats on their interval.
    private mutating func heartbeats(after attempt: Attempt, of member: inout Member) {
        let config = settings.heartbeats
        if config.reflect { member.heartbeats.append(.reflect(attempt: attempt)) }
        let cooled = member.lastPivot.map { member.evaluations - $0 >= config.pivotCooldown } ?? true
        if config.pivotAfter > 0, member.sinceBest >= config.pivotAfter, cooled {
            member.heartbeats.append(.pivot(evaluationsWithoutBest: member.sinceBest, best: member.best))
            member.lastPivot = member.evaluations
            member.pivoting = true
            outbox.post(ProtocolEvent(.discoveryHeartbeat, "pivot \(member.id) after \(member.sinceBest) evaluations without a best"))
        }
        for custom in config.custom where member.evaluations % custom.every == 0 {
            member.heartbeats.append(.custom(name: custom.name, prompt: custom.prompt))
        }
    }

    /// Every `consolidate_every` pool evaluations, one agent in turn is asked to turn
    /// the notes into skills. Called after each attempt, so attempts graded in the same
    /// round each count.
    private mutating func consolidateIfDue() {
        let every = settings.heartbeats.consolidateEvery
        guard every > 0, evaluations % every == 0 else { return }
        let index = consolidations % members.count
        consolidations += 1
        members[index].heartbeats.append(.consolidate(notes: notes.count))
        outbox.post(ProtocolEvent(.discoveryHeartbeat, "consolidate \(members[index].id) after \(evaluations) evaluations"))
    }

    // MARK: What a job carries

    /// The bundles from the seed to `commit`, oldest first.
    private func chain(to commit: String?) -> CommitChain {
        CommitChain(seedFiles: settings.seedFiles, bundles: lineage(of: commit).reversed().map { bundles[$0]! }, commit: commit)
    }

    /// `commit` and its ancestors back to the seed, newest first: the commits with bundles.
    private func lineage(of commit: String?) -> [String] {
        var line: [String] = []
        var cursor = commit
        while let current = cursor, bundles[current] != nil {
            line.append(current)
            cursor = parents[current]
        }
        return line
    }

    /// The bundles that bring `commits` and their ancestors, leaving out what `chain`
    /// brings; each commit after its parent.
    private func viewedBundles(for commits: [String], besides chain: CommitChain) -> [CommittedBundle] {
        var have = Set(lineage(of: chain.commit))
        var out: [CommittedBundle] = []
        for commit in commits {
            let line = lineage(of: commit).prefix { !have.contains($0) }
            have.formUnion(line)
            out += line.reversed().map { CommittedBundle(commit: $0, bundle: bundles[$0]!) }
        }
        return out
    }

    /// The pool's ten best attempts, then the agent's own three latest; the latest 30
    /// notes; the latest version of every skill.
    private func view(for agent: String, top: ArraySlice<Attempt>) -> SharedView {
        var shown = Array(top)
        for own in attempts.filter({ $0.agent == agent }).suffix(3) where !shown.contains(own) { shown.append(own) }
        return SharedView(attempts: shown, notes: Array(notes.suffix(30)), skills: skills.values.sorted { $0.name < $1.name },
                          direction: settings.task.direction)
    }
}
