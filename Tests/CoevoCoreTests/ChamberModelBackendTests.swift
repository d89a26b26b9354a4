@testable import CoevoCore
import Testing

/// The chamber on a real model: its built-in task bank, the turn prompts and how replies
/// are read, and the engine fed scripted replies. Bad input tried: replies with no
/// ANSWER line, markdown, a critique that hedges, empty lessons.
@Suite struct ChamberModelBackendTests {
    @Test func theTaskBankAnswersAreRight() throws {
        let days = ["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"]
        for id in 1...200 {
            for niche in 0..<5 {
                let task = ChamberTaskBank.task(seed: 9, id: id, niche: niche)
                #expect(task == ChamberTaskBank.task(seed: 9, id: id, niche: niche), "the same seed asks the same question")
                let q = task.question
                switch niche {
                case 0:
                    let expression = q.dropFirst("What is ".count).dropLast().replacingOccurrences(of: "times", with: "*")
                    #expect(ExactArithmetic.evaluate(expression)?.description == task.correctAnswer, "\(q)")
                case 1:
                    let n = Int(q.split(separator: " ").first { Int($0) != nil }!)!
                    let factor = q.contains("minutes are in") || q.contains("seconds") ? 60 : q.contains("centimeters") ? 100 : 1000
                    #expect(task.correctAnswer == "\(n * factor)", "\(q)")
                case 2:
                    if q.hasPrefix("Write the word") {
                        let word = q.split(separator: "'")[1]
                        #expect(task.correctAnswer == String(word.reversed()))
                    } else {
                        #expect(task.correctAnswer == String(q.split(separator: "'")[1].split(separator: " ").map { $0.first! }))
                    }
                case 3:
                    let words = q.split(separator: " ")
                    let offset = Int(words[6])!
                    let start = days.firstIndex(of: String(words.last!.dropLast()).lowercased())!
                    #expect(task.correctAnswer == days[(start + offset) % 7], "\(q)")
                default:
                    #expect(task.correctAnswer == (q.hasPrefix("All") ? "yes" : "no"), "\(q)")
                }
            }
        }
    }

