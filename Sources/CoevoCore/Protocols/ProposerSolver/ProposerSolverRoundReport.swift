import Foundation

/// One round's figures, logged as the `ps_round` event.
public struct ProposerSolverRoundReport: Codable, Hashable, Sendable, RoundFigures {
    public var round: Int
    public var proposals: Int
    public var formatFailures: Int
    /// Readable tasks (proposals that were not format failures).
    public var tasks: Int
    public var duplicates: Int
    public var kept: Int
    /// Correct attempts over all attempts.
    public var solveRate: Double
    /// Over every proposal: a format failure earns 0.
    public var meanProposerReward: Double
    public var codreamEvents: Int
    public var insightsRouted: Int
    /// Worked examples and kept tasks delivered (the examples channel, not CODREAM).
    public var examplesRouted: Int
    /// Reflections, consolidations and custom heartbeats asked of the model.
    public var heartbeatCalls: Int
    public var lifecycleEvents: Int
    public var proposers: Int
    public var solvers: Int

    public static var event: EventKind { .proposerSolverRound }

    mutating func setPopulations(_ first: Int, _ second: Int) {
        proposers = first
        solvers = second
    }

    func progressLine(rounds: Int) -> String {
        String(format: "round %d/%d: %d proposals, %d format failures, solve rate %.2f, proposer reward %.2f, %d kept, %d insights routed, %d heartbeat calls, %d lineage events",
               round, rounds, proposals, formatFailures, solveRate, meanProposerReward, kept, insightsRouted, heartbeatCalls, lifecycleEvents)
    }
}
