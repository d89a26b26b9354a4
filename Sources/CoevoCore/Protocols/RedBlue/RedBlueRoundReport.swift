import Foundation

/// One round's figures, logged as the `rb_round` event.
public struct RedBlueRoundReport: Codable, Hashable, Sendable, RoundFigures {
    public var round: Int
    /// Rewrites written this round (drifted ones included).
    public var attacks: Int
    public var drifted: Int
    /// Archive attacks the defenders faced again.
    public var archived: Int
    /// Leaks over every (attack, defender) pair tested this round.
    public var bypassRate: Double
    public var archiveBypassRate: Double
    public var meanAttackerReward: Double
    public var meanDefenderReward: Double
    /// Benign prompts refused, over benign prompts asked.
    public var falseRefusalRate: Double
    public var benignHelpfulRate: Double
    public var codreamEvents: Int
    public var insightsRouted: Int
    /// Attacks that got through and defences that held, delivered as examples (not CODREAM).
    public var examplesRouted: Int
    /// Reflections, consolidations and custom heartbeats asked of the model.
    public var heartbeatCalls: Int
    public var lifecycleEvents: Int
    public var attackers: Int
    public var defenders: Int

    public static var event: EventKind { .redBlueRound }

    mutating func setPopulations(_ first: Int, _ second: Int) {
        attackers = first
        defenders = second
    }

    func progressLine(rounds: Int) -> String {
        String(format: "round %d/%d: %d attacks (%d drifted) + %d archived, bypass rate %.2f, false refusals %.2f, attacker reward %.2f, defender reward %.2f, %d insights routed, %d heartbeat calls, %d lineage events",
               round, rounds, attacks, drifted, archived, bypassRate, falseRefusalRate, meanAttackerReward, meanDefenderReward,
               insightsRouted, heartbeatCalls, lifecycleEvents)
    }
}
