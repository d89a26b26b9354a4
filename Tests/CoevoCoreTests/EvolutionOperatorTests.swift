import CoevoCore
import Testing

/// Operators on small populations whose every number was set by hand, so who is anchor,
/// who receives an insight and who forks can be read off the setup.
@Suite struct EvolutionOperatorTests {
    /// Agents with given competences on 2 niches and `attempts` attempts on each.
    func population(_ competences: [[Double]], attempts: UInt32 = 10) -> Population {
        var p = Population(nicheCount: competences[0].count)
        for row in competences {
            p.add(role: "solver", pool: "p", lineage: .init(parents: [], operator: .initial, reason: "", step: 0),
                  systemPrompt: "", stats: row.map { c in
                      NicheStats(competence: c, successes: UInt32((Double(attempts) * c).rounded()),
                                 failures: attempts - UInt32((Double(attempts) * c).rounded()))
                  })
        }
        return p
    }

    func insight(_ id: Int, _ text: String, niche: Int = 0, utility: Double = 0.5) -> Insight {
        Insight(id: id, text: text, niche: niche, producer: AgentID(99), event: 1, utility: utility)
    }

    @Test func anchorIsStrongestComplementMostDifferentScoutUnderSampled() {
        // niche 0 competences: a1 .9, a2 .8, a3 .8, a4 .2, a5 .1 ; a2's profile differs from a1's most.
        var p = population([[0.9, 0.9], [0.8, 0.1], [0.8, 0.8], [0.2, 0.5], [0.1, 0.5]])
        // a5 has never tried niche 0: the only agent below the mean attempt count.
        p = { var q = Population(nicheCount: 2)
            for i in 0..<5 {
                let row = p.statsRow(i)
                q.add(role: "s", pool: "p", lineage: .init(parents: [], operator: .initial, reason: "", step: 0), systemPrompt: "",
                      stats: i == 4 ? [NicheStats(competence: 0.1), row[1]] : row)
            }
            return q }()
        let snapshot = NicheSnapshot(population: p, niche: 0)
        #expect(snapshot.strongest.prefix(3) == [0, 1, 2])
        #expect(snapshot.weakest.first == 4)
        #expect(snapshot.underSampled == [4])
        #expect(snapshot.medianCompetence == 0.8)
        var rng = SeededGenerator(seed: 1)
        let team = TeamAssembler.assemble(size: 3, snapshot: snapshot, population: p, center: p.competenceMeans(),
                                          scoutCandidates: 4, using: &rng)
        #expect(team.anchor == 0)
        #expect(team.complement == 1)  // centred, a2 points away from a1; a3 along it
        #expect(team.scouts == [4])
        #expect(team.members == [0, 1, 4])
    }

    @Test func asymmetricRoutingReachesTheWeakestBelowMedianOnlyAndSkipsDuplicates() {
        // niche 0: a1 .9 (producer), a2 .7, a3 .5, a4 .3, a5 .2, a6 .1: median 0.4
        var p = population([[0.9], [0.7], [0.5], [0.3], [0.2], [0.1]])
        // a5 already holds the same lesson.
        Codream.deliver([insight(1, "check units first")], to: 4, niche: 0, limit: 8, population: &p)
        let snapshot = NicheSnapshot(population: p, niche: 0)
        #expect(abs(snapshot.medianCompetence - 0.4) < 1e-12)  // mean of the two middles of six
        var settings = CodreamSettings()
        settings.maxRecipients = 4
        let new = [insight(10, "check units first")]
        let routes = Codream.route(new, producer: 0, snapshot: snapshot, population: p, settings: settings)
        // Below the median: a4 (0.3), a5 (0.2, holds it already) and a6 (0.1). Weakest first.
        #expect(routes.map(\.recipient) == [5, 3])

        let rich = [insight(11, "draw a diagram"), insight(12, "check units first")]
        let both = Codream.route(rich, producer: 0, snapshot: snapshot, population: p, settings: settings)
        #expect(both.map(\.recipient) == [5, 4, 3])
        #expect(both[1].insights.map(\.id) == [11])  // the duplicate is not sent again

        settings.maxRecipients = 1
        #expect(Codream.route(rich, producer: 0, snapshot: snapshot, population: p, settings: settings).map(\.recipient) == [5])
        settings.routing = .none
        #expect(Codream.route(rich, producer: 0, snapshot: snapshot, population: p, settings: settings).isEmpty)
        settings.routing = .symmetric
        #expect(Codream.route(rich, producer: 0, snapshot: snapshot, population: p, settings: settings).map(\.recipient) == [1, 2, 3, 4, 5])
        // The producer never receives its own insight, whatever its rank.
        let weakProducer = Codream.route(rich, producer: 5, snapshot: snapshot, population: p,
                                         settings: { var s = CodreamSettings(); s.maxRecipients = 4; return s }())
        #expect(!weakProducer.map(\.recipient).contains(5))
    }

