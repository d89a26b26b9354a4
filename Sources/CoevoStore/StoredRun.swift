/// A run as the store keeps it.
public struct StoredRun: Hashable, Sendable {
    public enum State: String, Hashable, Sendable {
        case running, finished, interrupted
        /// Set aside unfinished when a new run of the same name started (`--new-run`):
        /// kept for reading, never resumed.
        case abandoned
    }

    public var id: String
    public var name: String
    public var seed: UInt64
    /// The config the run started with, as YAML, so a resume uses the same settings.
    public var config: String
    public var state: State
    /// When the run was first created (seconds since 1970); 0 for one not yet stored.
    public var createdAt: Double = 0

    public init(id: String, name: String, seed: UInt64, config: String, state: State = .running, createdAt: Double = 0) {
        self.id = id
        self.name = name
        self.seed = seed
        self.config = config
        self.state = state
        self.createdAt = createdAt
    }
}
