/// A round's figures as a two-pool protocol reports them; the shared `RoundEnd` fills in
/// what every protocol counts the same way.
protocol RoundFigures: Encodable, Sendable {
    /// Reflections, consolidations and custom heartbeats asked of the model.
    var heartbeatCalls: Int { get set }
    var lifecycleEvents: Int { get set }
    /// The two pools' active agents once the lifecycle has run.
    mutating func setPopulations(_ first: Int, _ second: Int)
    /// The progress line of this round, out of `rounds`.
    func progressLine(rounds: Int) -> String
    /// The event the figures are logged as (`ps_round`, `rb_round`).
    static var event: EventKind { get }
}

/// How a pool's heartbeat calls are made: its base system prompt and temperature.
struct HeartbeatVoice: Sendable {
    var base: String
    var temperature: Double
}

/// The end of every round of a two-pool protocol (proposer/solver, red-blue), in one
/// piece. Once the round is scored: both pools' pivots are logged and the heartbeats that
/// fired become calls (CORAL's reflect / consolidate); when those are answered, or none
/// fired, their lessons are applied, the lifecycle runs on both pools, and the figures
/// are logged and close the round.
///
/// Contract: `init` right after scoring; `record` every reply until `isComplete`; then
/// `close` once, with the same pools, first and second in the same order.
struct RoundEnd<Figures: RoundFigures>: Sendable {
    private var batch: CallBatch
    private var figures: Figures
    let round: Int

    init(_ figures: Figures, round: Int, maxTokens: Int, seed: UInt64,
         _ first: inout AgentPool, _ firstVoice: HeartbeatVoice,
         _ second: inout AgentPool, _ secondVoice: HeartbeatVoice,
         outbox: inout Outbox<ProtocolEvent>) {
        outbox.post(contentsOf: first.takePivotEvents() + second.takePivotEvents())
        let calls = first.heartbeatCalls(round: round, base: firstVoice.base, maxTokens: maxTokens,
                                         temperature: firstVoice.temperature, seed: seed)
            + second.heartbeatCalls(round: round, base: secondVoice.base, maxTokens: maxTokens,
                                    temperature: secondVoice.temperature, seed: seed)
        batch = CallBatch(calls)
        self.figures = figures
        self.figures.heartbeatCalls = calls.count
        self.round = round
    }

    /// The heartbeat calls to make (none: close at once).
    var calls: [AgentCall] { batch.calls }
    var isComplete: Bool { batch.isComplete }

    /// Records a heartbeat reply; false when `key` is not one of this ending's calls.
    mutating func record(_ key: String, _ reply: AgentReply) -> Bool { batch.record(key, reply) }

    /// Applies the heartbeat replies, runs the lifecycle on both pools, logs the figures
    /// and the progress line; returns the figures complete.
    func close(rounds: Int, tasksSeen: [Int], _ first: inout AgentPool, _ second: inout AgentPool,
               outbox: inout Outbox<ProtocolEvent>) -> Figures {
        outbox.post(contentsOf: AgentPool.applyHeartbeats(batch, round: round, to: &first, &second))
        let lifecycle = first.evolve(round: round, tasksSeenPerNiche: tasksSeen)
            + second.evolve(round: round, tasksSeenPerNiche: tasksSeen)
        outbox.post(contentsOf: lifecycle)
        var report = figures
        report.lifecycleEvents = lifecycle.count
        report.setPopulations(first.active.count, second.active.count)
        outbox.post(ProtocolEvent(Figures.event, ExportLine.json(report)))
        outbox.progress(report.progressLine(rounds: rounds))
        return report
    }
}