    @Test func repliesAreReadLeniently() {
        let answer = TurnRequest(worldSeed: 1, task: 1, round: 0, member: 0, agent: 1, action: .answer, niche: 3,
                                 difficulty: 0, correctAnswer: "thursday", skill: 0, insightLessons: [],
                                 question: "What day of the week is 3 days after Monday?", insights: ["count on your fingers"])
        let call = ChamberTurnPrompt.call(for: answer)
        #expect(call.prompt.contains("3 days after Monday") && call.system.contains("- count on your fingers"))
        #expect(ChamberTurnPrompt.result(for: answer, reply: "Monday + 3...\n**ANSWER:** Thursday.", tokens: 9).text == "thursday")
        #expect(ChamberTurnPrompt.result(for: answer, reply: "Hmm.\nIt is Thursday", tokens: 9).text == "thursday", "no ANSWER line: the last line")
        #expect(ChamberTurnPrompt.result(for: answer, reply: "ANSWER: Friday, not Thursday", tokens: 9).text == "friday not thursday",
                "a hedge is not the answer")
        #expect(ChamberTurnPrompt.result(for: answer, reply: "ANSWER: It's Thursday.", tokens: 9).text == "thursday")
        #expect(ChamberTurnPrompt.result(for: answer, reply: "The final answer is: thursday", tokens: 9).text == "thursday")
        #expect(ChamberTurnPrompt.result(for: answer, reply: "ANSWER: Friday", tokens: 9).text == "friday")
        var numeric = answer
        numeric.correctAnswer = "700"
        #expect(ChamberTurnPrompt.result(for: numeric, reply: "The answer is 21.", tokens: 9).text == "21")
        #expect(ChamberTurnPrompt.result(for: numeric, reply: "7 m = 700 cm\nANSWER: 700 centimeters", tokens: 9).text == "700")
        var critique = answer
        critique.action = .critique
        #expect(ChamberTurnPrompt.result(for: critique, reply: "Wrong.", tokens: 1).text == "wrong")
        #expect(ChamberTurnPrompt.result(for: critique, reply: "I think it is right", tokens: 1).text == "ok")
        #expect(ChamberTurnPrompt.result(for: critique, reply: "That is not correct.", tokens: 1).text == "wrong")
        #expect(ChamberTurnPrompt.result(for: critique, reply: "It is not wrong", tokens: 1).text == "ok")
        var distil = answer
        distil.action = .distil
        #expect(ChamberTurnPrompt.result(for: distil, reply: "1. Count forward.\n\n- Wrap after Sunday.\n  \n", tokens: 5).text
                == "Count forward.\nWrap after Sunday.")
    }

    /// The echo adversary: a reply that repeats the question (or the critique's prompt)
    /// scores nothing on any task of the bank. On the lenient reading before, "Answer yes
    /// or no" tasks passed whenever the echo held the expected word.
    @Test func anEchoOfTheQuestionIsNeverRight() {
        var passed: [String] = []
        for id in 1...300 {
            for niche in 0..<ChamberTaskBank.niches.count {
                let task = ChamberTaskBank.task(seed: 3, id: id, niche: niche)
                let request = TurnRequest(worldSeed: 3, task: id, round: 0, member: 0, agent: 1, action: .answer, niche: niche,
                                          difficulty: 0, correctAnswer: task.correctAnswer, skill: 0, insightLessons: [], question: task.question)
                let prompt = ChamberTurnPrompt.call(for: request).prompt
                for echo in [task.question, "ANSWER: \(task.question)", prompt] {
                    if ChamberTurnPrompt.result(for: request, reply: echo, tokens: 1).text == task.correctAnswer { passed.append(echo) }
                }
            }
        }
        #expect(passed.isEmpty, "\(passed.count) echoes passed, e.g. \(passed.prefix(2))")
        var critique = TurnRequest(worldSeed: 3, task: 1, round: 0, member: 0, agent: 1, action: .critique, niche: 0, difficulty: 0,
                                   correctAnswer: "5", skill: 0, insightLessons: [], othersAnswers: ["4"], question: "What is 2 + 3?")
        #expect(ChamberTurnPrompt.result(for: critique, reply: ChamberTurnPrompt.call(for: critique).prompt, tokens: 1).text == "ok",
                "an echo of the critique's prompt ('right or wrong') is no verdict")
        critique.othersAnswers = ["5"]
        #expect(ChamberTurnPrompt.result(for: critique, reply: "Is that answer right or wrong?", tokens: 1).text == "ok")
    }

    /// The chamber on the model backend, voting teams.
    static func model(niches: Int, agents: Int, steps: Int, tasks: Int, team: Int) -> ChamberSettings {
        var settings = ChamberSettings()
        settings.backend = .model
        (settings.niches, settings.agents, settings.steps, settings.tasksPerStep) = (niches, agents, steps, tasks)
        settings.evolution.teamSize = team
        settings.evolution.structures = [.vote]
        return settings
    }

    @Test func theEngineLearnsFromScriptedModelReplies() {
        let settings = Self.model(niches: 2, agents: 4, steps: 4, tasks: 5, team: 2)
        var engine = ChamberEngine(settings: settings)
        var lessonsSeen = false
        // The turn that closes a step brings the next step's first turns.
        var queue = engine.start().requests
        var cursor = 0
        while cursor < queue.count {
            let request = queue[cursor]
            cursor += 1
            #expect(!request.question.isEmpty)
            lessonsSeen = lessonsSeen || !request.insights.isEmpty
            // Agent 1 always answers right, the others never do.
            let reply: String = switch request.action {
            case .answer, .revise: request.agent == 1 ? "ANSWER: \(request.correctAnswer)" : "ANSWER: no idea"
            case .distil: "Read the question twice.\nCheck the units."
            default: ""
            }
            queue += engine.complete(request, ChamberTurnPrompt.result(for: request, reply: reply, tokens: 3))
        }
        #expect(engine.isFinished && engine.reports.count == settings.steps)
        // Lessons are the distiller's lines, routed and then shown in later prompts.
        #expect(engine.reports.reduce(0) { $0 + $1.insightsRouted } > 0)
        #expect(lessonsSeen)
        #expect(engine.population.agents.flatMap { $0.insights.values.joined() }.allSatisfy {
            ["Read the question twice.", "Check the units."].contains($0.text) && $0.simulatedLesson == nil
        })
        let a1 = engine.population.index(of: AgentID(1))!
        #expect((0..<5).contains { engine.population.stats(a1, $0).successes > 0 })
    }

    /// A fork's or seed's specialty reaches the model: its persona names the niche (by the
    /// task bank's name) and every call it makes after its birth carries it. On the code
    /// before, every call sent the one fixed system prompt.
    @Test func aNewAgentsSpecialtyIsInEveryCallItMakes() {
        var settings = Self.model(niches: 2, agents: 4, steps: 8, tasks: 6, team: 2)
        settings.evolution.lifecycle.everyTasks = 1
        settings.evolution.lifecycle.minAttempts = 2
        settings.evolution.lifecycle.seedAfterTasks = 4
        settings.evolution.lifecycle.maxPopulation = 12
        var engine = ChamberEngine(settings: settings)
        var queue = engine.start().requests
        var cursor = 0
        var calls: [(agent: Int, system: String)] = []
        while cursor < queue.count {
            let request = queue[cursor]
            cursor += 1
            calls.append((request.agent, ChamberTurnPrompt.call(for: request).system))
            // Agent 1 answers right on niche 0 only; nobody is right on niche 1, so it is seeded.
            let right = request.agent == 1 && request.niche == 0
            let reply = request.action == .answer || request.action == .revise ? "ANSWER: \(right ? request.correctAnswer : "no idea")" : "Check twice."
            queue += engine.complete(request, ChamberTurnPrompt.result(for: request, reply: reply, tokens: 3))
        }
        let born = engine.population.agents.filter { $0.specialty != nil }
        #expect(!born.isEmpty, "the lifecycle made a fork or a seed")
        for agent in born {
            let name = ChamberTaskBank.niches[agent.specialty!]
            #expect(agent.systemPrompt == "You are a careful problem solver. You specialise in \(name).", "\(agent.systemPrompt)")
            let made = calls.filter { $0.agent == agent.id.rawValue }
            #expect(made.allSatisfy { $0.system.hasPrefix(agent.systemPrompt + " Answer briefly.") }, "\(agent.id)")
        }
        #expect(born.contains { agent in calls.contains { $0.agent == agent.id.rawValue } }, "a new agent was called after its birth")
        #expect(calls.filter { $0.agent <= 4 }.allSatisfy { $0.system.hasPrefix("You are a careful problem solver. Answer briefly.") },
                "the first agents keep the chamber's persona")
    }

    /// CODREAM by hand on one failed task: every member reflects first (nothing is
    /// distilled before the last reflection is in), then the strongest member distils,
    /// seeing the question, each member's answer and verdict, the outcome and the
    /// reflections; an empty or wordless reflection is left out.
    @Test func theDistillerSeesAnswersOutcomeAndReflections() throws {
        var settings = Self.model(niches: 1, agents: 3, steps: 1, tasks: 1, team: 3)
        settings.evolution.heartbeats = HeartbeatSettings()
        settings.evolution.heartbeats.reflectEvery = 0
        settings.evolution.heartbeats.consolidateEvery = 0
        var engine = ChamberEngine(settings: settings)
        let answers = engine.start()
        #expect(answers.count == 3 && answers.allSatisfy { $0.action == .answer })
        let correct = answers[0].correctAnswer
        var reflections = EngineStep<TurnRequest>()
        for request in answers {
            // Agent 1 is right, agents 2 and 3 give the same wrong answer: the vote fails.
            let reply = request.agent == 1 ? "ANSWER: \(correct)" : "ANSWER: 999999"
            reflections += engine.complete(request, ChamberTurnPrompt.result(for: request, reply: reply, tokens: 3))
        }
        #expect(reflections.map(\.action) == [.reflect, .reflect, .reflect])
        let outcome = "the team answered 999999, which is wrong; the right answer is \(correct)"
        #expect(reflections.allSatisfy { ChamberTurnPrompt.call(for: $0).prompt.contains("Outcome: \(outcome)") })
        let notes = ["REFLECTION: I trusted my first guess.", "**Reflection:** I should have checked.", "..."]
        var distil = EngineStep<TurnRequest>()
        for (request, reply) in zip(reflections, notes) {
            #expect(distil.isEmpty, "the distiller waits for every reflection")
            distil += engine.complete(request, ChamberTurnPrompt.result(for: request, reply: reply, tokens: 3))
        }
        let request = try #require(distil.first)
        #expect(distil.count == 1 && request.action == .distil && request.count == 3)
        let prompt = ChamberTurnPrompt.call(for: request).prompt
        #expect(prompt.contains("Outcome: \(outcome)"))
        #expect(prompt.contains("Your team's answers:\n- \(correct) (right)\n- 999999 (wrong)\n- 999999 (wrong)"))
        #expect(prompt.contains("Their reflections:\n- I trusted my first guess.\n- I should have checked.\nWrite at most 3"))
        #expect([answers, reflections, distil].flatMap(\.events).filter { $0.kind == .chamber("reflection") }.count == 2)
        #expect(engine.complete(request, ChamberTurnPrompt.result(for: request, reply: "Check the last digit.", tokens: 3)).isEmpty)
        #expect(engine.isFinished)
        #expect(engine.archive[0]?.map(\.text) == ["Check the last digit."])
    }

    /// Heartbeats are turns on the model: each agent that reflects writes a note on its
    /// latest attempt (the question, its answer, right or wrong), which it keeps; the
    /// consolidation merges the lessons held on the busiest niche for everyone; their
    /// tokens are charged to the step. Bad input tried: a consolidation reply with no
    /// words, which is logged and changes nothing.
    @Test func heartbeatsAreModelTurnsWhoseLessonsAreKept() throws {
        var settings = Self.model(niches: 1, agents: 3, steps: 2, tasks: 1, team: 3)
        settings.evolution.codream.maxDistilled = 0
        settings.evolution.heartbeats.reflectEvery = 1
        settings.evolution.heartbeats.consolidateEvery = 6
        settings.evolution.heartbeats.pivotAfter = 0
        var engine = ChamberEngine(settings: settings)
        var answers = engine.start()
        let correct = answers[0].correctAnswer
        var notes = EngineStep<TurnRequest>()
        for request in answers {
            notes += engine.complete(request, ChamberTurnPrompt.result(for: request, reply: request.agent == 1 ? "ANSWER: \(correct)" : "ANSWER: 7", tokens: 10))
        }
        #expect(notes.map(\.action) == [.note, .note, .note] && notes.map(\.agent) == [1, 2, 3])
        let prompt = ChamberTurnPrompt.call(for: notes[1]).prompt
        #expect(prompt.contains("Your latest attempt was on this question. Question: \(answers[0].question)\n") && prompt.contains("You answered 7, which was wrong."))
        #expect(ChamberTurnPrompt.call(for: notes[0]).prompt.contains("which was right"))
        var closing = EngineStep<TurnRequest>()
        for request in notes.reversed() {
            closing += engine.complete(request, ChamberTurnPrompt.result(for: request, reply: "- lesson of a\(request.agent)", tokens: 20))
        }
        let first = try #require(engine.reports.last)
        #expect(first.agentTurns == 6 && first.tokens == 3 * 10 + 3 * 20, "the notes are turns, charged")
        for agent in engine.population.agents {
            #expect(agent.insights[0]?.map(\.text) == ["lesson of \(agent.id)"], "a note is its writer's own")
        }
        #expect([answers, notes, closing].flatMap(\.events).filter { $0.kind == .chamber("reflect") }.count == 3)
        // Step 2 began with step 1's last turn: each agent's prompt carries its note; the
        // sixth evaluation fires the consolidation, by the strongest agent (a1) over the
        // three notes.
        answers = closing
        #expect(answers.allSatisfy { $0.insights == ["lesson of a\($0.agent)"] })
        var heartbeats = EngineStep<TurnRequest>()
        for request in answers {
            heartbeats += engine.complete(request, ChamberTurnPrompt.result(for: request, reply: "ANSWER: 7", tokens: 10))
        }
        let consolidate = try #require(heartbeats.first { $0.action == .consolidate })
        #expect(heartbeats.count == 4 && consolidate.agent == 1 && consolidate.count == 3)
        #expect(Set(consolidate.othersAnswers) == ["lesson of a1", "lesson of a2", "lesson of a3"])
        var last = EngineStep<TurnRequest>()
        for request in heartbeats {
            let reply = request.action == .consolidate ? "Read twice.\nCheck the sign." : "..."
            last += engine.complete(request, ChamberTurnPrompt.result(for: request, reply: reply, tokens: 5))
        }
        #expect(engine.isFinished)
        for agent in engine.population.agents {
            #expect(agent.insights[0]?.map(\.text) == ["lesson of \(agent.id)", "Read twice.", "Check the sign."])
        }
        // The notes of step 2 had no words: each is a logged failure, nothing kept.
        #expect([heartbeats, last].flatMap(\.events).filter { $0.kind == .chamber("heartbeat_failure") }.count == 3)
    }
}


