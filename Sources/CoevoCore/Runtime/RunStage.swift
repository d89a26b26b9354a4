/// Where a run is: its round (or chamber step) of the total and the phase within it, for
/// progress displays, the dashboard and `coevo status`. Engines report it; nobody parses
/// it back out of a progress line.
public struct RunStage: Hashable, Sendable, Codable {
    /// What the run counts: "round" or "step" (a batch run counts jobs and has no stage).
    public var unit: String
    /// The round under way, 1-based (the total once the run has finished).
    public var current: Int
    public var total: Int
    /// The phase of the round under way ("propose", "solve", "grade", ...).
    public var phase: String
    /// Rounds finished, so displays can work out a share and a time left.
    public var finished: Int

    public init(unit: String, current: Int, total: Int, phase: String, finished: Int) {
        self.unit = unit
        self.current = current
        self.total = total
        self.phase = phase
        self.finished = finished
    }

    /// A protocol engine's stage: `round` counts up from 1 and passes `rounds` once the
    /// last round has closed.
    public static func protocolRound(_ round: Int, of rounds: Int, phase: String) -> RunStage {
        RunStage(unit: "round", current: min(round, rounds), total: rounds, phase: phase, finished: min(round - 1, rounds))
    }
}
