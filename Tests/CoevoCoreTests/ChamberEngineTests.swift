import CoevoCore
import Testing

@Suite struct ChamberEngineTests {
    func settings(seed: UInt64 = 7, routing: RoutingMode = .asymmetric) -> ChamberSettings {
        var s = ChamberSettings()
        s.seed = seed
        s.steps = 12
        s.tasksPerStep = 24
        s.evolution.codream.routing = routing
        return s
    }

    func run(_ s: ChamberSettings) -> ChamberEngine { runSaying(s).engine }

    /// The engine after its run, and every event line it said.
    func runSaying(_ s: ChamberSettings) -> (engine: ChamberEngine, events: [ProtocolEvent]) {
        var engine = ChamberEngine(settings: s)
        var events: [ProtocolEvent] = []
        while !engine.isFinished { events += engine.runStepInProcess().events }
        return (engine, events)
    }

    @Test func theSameSeedReplaysTheSameEvolution() {
        let a = runSaying(settings())
        let b = runSaying(settings())
        #expect(a.events == b.events)
        #expect(a.engine.reports == b.engine.reports)
        #expect(a.engine.reports.count == 12)
        let c = run(settings(seed: 8))
        #expect(c.reports != a.engine.reports)
    }

    @Test func resultsInAnyOrderGiveTheSameStep() {
        var inOrder = ChamberEngine(settings: settings())
        var shuffled = ChamberEngine(settings: settings())
        var rng = SeededGenerator(seed: 99)
        let first = shuffled.start()
        var pending = first.requests
        var heard = first.events
        var inOrderHeard: [ProtocolEvent] = []
        for _ in 0..<4 {
            let expected = inOrder.runStepInProcess()
            inOrderHeard += expected.events
            // The turn that closes a step brings the next step's first turns.
            let closed = shuffled.reports.count
            while shuffled.reports.count == closed {
                let i = Int.random(in: 0..<pending.count, using: &rng)
                let request = pending.remove(at: i)
                let next = shuffled.complete(request, SimulatedWorld.execute(request, parameters: shuffled.settings.simulator))
                pending += next.requests
                heard += next.events
            }
            #expect(shuffled.reports.last == expected.report)
        }
        #expect(inOrderHeard == heard)
    }

    @Test func routingModesChangeWhoReceivesButNotTheWorld() {
        let asym = run(settings(routing: .asymmetric))
        let none = run(settings(routing: .none))
        let sym = run(settings(routing: .symmetric))
        #expect(none.reports.allSatisfy { $0.insightsRouted == 0 })
        #expect(asym.reports.reduce(0) { $0 + $1.insightsRouted } > 0)
        #expect(sym.reports.reduce(0) { $0 + $1.insightsRouted } > asym.reports.reduce(0) { $0 + $1.insightsRouted })
        // Step 1 is identical: routing only acts after the first CODREAM.
        #expect(asym.reports[0].successes == none.reports[0].successes)
    }

    @Test func everyStepIsAccountedFor() {
        let (engine, events) = runSaying(settings())
        for report in engine.reports {
            #expect(report.tasks == 24)
            #expect(report.nicheAccuracy.compactMap { $0 }.allSatisfy { (0...1).contains($0) })
            #expect(report.agentTurns >= 24)
            #expect(report.population >= engine.settings.evolution.lifecycle.minPopulation)
        }
        #expect(events.contains { $0.kind == .chamber("codream") })
    }

    /// Stable specialists, recomputed from the reports' leaders: an agent counts once it
    /// has led the same niche for `stableSteps` steps in a row.
    @Test func stableSpecialistsAreLeadersThatHeldTheirNiche() {
        var settings = self.settings()
        settings.steps = 30
        var engine = ChamberEngine(settings: settings)
        while !engine.isFinished { engine.runStepInProcess() }
        var streak: [Int: (agent: Int, steps: Int)] = [:]
        for report in engine.reports {
            var stable = Set<Int>()
            for (niche, leader) in report.leaders.enumerated() {
                guard let leader else { streak[niche] = nil; continue }
                let steps = streak[niche].map { $0.agent == leader ? $0.steps + 1 : 1 } ?? 1
                streak[niche] = (leader, steps)
                if steps >= ChamberEngine.stableSteps { stable.insert(leader) }
            }
            #expect(report.stableSpecialists == stable.count, "step \(report.step)")
            #expect(report.specialists == Set(report.leaders.compactMap { $0 }).count)
        }
        #expect(engine.reports.prefix(ChamberEngine.stableSteps - 1).allSatisfy { $0.stableSpecialists == 0 })
        #expect(engine.reports.last!.stableSpecialists > 0, "some niche keeps its leader over 30 steps")
    }
}
