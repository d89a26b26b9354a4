import CoevoCore
import CoevoStore
import Foundation

/// An unfinished run as the store holds it: what `CoordinatorStateMachine` needs to
/// serve it, read once by the shell when the coordinator starts (a fresh run and a
/// resumed one take the same path).
public struct ServedRun {
    public var id: RunID
    public var state: StoredRun.State
    /// When the run was first created (seconds since 1970; nil: not known), for budgets in
    /// wall time.
    public var createdAt: Double?
    /// Nil when the stored config does not load here (`configProblem` says why): then
    /// the run is not served and stays unfinished.
    public var config: ExperimentConfig?
    public var configProblem: String?
    /// Every stored job with its outcome: for protocol runs (replayed) and for runs with
    /// a budget (what earlier lives spent counts).
    public var storedJobs: [CoevoStore.StoredJob] = []
    /// A plain batch run's jobs: done, failed, and still to run.
    public var jobs = CoevoStore.RunJobs()
    /// Event lines per kind the run has logged, so a replay does not log them twice.
    public var loggedEvents: [EventKind: Int] = [:]
    /// Where a protocol run's exports go: `exports/<run>` beside the database.
    public var exportDirectory: URL

    public init(id: RunID, state: StoredRun.State, config: ExperimentConfig?, configProblem: String? = nil,
                storedJobs: [CoevoStore.StoredJob] = [], jobs: CoevoStore.RunJobs = .init(),
                loggedEvents: [EventKind: Int] = [:], exportDirectory: URL) {
        self.id = id
        self.state = state
        self.config = config
        self.configProblem = configProblem
        self.storedJobs = storedJobs
        self.jobs = jobs
        self.loggedEvents = loggedEvents
        self.exportDirectory = exportDirectory
    }

    /// Reads every unfinished run of `store`, reading for each only what it needs.
    public static func load(from store: CoevoStore) throws -> [ServedRun] {
        let exports = URL(fileURLWithPath: store.path).deletingLastPathComponent().appendingPathComponent("exports")
        return try store.unfinishedRuns().map { stored in
            var run = ServedRun(id: RunID(stored.id), state: stored.state, config: nil,
                                exportDirectory: exports.appendingPathComponent(stored.id))
            run.createdAt = stored.createdAt
            let record = RunRecord(stored, readingFiles: true)
            guard let config = record.config else {
                // E.g. a red-blue intents_file that is not where this coordinator runs. Such
                // a run is not served, so none of its jobs are read.
                run.configProblem = record.configProblem
                return run
            }
            run.config = config
            let driven = config.isProtocolRun
            let budgeted = config.budget.budget != Budget()
            if driven || budgeted { run.storedJobs = try store.storedJobs(ofRun: stored.id) }
            if driven {
                run.loggedEvents = try store.eventCounts(ofRun: stored.id)
            } else {
                run.jobs = try store.jobs(ofRun: stored.id)
            }
            return run
        }
    }
}
