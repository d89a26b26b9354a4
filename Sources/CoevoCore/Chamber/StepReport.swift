import Foundation

/// What one chamber step did, for progress lines, reports and ablation tables.
public struct StepReport: EventReport, Hashable {
    public static var event: EventKind { .chamberStep }
    /// Stored with Swift's key names since the chamber's first runs.
    public static var snakeCaseKeys: Bool { false }

    public var step: Int
    public var tasks: Int
    public var successes: Int
    /// Success rate per niche this step (nil where no task of the niche came).
    public var nicheAccuracy: [Double?]
    public var population: Int
    public var insightsRouted: Int
    public var codreamEvents: Int
    public var lifecycleEvents: Int
    public var interventions: Int
    /// Distinct agents that lead at least one niche (top competence with 3+ attempts).
    public var specialists: Int
    /// Distinct agents that have led the same niche for `ChamberEngine.stableSteps` steps
    /// in a row: the measure of the niche specialists EvoChamber reports emerging (4-5
    /// stable specialists from identical agents).
    public var stableSpecialists: Int
    /// Each niche's leader (an agent id; nil before any agent has 3 attempts there).
    public var leaders: [Int?]
    /// Mean share of an agent's successes that fall on its best niche (agents with 2+
    /// niches tried): 1 is a pure specialist, 1/niches a perfect generalist.
    public var concentration: Double
    public var agentTurns: Int
    public var tokens: Int
    /// What the turns would have taken at the simulator's latency per token, summed.
    public var simulatedMilliseconds: Double

    public var accuracy: Double { tasks == 0 ? 0 : Double(successes) / Double(tasks) }
}
