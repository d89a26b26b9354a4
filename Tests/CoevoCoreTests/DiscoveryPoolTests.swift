import CoevoCore
import Foundation
import Testing

/// The discovery pool's decisions, worked by hand: when grades go out, how a round is
/// read, the heartbeats (reflect, pivot with epsilon and cooldown, consolidate), the stop
/// conditions and what a step carries. Bad input tried: a failed step, a crashed and a
/// timed-out grade, a grade job that failed for good, a reply for a key nobody asked.
@Suite struct DiscoveryPoolTests {
    /// `agents` command agents on one task.
    static func settings(agents: Int = 3, graders: Int = 2, rounds: Int = 10) -> DiscoverySettings {
        var settings = DiscoverySettings()
        var group = DiscoverySettings.AgentGroup()
        group.runtime = .command
        group.command = ["agent"]
        group.count = agents
        settings.agents = [group]
        settings.task.gradeCommand = ["grade"]
        settings.task.graders = graders
        settings.task.description = "pack circles"
        settings.rounds = rounds
        settings.heartbeats.consolidateEvery = 0
        settings.heartbeats.pivotAfter = 0
        return settings
    }

    /// A submission of commit `commit` on top of the step's base.
    static func submitted(_ job: DiscoveryStepJob, commit: String) -> DiscoveryPool.Reply {
        .step(DiscoveryStepOutput(commit: commit, parent: job.chain.commit ?? "seed", message: "try \(commit)", bundle: Data(commit.utf8),
                                  notes: ["note from \(job.agent)"], skills: [], exit: "ended: it submitted", transcript: ""))
    }

    /// Plays rounds of steps that submit nothing, each step's output set by `fill` and each
    /// reply timed by `tick`, until the pool stops: per round, whether it had stopped.
    static func playSteps(_ pool: inout DiscoveryPool, tick: () -> Double? = { nil },
                          _ fill: (inout DiscoveryStepOutput) -> Void) -> [Bool] {
        var steps = Self.steps(pool.start())
        var stopped: [Bool] = []
        while !steps.isEmpty {
            var next: [DiscoveryPool.Request] = []
            for job in steps {
                var output = DiscoveryStepOutput(commit: nil, parent: nil, message: "", bundle: nil, notes: [], skills: [], exit: "", transcript: "")
                fill(&output)
                next += pool.complete(job.key, .step(output), at: tick())
            }
            steps = Self.steps(next)
            stopped.append(pool.isFinished)
        }
        return stopped
    }

    static func steps(_ requests: some Sequence<DiscoveryPool.Request>) -> [DiscoveryStepJob] {
        requests.compactMap { if case .step(let job) = $0 { job } else { nil } }
    }

    static func grades(_ requests: some Sequence<DiscoveryPool.Request>) -> [DiscoveryGradeJob] {
        requests.compactMap { if case .grade(let job) = $0 { job } else { nil } }
    }

    /// Plays one round: every step submits `c<round><agent>`, every grade scores as `score`
    /// says; steps and grades answered in `order` (agent indices). Returns the next
    /// requests, with what the pool said during the round.
    static func playRound(_ pool: inout DiscoveryPool, _ requests: some Sequence<DiscoveryPool.Request>, order: [Int],
                          score: (String) -> DiscoveryGradeOutput) -> EngineStep<DiscoveryPool.Request> {
        let steps = steps(requests)
        var said = EngineStep<DiscoveryPool.Request>()
        var next: [DiscoveryPool.Request] = []
        var gradesOut: [DiscoveryGradeJob] = []
        for index in order {
            let job = steps[index]
            let due = pool.complete(job.key, submitted(job, commit: "c\(pool.round)\(job.agent)"))
            said += EngineStep(events: due.events, memory: due.memory, progress: due.progress)
            gradesOut += grades(due)
            next += Self.steps(due).map { .step($0) }
        }
        while !gradesOut.isEmpty {
            let grade = gradesOut.removeFirst()
            let due = pool.complete(grade.key, .grade(score(grade.chain.commit!)))
            said += EngineStep(events: due.events, memory: due.memory, progress: due.progress)
            gradesOut += grades(due)
            next += Self.steps(due).map { .step($0) }
        }
        said.requests = next
        return said
    }

