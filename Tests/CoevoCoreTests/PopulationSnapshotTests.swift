@testable import CoevoCore
import Foundation
import Testing

/// What a `population` event holds: every agent of a small pool, the best
/// `memberLimit` of a large one. Worked by hand: agents with more successes on one niche
/// (alpha 0.5, from the 0.5 prior: one success 0.75, two 0.875) rank first, retired ones last.
@Suite struct PopulationSnapshotTests {
    static func population(_ count: Int) -> Population {
        var population = Population(nicheCount: 3)
        for _ in 0..<count {
            population.add(role: "solver", pool: "p", lineage: Agent.Lineage(parents: [], operator: .initial, reason: "", step: 0),
                           systemPrompt: "")
        }
        return population
    }

    @Test func aSmallPoolIsShownWholeAndItsBytesHaveNoOmittedKey() {
        var population = Self.population(5)
        population.retire(2, as: .pruned)
        let snapshot = PopulationSnapshot(population, role: "agent", niches: ["a", "b", "c"], round: 1)
        #expect(snapshot.members.map(\.id) == ["a1", "a2", "a3", "a4", "a5"] && snapshot.omitted == nil)
        #expect(!snapshot.json.contains("omitted"))
        #expect(PopulationSnapshot(json: snapshot.json) == snapshot)
    }

    @Test func aLargePoolShowsItsBestActiveAgentsInPoolOrder() {
        let limit = PopulationSnapshot.memberLimit
        var population = Self.population(limit + 72)
        // Index 199 (a200) succeeds twice on niche 2: 0.875; index 150 (a151) once: 0.75;
        // index 10 (a11) fails once: 0.25, still above every untried agent (ranked -1).
        population.record(199, niche: 2, success: true, alpha: 0.5)
        population.record(199, niche: 2, success: true, alpha: 0.5)
        population.record(150, niche: 0, success: true, alpha: 0.5)
        population.record(10, niche: 1, success: false, alpha: 0.5)
        // Index 0 (a1) is retired: every active agent comes first.
        population.retire(0, as: .pruned)
        let snapshot = PopulationSnapshot(population, role: "agent", niches: ["a", "b", "c"], round: 9)
        #expect(snapshot.members.count == limit && snapshot.omitted == 72)
        let ids = snapshot.members.map(\.id)
        #expect(ids == ids.sorted { Int($0.dropFirst())! < Int($1.dropFirst())! }, "shown in the pool's order")
        #expect(ids.contains("a200") && ids.contains("a151") && ids.contains("a11") && !ids.contains("a1"))
        // The other 125 are the oldest untried active agents: a2 to a127 bar a11.
        let untried = ids.filter { !["a200", "a151", "a11"].contains($0) }
        #expect(untried == (2...127).filter { $0 != 11 }.map { "a\($0)" }, "\(untried.suffix(3))")
        #expect(snapshot.members.first { $0.id == "a200" }?.competence == [0.5, 0.5, 0.875])
        #expect(PopulationSnapshot(json: snapshot.json) == snapshot)
    }
}
