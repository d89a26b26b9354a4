import CoevoCore
import CoevoStore

/// A stored run with its config decoded once: what the coordinator, `coevo memory`, the
/// dashboard, the report and the benchmarks read, rather than each parsing the stored
/// YAML again for the one setting it needs.
public struct RunRecord {
    public var stored: StoredRun
    /// The config the run started with; nil when it does not load here (`configProblem`
    /// says why: e.g. a file it names is not on this machine, when files are read).
    public var config: ExperimentConfig?
    public var configProblem: String?

    /// `readingFiles`: load the files the config names (intents, a discovery task's
    /// directories), as serving the run needs; reading its figures does not.
    public init(_ stored: StoredRun, readingFiles: Bool = false) {
        self.stored = stored
        do {
            config = try ConfigLoader.parse(stored.config, readingFiles: readingFiles)
        } catch {
            configProblem = "\(error)"
        }
    }

    /// Which way a discovery run's scores improve (maximize for every other kind).
    public var direction: DiscoverySettings.Direction { config?.discovery?.task.direction ?? .maximize }

    /// The rounds (or chamber steps) an experiment plans; nil for a batch and a discovery pool.
    public var plannedRounds: Int? { config?.proposerSolver?.rounds ?? config?.redBlue?.rounds ?? config?.chamber?.steps }
}