    @Test func gradesGoOutAsStepsReturnAtMostGradersAtOnce() {
        var pool = DiscoveryPool(settings: Self.settings(agents: 3, graders: 1), run: "r")
        let steps = Self.steps(pool.start())
        #expect(steps.map(\.key) == ["r1.step.a0", "r1.step.a1", "r1.step.a2"])
        // a1 returns first: its grade goes out at once, before the others are back.
        #expect(Self.grades(pool.complete("r1.step.a1", Self.submitted(steps[1], commit: "x1"))).map(\.key) == ["r1.grade.a1"])
        // One grader: a0's grade waits for a1's.
        #expect(pool.complete("r1.step.a0", Self.submitted(steps[0], commit: "x0")).isEmpty)
        #expect(Self.grades(pool.complete("r1.grade.a1", .grade(.init(score: 1, feedback: "")))).map(\.key) == ["r1.grade.a0"])
        #expect(pool.complete("r1.step.a2", Self.submitted(steps[2], commit: "x2")).isEmpty)
        #expect(Self.grades(pool.complete("r1.grade.a0", .grade(.init(score: 2, feedback: "")))).map(\.key) == ["r1.grade.a2"])
        // A key nobody asked for changes nothing.
        #expect(pool.complete("r9.grade.a7", .grade(.init(score: 9, feedback: ""))).isEmpty)
        // The last grade closes the round and opens the next.
        let next = pool.complete("r1.grade.a2", .grade(.init(score: 3, feedback: "")))
        #expect(Self.steps(next).map(\.key) == ["r2.step.a0", "r2.step.a1", "r2.step.a2"])
        #expect(pool.attempts.map(\.commit) == ["x0", "x1", "x2"])  // agent order, not arrival order
        #expect(pool.best?.commit == "x2" && pool.evaluations == 3)
    }

    /// The evolve runtime never lists or checks out other attempts: its steps carry the
    /// chain to their parent and none of the listed attempts' commits.
    @Test func evolveStepsCarryOnlyTheChainToTheirParent() {
        var settings = Self.settings()
        settings.agents[0].runtime = .evolve
        settings.agents[0].files = ["pack.py"]
        var pool = DiscoveryPool(settings: settings, run: "r")
        var requests = pool.start()
        for _ in 0..<3 {
            requests = Self.playRound(&pool, requests, order: [0, 1, 2]) { .init(score: Double($0.count) + Double($0.utf8.last!), feedback: "") }
        }
        let steps = Self.steps(requests)
        #expect(steps.count == 3 && steps.allSatisfy { $0.viewed.isEmpty && $0.evolve != nil })
        #expect(steps.allSatisfy { !$0.chain.bundles.isEmpty && !$0.shared.attempts.isEmpty })
        // Command agents get them (checked in detail below).
        var commands = DiscoveryPool(settings: Self.settings(), run: "r")
        requests = commands.start()
        for _ in 0..<2 { requests = Self.playRound(&commands, requests, order: [0, 1, 2]) { .init(score: Double($0.utf8.last!), feedback: "") } }
        #expect(Self.steps(requests).contains { !$0.viewed.isEmpty })
    }

