/// The names of the lines in a run's event log, shared by whoever writes them (the
/// coordinator, the drivers, the engines) and whoever reads them (`coevo run`'s summary,
/// `coevo report`, tests), so both sides spell each kind alike. Families whose name
/// carries a pool's role or a chamber operator are built by the functions below.
public struct EventKind: RawRepresentable, Hashable, Comparable, Sendable, CustomStringConvertible {
    public let rawValue: String
    public init(rawValue: String) { self.rawValue = rawValue }

    public var description: String { rawValue }
    public static func < (a: EventKind, b: EventKind) -> Bool { a.rawValue < b.rawValue }

    // The runtime.
    public static let runCreated = EventKind(rawValue: "run_created")
    public static let runFinished = EventKind(rawValue: "run_finished")
    public static let workerJoined = EventKind(rawValue: "worker_joined")
    public static let workerRefused = EventKind(rawValue: "worker_refused")
    public static let workerLeft = EventKind(rawValue: "worker_left")
    public static let workerExpired = EventKind(rawValue: "worker_expired")
    public static let workerReplaced = EventKind(rawValue: "worker_replaced")
    public static let leaseLost = EventKind(rawValue: "lease_lost")
    public static let jobFailed = EventKind(rawValue: "job_failed")
    public static let jobDeferred = EventKind(rawValue: "job_deferred")
    /// A worker answered UNSUPPORTED: the job goes to another worker.
    public static let jobUnsupported = EventKind(rawValue: "job_unsupported")
    public static let resultDiscarded = EventKind(rawValue: "result_discarded")
    /// A peer sent too many bad messages and is ignored for a while.
    public static let peerIgnored = EventKind(rawValue: "peer_ignored")
    /// A message came on a worker's route from a key that does not hold the worker's id.
    public static let routeClaimed = EventKind(rawValue: "route_claimed")
    public static let budgetExhausted = EventKind(rawValue: "budget_exhausted")

    // The run drivers.
    /// A protocol's model call failed for good or came back unreadable.
    public static let callFailed = EventKind(rawValue: "call_failed")
    /// A discovery pool's step failed for good, or ended with no submission.
    public static let discoveryStepFailed = EventKind(rawValue: "discovery_step_failed")
    public static let discoveryNoSubmission = EventKind(rawValue: "discovery_no_submission")
    /// A graded attempt set the pool's best (detail: agent, commit, score).
    public static let discoveryBest = EventKind(rawValue: "discovery_best")
    /// A pivot or consolidation heartbeat the pool decided.
    public static let discoveryHeartbeat = EventKind(rawValue: "discovery_heartbeat")
    /// An agent's unclean step (with the tail of its output), or its pause by the crash breaker.
    public static let discoveryAgentFault = EventKind(rawValue: "discovery_agent_fault")
    /// What a grade said for the run's owner only (`DiscoveryGradeOutput.detail`).
    public static let discoveryGradeDetail = EventKind(rawValue: "discovery_grade_detail")
    /// Why the pool stopped.
    public static let discoveryStopped = EventKind(rawValue: "discovery_stopped")
    /// A chamber turn's job failed, or its output was not a turn result.
    public static let turnFailed = EventKind(rawValue: "turn_failed")
    public static let turnUnreadable = EventKind(rawValue: "turn_unreadable")
    /// Where a finished protocol run's exports are (detail: the directory), or why not.
    public static let exportsWritten = EventKind(rawValue: "exports_written")
    public static let exportsFailed = EventKind(rawValue: "exports_failed")
    /// A finished protocol run's summary (detail: a `RunSummary` as JSON).
    public static let protocolSummary = EventKind(rawValue: "protocol_summary")

    // The protocol engines.
    /// A proposer/solver round's figures (detail: `ProposerSolverRoundReport` as JSON).
    public static let proposerSolverRound = EventKind(rawValue: "ps_round")
    /// A red-blue round's figures (detail: `RedBlueRoundReport` as JSON).
    public static let redBlueRound = EventKind(rawValue: "rb_round")
    public static let formatFailure = EventKind(rawValue: "format_failure")
    public static let attackDrifted = EventKind(rawValue: "attack_drifted")
    public static let judgeError = EventKind(rawValue: "judge_error")
    public static let heartbeatFailure = EventKind(rawValue: "heartbeat_failure")
    /// A pool's agents after a round or step (detail: `PopulationSnapshot` as JSON).
    public static let population = EventKind(rawValue: "population")
    /// Insights CODREAM routed (detail: `InsightFlow` as JSON).
    public static let insightFlow = EventKind(rawValue: "insight_flow")
    /// A CODREAM distillation failed or had no `INSIGHT:` line: nothing is routed.
    public static let distilFailure = EventKind(rawValue: "distil_failure")

    /// What one protocol pool did: `<role>_<action>`, e.g. `solver_reflect`,
    /// `defender_codream`, `proposer_fork`, `attacker_pivot`.
    public static func pool(_ role: String, _ action: String) -> EventKind {
        EventKind(rawValue: "\(role)_\(action)")
    }

    /// What the chamber engine did: `chamber_<action>` (team, codream, pivot, fork, ...).
    public static func chamber(_ action: String) -> EventKind {
        EventKind(rawValue: "chamber_\(action)")
    }

    /// A chamber step's figures (detail: `StepReport` as JSON).
    public static let chamberStep = chamber("step")
    /// The chamber's lifecycle operators, in the order summaries list them.
    public static let chamberLifecycle: [EventKind] = ["fork", "merge", "prune", "seed"].map(chamber)
}