    @Test func matchedControlsDeliverToAsManyAgentsAsAsymmetricButPickThemOtherwise() {
        // niche 0: a1 .9 (producer), a2 .7, a3 .5, a4 .3, a5 .2, a6 .1: median 0.4;
        // asymmetric with maxRecipients 2 picks a6 and a5 (the two weakest below it).
        let p = population([[0.9], [0.7], [0.5], [0.3], [0.2], [0.1]])
        let snapshot = NicheSnapshot(population: p, niche: 0)
        var settings = CodreamSettings()
        settings.maxRecipients = 2
        let lesson = [insight(20, "estimate before computing")]
        #expect(Codream.route(lesson, producer: 0, snapshot: snapshot, population: p, settings: settings).map(\.recipient) == [5, 4])
        settings.routing = .topK
        #expect(Codream.route(lesson, producer: 0, snapshot: snapshot, population: p, settings: settings).map(\.recipient) == [1, 2],
                "the two strongest after the producer")
        settings.routing = .randomK
        let drawn = Codream.route(lesson, producer: 0, snapshot: snapshot, population: p, settings: settings).map(\.recipient)
        #expect(drawn.count == 2 && Set(drawn).count == 2 && !drawn.contains(0))
        #expect(Codream.route(lesson, producer: 0, snapshot: snapshot, population: p, settings: settings).map(\.recipient) == drawn,
                "the draw is seeded by the event's insight: the same event, the same recipients")
        // Over many events the random draw reaches the strong as often as the weak.
        var reached = [Int](repeating: 0, count: 6)
        for id in 100..<1100 {
            for r in Codream.route([insight(id, "lesson \(id)")], producer: 0, snapshot: snapshot, population: p, settings: settings) {
                reached[r.recipient] += 1
            }
        }
        #expect(reached[0] == 0 && reached.dropFirst().allSatisfy { (300...500).contains($0) }, "\(reached)")
        // When asymmetric finds nobody (every weak agent holds the lesson), neither do they.
        var full = p
        for weak in [3, 4, 5] { Codream.deliver(lesson, to: weak, niche: 0, limit: 8, population: &full) }
        for mode in [RoutingMode.randomK, .topK] {
            settings.routing = mode
            #expect(Codream.route(lesson, producer: 0, snapshot: NicheSnapshot(population: full, niche: 0), population: full,
                                  settings: settings).isEmpty)
        }
    }

    @Test func creditIsTheAdvantageOverWhatTheHoldersCompetencePredicted() {
        // a1 is weak on niche 0 (0.2), a2 strong (0.9); each holds the same lesson.
        var p = population([[0.2], [0.9]])
        for agent in [0, 1] { Codream.deliver([insight(1, "draw it first", utility: 0)], to: agent, niche: 0, limit: 8, population: &p) }
        // Both succeed. The weak one beat its prediction by 0.8: 0 + 0.2 x (0.8 - 0) = 0.16.
        // The strong one by 0.1: 0.2 x 0.1 = 0.02. Same lesson, same outcome, different news.
        p.creditInsights(of: 0, niche: 0, outcome: 1, predicted: p.stats(0, 0).competence)
        p.creditInsights(of: 1, niche: 0, outcome: 1, predicted: p.stats(1, 0).competence)
        #expect(abs(p.agents[0].insights[0]![0].utility - 0.16) < 1e-12)
        #expect(abs(p.agents[1].insights[0]![0].utility - 0.02) < 1e-12)
        // A failure where success was expected costs: 0.02 + 0.2 x (-0.9 - 0.02) = -0.164.
        p.creditInsights(of: 1, niche: 0, outcome: 0, predicted: 0.9)
        #expect(abs(p.agents[1].insights[0]![0].utility - (-0.164)) < 1e-12)
        #expect(p.agents[1].insights[0]![0].uses == 2)
    }

    @Test func onlyTheInsightsAPromptShowedAreCredited() {
        var p = population([[0.5]])
        Codream.deliver([insight(1, "alpha", utility: 0.3), insight(2, "beta", utility: 0.1), insight(3, "gamma", utility: -0.2)],
                        to: 0, niche: 0, limit: 8, population: &p)
        // Two shown (the two most useful); success at predicted 0.5 is an advantage of 0.5.
        p.creditInsights(of: 0, niche: 0, outcome: 1, predicted: 0.5, shown: 2)
        let held = Dictionary(uniqueKeysWithValues: p.agents[0].insights[0]!.map { ($0.id, $0) })
        #expect(abs(held[1]!.utility - 0.34) < 1e-12)   // 0.3 + 0.2 x (0.5 - 0.3)
        #expect(abs(held[2]!.utility - 0.18) < 1e-12)   // 0.1 + 0.2 x (0.5 - 0.1)
        #expect(held[3]!.utility == -0.2 && held[3]!.uses == 0, "not shown, not credited")
    }

    @Test func deliveryKeepsTheMostUsefulWithinTheLimit() {
        var p = population([[0.5]])
        Codream.deliver([insight(1, "a", utility: 0.9), insight(2, "b", utility: 0.1), insight(3, "c", utility: 0.6)],
                        to: 0, niche: 0, limit: 3, population: &p)
        let evicted = Codream.deliver([insight(4, "d", utility: 0.5)], to: 0, niche: 0, limit: 3, population: &p)
        #expect(evicted.map(\.id) == [2])
        #expect(p.agents[0].insights[0]!.map(\.id) == [1, 3, 4])
    }

    @Test func codreamTriggersOnFailureOrNormalisedDisagreement() {
        #expect(Codream.trigger(teamSucceeded: false, memberAnswers: ["4", "4"]) == .failure)
        #expect(Codream.trigger(teamSucceeded: true, memberAnswers: ["4.", " 4 "]) == nil)
        #expect(Codream.trigger(teamSucceeded: true, memberAnswers: ["Paris", "paris!"]) == nil)
        #expect(Codream.trigger(teamSucceeded: true, memberAnswers: ["4", "5"]) == .disagreement)
        #expect(CollaborationStructure.finalAnswer(.vote, memberAnswers: ["5", "4", "4."]) == "4")
        #expect(CollaborationStructure.finalAnswer(.vote, memberAnswers: ["5", "4"]) == "5")  // tie: anchor
        #expect(CollaborationStructure.finalAnswer(.review, memberAnswers: ["5", "4", "4"]) == "5")
    }

    @Test func pruneTakesThePersistentUnderPerformerAndArchivesItsInsights() {
        var p = population([[0.8, 0.8], [0.5, 0.5], [0.1, 0.2], [0.6, 0.6]])
        Codream.deliver([insight(1, "x")], to: 2, niche: 0, limit: 8, population: &p)
        var settings = LifecycleSettings()
        settings.minPopulation = 2
        settings.forkAbove = 2  // keep fork and merge out of this test
        settings.mergeCosine = 1
        // Below the bar at two checks: not yet persistent (prune_after_checks is 3).
        for _ in 0..<2 { Lifecycle.observe(&p, settings: settings) }
        #expect(Lifecycle.decide(population: p, settings: settings, archive: [:], tasksSeenPerNiche: [0, 0]).isEmpty)
        Lifecycle.observe(&p, settings: settings)
        let decisions = Lifecycle.decide(population: p, settings: settings, archive: [:], tasksSeenPerNiche: [0, 0])
        #expect(decisions == [.prune(2, reason: "mean competence 0.150 < 0.300 after 20 attempts, at 3 checks in a row")])
        var archive: [Int: [Insight]] = [:]
        _ = Lifecycle.apply(decisions[0], population: &p, archive: &archive, keepPerNiche: 8, step: 1)
        #expect(p.agents[2].status == .pruned)
        #expect(p.activeIndices == [0, 1, 3])
        #expect(archive[0]?.map(\.id) == [1])
        // At the minimum population nobody is pruned.
        settings.minPopulation = 3
        #expect(Lifecycle.decide(population: p, settings: settings, archive: [:], tasksSeenPerNiche: [0, 0]).isEmpty)
    }

    @Test func aDipThatRecoversStartsThePruneCountAgain() {
        var p = population([[0.8, 0.8], [0.5, 0.5], [0.1, 0.2], [0.6, 0.6]])
        var settings = LifecycleSettings()
        settings.minPopulation = 2
        for _ in 0..<2 { Lifecycle.observe(&p, settings: settings) }
        #expect(p.agents[2].checksBelowPruneBar == 2)
        // It recovers above the bar on both niches (0.5 mean), then dips once more.
        for _ in 0..<20 { for n in 0..<2 { p.record(2, niche: n, success: true, alpha: 0.2) } }
        Lifecycle.observe(&p, settings: settings)
        #expect(p.agents[2].checksBelowPruneBar == 0)
        for _ in 0..<30 { for n in 0..<2 { p.record(2, niche: n, success: false, alpha: 0.2) } }
        Lifecycle.observe(&p, settings: settings)
        #expect(p.agents[2].checksBelowPruneBar == 1)
        #expect(!Lifecycle.decide(population: p, settings: settings, archive: [:], tasksSeenPerNiche: [0, 0])
            .contains { if case .prune = $0 { true } else { false } })
    }

    @Test func forkMakesASpecialistOfTheBestGeneralistsBestNiche() {
        var p = population([[0.9, 0.7], [0.5, 0.5], [0.4, 0.45]])
        Codream.deliver([insight(1, "niche0 lesson", niche: 0)], to: 0, niche: 0, limit: 8, population: &p)
        Codream.deliver([insight(2, "niche1 lesson", niche: 1)], to: 0, niche: 1, limit: 8, population: &p)
        var settings = LifecycleSettings()
        settings.maxPopulation = 4
        settings.mergeCosine = 1  // keep merge out of this test
        let decisions = Lifecycle.decide(population: p, settings: settings, archive: [:], tasksSeenPerNiche: [0, 0])
        #expect(decisions == [.fork(parent: 0, niche: 0, reason: "generalist with mean competence 0.800 >= 0.650; specialise on niche 0")])
        var archive: [Int: [Insight]] = [:]
        let applied = Lifecycle.apply(decisions[0], population: &p, archive: &archive, keepPerNiche: 8, step: 3)
        let child = p.agent(applied.child!)!
        #expect(child.lineage == Agent.Lineage(parents: [AgentID(1)], operator: .fork, reason: decisions[0].reasonText, step: 3))
        #expect(child.specialty == 0)
        #expect(child.insights[0]?.map(\.id) == [1] && child.insights[1] == nil)
        #expect(p.stats(3, 0).competence == 0.9 && p.stats(3, 0).attempts == 0)
        #expect(p.stats(3, 1).competence == 0.5)  // the prior off its niche
        // A full population forks nobody.
        settings.maxPopulation = 4
        #expect(!Lifecycle.decide(population: p, settings: settings, archive: [:], tasksSeenPerNiche: [0, 0]).contains { if case .fork = $0 { true } else { false } })
    }

    @Test func mergeJoinsNearIdenticalProfilesOnly() {
        var p = population([[0.8, 0.3, 0.2], [0.79, 0.31, 0.2], [0.8, 0.0, 0.9]])
        Codream.deliver([insight(5, "only in a2")], to: 1, niche: 0, limit: 8, population: &p)
        var settings = LifecycleSettings()
        settings.minPopulation = 2
        settings.forkAbove = 2
        settings.pruneBelow = 0
        let decisions = Lifecycle.decide(population: p, settings: settings, archive: [:], tasksSeenPerNiche: [0, 0, 0])
        guard case .merge(let keep, let absorb, let cosine, _) = decisions.first else {
            Issue.record("expected a merge, got \(decisions)")
            return
        }
        #expect((keep, absorb) == (0, 1))  // a1's mean competence is the higher
        #expect(cosine > 0.99)
        var archive: [Int: [Insight]] = [:]
        _ = Lifecycle.apply(decisions[0], population: &p, archive: &archive, keepPerNiche: 8, step: 2)
        #expect(p.agents[1].status == .merged)
        #expect(p.agents[0].insights[0]?.map(\.id) == [5])
        #expect(p.agents[0].lineage.parents == [AgentID(2)])
        // a3 is not similar enough to anyone (cosine with a1 well under 0.93).
        #expect(p.profileCosine(0, 2, center: p.competenceMeans()) < 0.93)
    }

    @Test func seedCoversANicheNobodyCoversFromTheBestArchivedInsights() {
        var p = population([[0.9, 0.2], [0.8, 0.1], [0.7, 0.3]])
        var settings = LifecycleSettings()
        settings.forkAbove = 2
        settings.pruneBelow = 0
        settings.mergeCosine = 1
        // "strong" is archived twice (two agents distilled it); the seed takes it once.
        let archive = [1: [insight(1, "weak", niche: 1, utility: 0.2), insight(2, "strong", niche: 1, utility: 0.9),
                           insight(3, "strong", niche: 1, utility: 0.8)]]
        #expect(Lifecycle.decide(population: p, settings: settings, archive: archive, tasksSeenPerNiche: [50, 5]).isEmpty)
        let decisions = Lifecycle.decide(population: p, settings: settings, archive: archive, tasksSeenPerNiche: [50, 25])
        guard case .seed(let niche, let insights, _) = decisions.first else {
            Issue.record("expected a seed, got \(decisions)")
            return
        }
        #expect(niche == 1 && insights.map(\.id) == [2, 1])
        var a = archive
        let applied = Lifecycle.apply(decisions[0], population: &p, archive: &a, keepPerNiche: 8, step: 4)
        #expect(p.agent(applied.child!)?.specialty == 1)
        #expect(p.agent(applied.child!)?.lineage.operator == .seed)
    }

    @Test func pivotFiresAfterFiveWithoutABestAndItsCooldownHoldsItBack() {
        var settings = HeartbeatSettings()
        settings.consolidateEvery = 4
        settings.custom = [CustomHeartbeat(name: "stretch", every: 3, scope: .agent, trigger: .interval, prompt: "p")]
        var h = HeartbeatScheduler(settings: settings)
        let a = AgentID(1)
        var log: [[String]] = []
        for score in [0.5, 0.4, 0.4, 0.3, 0.2, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1] {
            log.append(h.evaluated(a, score: score).map { i in
                switch i.kind {
                case .reflect: "reflect"
                case .consolidate: "consolidate"
                case .pivot: "pivot"
                case .custom(let n): n
                }
            })
        }
        #expect(log.allSatisfy { $0.first == "reflect" })
        #expect(log.indices.filter { log[$0].contains("pivot") } == [5, 10])  // 5 misses, then 5 of cooldown
        #expect(log.indices.filter { log[$0].contains("consolidate") } == [3, 7, 11])
        #expect(log.indices.filter { log[$0].contains("stretch") } == [2, 5, 8, 11])
    }

    @Test func aPersonalBestIsPerNiche() {
        var settings = HeartbeatSettings()
        settings.reflectEvery = 0
        settings.consolidateEvery = 0
        settings.pivotAfter = 3
        var h = HeartbeatScheduler(settings: settings)
        let a = AgentID(1)
        // Best 0.9 on an easy niche 0, then niche 1 (hard) improving 0.2 -> 0.3 -> 0.4: each
        // is a new best on niche 1, so no pivot, though none beats 0.9.
        var pivots = 0
        for (niche, score) in [(0, 0.9), (1, 0.2), (1, 0.3), (1, 0.4), (1, 0.5)] {
            pivots += h.evaluated(a, niche: niche, score: score).filter { $0.kind == .pivot }.count
        }
        #expect(pivots == 0)
        // Three in a row without a best on their niche: a pivot.
        for (niche, score) in [(1, 0.5), (0, 0.8), (1, 0.1)] {
            pivots += h.evaluated(a, niche: niche, score: score).filter { $0.kind == .pivot }.count
        }
        #expect(pivots == 1)
    }

    @Test func theBanditLearnsWhichStructureWorksOnANiche() {
        var bandit = StructureBandit(nicheCount: 2)
        for _ in 0..<40 {
            bandit.record(niche: 0, .debate, success: true)
            bandit.record(niche: 0, .solo, success: false)
        }
        var rng = SeededGenerator(seed: 3)
        let picks = (0..<200).map { _ in bandit.choose(niche: 0, allowed: [.solo, .debate], using: &rng) }
        #expect(picks.filter { $0 == .debate }.count >= 195)
        // Niche 1 knows nothing yet: both get tried.
        let fresh = Set((0..<50).map { _ in bandit.choose(niche: 1, allowed: [.solo, .debate], using: &rng) })
        #expect(fresh == [.solo, .debate])
    }

    @Test func impossibleSettingsAreRefusedByField() {
        var s = ChamberSettings()
        s.agents = 2
        #expect(throws: ConfigError(field: "evolution.team_size", problem: "is 3 but the population starts with 2 agents")) { try s.validate() }
        s = ChamberSettings()
        s.evolution.lifecycle.minPopulation = 70
        #expect { try s.validate() } throws: { ($0 as? ConfigError)?.field == "evolution.lifecycle.min_population" }
        s = ChamberSettings()
        s.evolution.lifecycle.maxPopulation = 10
        #expect { try s.validate() } throws: { ($0 as? ConfigError)?.field == "evolution.agents" }
        s = ChamberSettings()
        s.evolution.ewmaAlpha = -0.1
        #expect { try s.validate() } throws: { ($0 as? ConfigError)?.field == "evolution.ewma_alpha" }
        s = ChamberSettings()
        s.evolution.structures = []
        #expect { try s.validate() } throws: { ($0 as? ConfigError)?.field == "evolution.structures" }
    }
}

extension Lifecycle.Decision {
    var reasonText: String {
        switch self {
        case .prune(_, let r), .fork(_, _, let r), .merge(_, _, _, let r), .seed(_, _, let r): r
        }
    }
}