    @Test func theCourseDoesNotDependOnArrivalOrder() {
        let scores: [String: Double] = ["c1a0": 1, "c1a1": 3, "c1a2": 2, "c2a0": 3.5, "c2a1": 3, "c2a2": 1]
        func play(_ order: [Int]) -> ([Attempt], [String]) {
            var pool = DiscoveryPool(settings: Self.settings(), run: "r")
            var requests = pool.start()
            for _ in 0..<2 {
                requests = Self.playRound(&pool, requests, order: order) { .init(score: scores[$0]!, feedback: "") }
            }
            // Every attempt an agent can list travels with its step, after its parent and
            // without what its own chain brings, for `coevo memory checkout`.
            for step in Self.steps(requests) {
                let viewed = step.viewed.map(\.commit)
                #expect(Set(viewed + step.chain.bundles.map { String(decoding: $0, as: UTF8.self) })
                        == Set(step.shared.attempts.map(\.commit) + ["c1a0", "c1a1", "c1a2"]), "\(step.key): \(viewed)")
                #expect(Set(viewed).isDisjoint(with: step.chain.bundles.map { String(decoding: $0, as: UTF8.self) }))
                #expect(step.viewed.allSatisfy { $0.bundle == Data($0.commit.utf8) })
            }
            // a1 (base c2a1) gets a0's line c1a0 then c2a0, in that order.
            let a1 = Self.steps(requests)[1].viewed.map(\.commit)
            #expect(a1.firstIndex(of: "c1a0")! < a1.firstIndex(of: "c2a0")!)
            return (pool.attempts, Self.steps(requests).map(\.prompt))
        }
        let (forward, forwardPrompts) = play([0, 1, 2])
        let (backward, backwardPrompts) = play([2, 0, 1])
        #expect(forward == backward)
        #expect(forwardPrompts == backwardPrompts)
        // Round 2: a0 improved on its own 1 and beat the pool's 3; a1 matched its own best.
        #expect(forward.map(\.status) == [.baseline, .baseline, .baseline, .improved, .baseline, .regressed])
        #expect(forward.map(\.poolBest) == [true, true, false, true, false, false])
    }

    @Test func pivotNeedsBestsBeyondEpsilonAndKeepsItsCooldown() {
        var settings = Self.settings(agents: 1)
        settings.heartbeats.pivotAfter = 2
        settings.heartbeats.pivotCooldown = 3
        settings.heartbeats.epsilon = 0.01
        var pool = DiscoveryPool(settings: settings, run: "r")
        var requests = pool.start()
        // 1.005 is within epsilon of 1.0: not a personal best.
        let scores = [1.0, 1.005, 0.9, 0.95, 0.96, 0.97]
        var pivotedBefore: [Bool] = []
        var heard: [ProtocolEvent] = []
        for score in scores {
            requests = Self.playRound(&pool, requests, order: [0]) { _ in .init(score: score, feedback: "") }
            heard += requests.events
            pivotedBefore.append(Self.steps(requests)[0].prompt.contains("# Pivot"))
        }
        #expect(pool.attempts.map(\.status) == [.baseline, .baseline, .regressed, .regressed, .regressed, .regressed])
        // Two without a best after evaluation 3: pivot. Evaluations 4 and 5 are in the cooldown; 6 pivots again.
        #expect(pivotedBefore == [false, false, true, false, false, true])
        #expect(heard.filter { $0.kind == .discoveryHeartbeat }.count == 2)
        // Every graded attempt is reflected on in the next prompt.
        #expect(Self.steps(requests)[0].prompt.contains("# Reflect"))
    }

    @Test func consolidationCountsEveryAttemptOfARound() {
        var settings = Self.settings(agents: 3)
        settings.heartbeats.consolidateEvery = 2
        var pool = DiscoveryPool(settings: settings, run: "r")
        var requests = pool.start()
        requests = Self.playRound(&pool, requests, order: [0, 1, 2]) { _ in .init(score: 1, feedback: "") }
        var heard = requests.events
        // 3 evaluations: one consolidation (at 2), asked of a0.
        #expect(Self.steps(requests).map { $0.prompt.contains("# Consolidate") } == [true, false, false])
        requests = Self.playRound(&pool, requests, order: [2, 1, 0]) { _ in .init(score: 1, feedback: "") }
        heard += requests.events
        // 6 evaluations: two more (at 4 and 6), to a1 and a2 in turn.
        #expect(Self.steps(requests).map { $0.prompt.contains("# Consolidate") } == [false, true, true])
        #expect(heard.filter { $0.kind == .discoveryHeartbeat }.count == 3)
    }

    @Test func failedStepsAndGradesAreRecordedNotHidden() {
        var pool = DiscoveryPool(settings: Self.settings(agents: 4, graders: 4), run: "r")
        var said = pool.start()
        let steps = Self.steps(said)
        var grades: [DiscoveryGradeJob] = []
        for (step, commit) in zip(steps, ["ok", "crash", "hang"]) {
            let due = pool.complete(step.key, Self.submitted(step, commit: commit))
            grades += Self.grades(due)
            said += due
        }
        // a3's step failed for good: no attempt, an event.
        let lost = pool.complete(steps[3].key, .failed("lease lost 3 times"))
        #expect(lost.isEmpty)
        said += lost
        #expect(grades.count == 3)
        said += pool.complete(grades[2].key, .grade(.init(score: nil, feedback: "grader killed after its timeout", failure: .timeout,
                                                          detail: "Traceback: hidden-7")))
        said += pool.complete(grades[1].key, .failed("grade job failed for good"))
        let next = pool.complete(grades[0].key, .grade(.init(score: 0.5, feedback: "valid")))
        said += next
        #expect(pool.attempts.map(\.status) == [.baseline, .crashed, .timeout])
        #expect(pool.attempts.map(\.score) == [0.5, nil, nil])
        #expect(pool.best?.commit == "ok")
        #expect(said.events.contains { $0.kind == .discoveryStepFailed && $0.detail.contains("r1.step.a3") })
        // What the grader printed for the owner is an event, never the agents' feedback.
        #expect(said.events.filter { $0.kind == .discoveryGradeDetail }.map(\.detail) == ["r1.grade.a2: Traceback: hidden-7"])
        #expect(!pool.attempts.contains { $0.feedback.contains("hidden-7") })
        #expect(Self.steps(next).count == 4)  // the pool goes on
        let memory = said.memory
        #expect(memory.filter { if case .attempt = $0 { true } else { false } }.count == 3)
        #expect(memory.filter { if case .note = $0 { true } else { false } }.count == 3)
    }

    @Test func stopsAtTheTargetOrTheEvaluationBudget() {
        var settings = Self.settings(agents: 2)
        settings.targetScore = 5
        var pool = DiscoveryPool(settings: settings, run: "r")
        var requests = pool.start()
        requests = Self.playRound(&pool, requests, order: [0, 1]) { _ in .init(score: 4, feedback: "") }
        #expect(!pool.isFinished)
        requests = Self.playRound(&pool, requests, order: [0, 1]) { $0 == "c2a1" ? .init(score: 5, feedback: "") : .init(score: 4, feedback: "") }
        #expect(pool.isFinished && requests.isEmpty && pool.stopReason!.contains("target"))

        settings.targetScore = nil
        settings.maxEvaluations = 3
        pool = DiscoveryPool(settings: settings, run: "r")
        requests = pool.start()
        requests = Self.playRound(&pool, requests, order: [0, 1]) { _ in .init(score: 1, feedback: "") }
        requests = Self.playRound(&pool, requests, order: [0, 1]) { _ in .init(score: 1, feedback: "") }
        #expect(pool.isFinished && pool.evaluations == 4 && pool.stopReason!.contains("max_evaluations"))

        // The agents' reported tokens: the round that reaches the budget is the last.
        settings.maxEvaluations = 0
        settings.maxTokens = 150
        pool = DiscoveryPool(settings: settings, run: "r")
        #expect(Self.playSteps(&pool) { $0.tokens = 40 } == [false, true] && pool.tokens == 160)
        #expect(pool.stopReason == "max_tokens (150) reached: 160 tokens")

        // Their cost: the same, in USD.
        settings.maxTokens = 0
        settings.maxUSD = 0.05
        pool = DiscoveryPool(settings: settings, run: "r")
        #expect(Self.playSteps(&pool) { $0.costUSD = 0.015 } == [false, true])
        #expect(pool.stopReason == "max_usd ($0.0500) reached: $0.0600")
        #expect(pool.summary.contains { $0.value.contains("$0.0600") })
    }

    /// The wall-time budget counts from the run's creation, in the replies' own times: the
    /// round whose last reply comes 100 s in is the last, and a pool fed the same replies
    /// at the same times (a replay after a crash) stops in the same round however late
    /// the replay itself runs.
    @Test func theWallTimeBudgetEndsTheRoundThatPassesIt() {
        var settings = Self.settings(agents: 2)
        settings.maxWallSeconds = 100
        func play(startedAt: Double?) -> DiscoveryPool {
            var pool = DiscoveryPool(settings: settings, run: "r", startedAt: startedAt)
            var clock = 1_000.0
            _ = Self.playSteps(&pool, tick: { clock += 20; return clock }) { _ in }
            return pool
        }
        // Two replies of 20 s a round: rounds end 40, 80, 120 s after 1,000.
        let created = play(startedAt: 1_000)
        #expect(created.round == 3 && created.stopReason == "max_wall_seconds (100) reached: 120 s since the run was created")
        // A run created 90 s earlier has 30 s left: the first round ends past it.
        let older = play(startedAt: 910)
        #expect(older.round == 1 && older.stopReason!.hasPrefix("max_wall_seconds"))
        // Unknown creation: counted from the first reply (1,020): rounds end at 20, 60, 100.
        #expect(play(startedAt: nil).round == 3)
    }

    @Test func aStepCarriesTheChainFromTheSeedToItsBase() {
        var pool = DiscoveryPool(settings: Self.settings(agents: 1), run: "r")
        var requests = pool.start()
        #expect(Self.steps(requests)[0].chain.commit == nil && Self.steps(requests)[0].chain.bundles.isEmpty)
        for _ in 0..<2 {
            requests = Self.playRound(&pool, requests, order: [0]) { _ in .init(score: 1, feedback: "") }
        }
        let chain = Self.steps(requests)[0].chain
        #expect(chain.commit == "c2a0")
        #expect(chain.bundles == [Data("c1a0".utf8), Data("c2a0".utf8)])  // oldest first
        #expect(Self.steps(requests)[0].shared.notes.map(\.body) == ["note from a0", "note from a0"])
    }

    @Test func parentSelectionFavoursGoodAttemptsWithFewChildren() {
        func attempt(_ commit: String, _ score: Double) -> Attempt {
            Attempt(key: commit, round: 1, agent: "a0", commit: commit, parent: nil, score: score, status: .baseline, poolBest: false,
                    feedback: "", message: "")
        }
        let attempts = [attempt("low", 1), attempt("best", 3), attempt("mid", 2)]
        func counts(children: [String: Int], uniform: Bool = false) -> [String: Int] {
            var rng = SeededGenerator(seed: 1)
            var counts: [String: Int] = [:]
            for _ in 0..<11_000 {
                counts[ParentSelection.choose(from: Attempt.ranked(attempts, .maximize), children: children, uniform: uniform, using: &rng)!, default: 0] += 1
            }
            return counts
        }
        // Weights 1, 1/2, 1/3 by rank: 6000, 3000, 2000 of 11000.
        let plain = counts(children: [:])
        #expect(abs(plain["best"]! - 6000) < 250 && abs(plain["mid"]! - 3000) < 250 && abs(plain["low"]! - 2000) < 250)
        // Five children divide the best's weight by 6: 1/6 against 1/2 and 1/3.
        let mined = counts(children: ["best": 5])
        #expect(mined["best"]! < mined["low"]! && mined["low"]! < mined["mid"]!)
        let uniform = counts(children: [:], uniform: true)
        #expect(uniform.values.allSatisfy { abs($0 - 3667) < 250 })
        var rng = SeededGenerator(seed: 1)
        #expect(ParentSelection.choose(from: [], children: [:], uniform: false, using: &rng) == nil)
        // Minimising reverses the ranks.
        var down = SeededGenerator(seed: 1)
        var lowFirst = 0
        for _ in 0..<1000 where ParentSelection.choose(from: Attempt.ranked(attempts, .minimize), children: [:], uniform: false, using: &down) == "low" {
            lowFirst += 1
        }
        #expect(lowFirst > 450)
    }

    @Test func mutationMovesOnlyDecimalsInsideTheEvolveBlock() {
        let text = """
            N = 26
            OUTSIDE = 0.5
            # EVOLVE-BLOCK-START
            A = (0.1400, 0.3000)
            B = [range(3), 0.9]
            # EVOLVE-BLOCK-END
            TAIL = 0.25
            """
        var first = SeededGenerator(seed: 9), second = SeededGenerator(seed: 9)
        let mutated = NumericMutation.mutate(text, scale: 0.01, using: &first)!
        #expect(mutated == NumericMutation.mutate(text, scale: 0.01, using: &second))  // a function of the seed
        #expect(mutated != text)
        let lines = mutated.split(separator: "\n", omittingEmptySubsequences: false)
        let original = text.split(separator: "\n", omittingEmptySubsequences: false)
        #expect(lines[0] == original[0] && lines[1] == original[1] && lines[6] == original[6])
        #expect(lines[4].hasPrefix("B = [range(3), "))
        var rng = SeededGenerator(seed: 1)
        #expect(NumericMutation.mutate("x = 1\ny = 2\n", scale: 0.1, using: &rng) == nil)
    }

    /// Bad input: agents whose steps crash, round after round.
    @Test func theCrashBreakerPausesAnAgentForRoundsAndLogsItsFaults() {
        var settings = Self.settings(agents: 2)
        settings.health.crashLimit = 2
        settings.health.pauseRounds = 1
        var pool = DiscoveryPool(settings: settings, run: "r")
        var requests = pool.start().requests
        var heard: [ProtocolEvent] = []
        func crash(_ job: DiscoveryStepJob) -> DiscoveryPool.Reply {
            var output = DiscoveryStepOutput(commit: nil, parent: nil, message: "", bundle: nil, notes: [], skills: [], exit: "exit code 3",
                                             transcript: "Traceback: boom")
            output.crashed = true
            return .step(output)
        }
        var roundsOfA0: [Int] = []
        for _ in 0..<8 {
            var next: [DiscoveryPool.Request] = []
            for job in Self.steps(requests) {
                if job.agent == "a0" { roundsOfA0.append(pool.round) }
                let due = job.agent == "a0" ? pool.complete(job.key, crash(job)) : pool.complete(job.key, Self.submitted(job, commit: "c\(pool.round)"))
                next += due
                heard += due.events
                for grade in Self.grades(due) {
                    let graded = pool.complete(grade.key, .grade(.init(score: 1, feedback: "")))
                    next += graded
                    heard += graded.events
                }
            }
            requests = next.filter { if case .step = $0 { true } else { false } }
        }
        // Two crashes in a row (rounds 1, 2) pause a0 through round 3; it is back in round 4,
        // crashes in rounds 4 and 5, and the second pause is twice as long (rounds 6 and 7).
        #expect(roundsOfA0 == [1, 2, 4, 5, 8])
        let faults = heard.filter { $0.kind == .discoveryAgentFault }.map(\.detail)
        #expect(faults.contains { $0.hasPrefix("r1.step.a0: exit code 3") && $0.contains("Traceback: boom") })
        #expect(faults.contains("a0 paused for 1 round(s) after 2 unclean steps in a row"))
        #expect(faults.contains("a0 paused in round 3 (through round 3)"))

        // Every agent paused: the round passes with no step rather than hanging.
        settings = Self.settings(agents: 1, rounds: 5)
        settings.health.crashLimit = 1
        settings.health.pauseRounds = 2
        pool = DiscoveryPool(settings: settings, run: "r")
        let first = Self.steps(pool.start())[0]
        let after = Self.steps(pool.complete(first.key, .failed("lease lost 3 times")))
        #expect(after.map(\.key) == ["r4.step.a0"])
    }

    @Test func theNextStepCarriesTheSessionTheLastOneReported() {
        var pool = DiscoveryPool(settings: Self.settings(agents: 1, rounds: 3), run: "r")
        let first = Self.steps(pool.start())[0]
        #expect(first.session == nil)
        var output = DiscoveryStepOutput(commit: nil, parent: nil, message: "", bundle: nil, notes: [], skills: [], exit: "exit code 0", transcript: "")
        output.session = "S1"
        let second = Self.steps(pool.complete(first.key, .step(output)))[0]
        #expect(second.session == "S1")
        // A step that reports no session (it crashed before saying) keeps the last one.
        output.session = nil
        #expect(Self.steps(pool.complete(second.key, .step(output)))[0].session == "S1")
    }
}