/// What the two backends decide, side by side. Bad input tried: a blank line, a line of
/// digits only, a line naming no lesson, a niche past the task bank.
@Suite struct ChamberBackendTests {
    @Test func eachBackendReadsReflectionsShowsInsightsAndNamesNichesItsOwnWay() {
        let simulator = ChamberSettings.Backend.simulator.behaviour, model = ChamberSettings.Backend.model.behaviour
        #expect(simulator.reading("niche 2 lesson 7") == .insight(simulatedLesson: 7))
        #expect(simulator.reading("check the units") == .unparsed)
        #expect(model.reading("check the units") == .insight(simulatedLesson: nil))
        #expect(model.reading("  42 ") == .skipped && model.reading("") == .skipped)

        let held = [Insight(id: 1, text: "carry the one", niche: 0, producer: AgentID(1), event: 0, simulatedLesson: 3)]
        #expect(simulator.shownInsights(held).isEmpty, "simulated agents read lessons by number")
        #expect(model.shownInsights(held) == ["carry the one"])

        #expect(simulator.nicheName(1) == "niche 1")
        #expect(model.nicheName(0) == ChamberTaskBank.niches[0] && model.nicheName(ChamberTaskBank.niches.count) == "niche \(ChamberTaskBank.niches.count)")

        let world = SimulatedWorld(seed: 5, nicheCount: 4, parameters: .init())
        #expect(simulator.task(id: 3, niche: 1, seed: 5, world: world) == world.task(id: 3, niche: 1))
        #expect(model.task(id: 3, niche: 1, seed: 5, world: world) == ChamberTaskBank.task(seed: 5, id: 3, niche: 1))
    }
}
