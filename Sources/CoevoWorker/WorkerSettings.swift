import CoevoBackends
import CoevoCore
import CoevoWire
import Foundation

/// How a worker connects and behaves; `coevo-worker --help` documents each flag.
public struct WorkerSettings: Sendable {
    /// The coordinator's endpoint, e.g. `tcp://head-node:5555`.
    public var coordinator: String
    public var id: WorkerID
    public var slots: Int
    public var heartbeatIntervalMilliseconds: Int64 = 1000
    public var liveness: Int64 = 3
    public var backoff = ReconnectBackoff()
    public var maxMessageBytes: Int64 = 64 << 20
    /// How long SIGTERM waits for running jobs before giving their leases back.
    public var drainTimeoutMilliseconds: Int64 = 10_000
    /// Exit when this process is no longer our parent (`coevo run` passes its pid, so
    /// local workers never outlive a killed launcher).
    public var parentPID: Int32?
    /// Where command agents get their workspaces (one directory or worktree per agent).
    public var workspaceRoot: String
    /// CurveZMQ: the coordinator key this worker pins and its own key pair (nil: none).
    public var curve: CurveRole?
    /// What jobs may use here: endpoints, keys, agent programs (default: local endpoints,
    /// no keys, no programs).
    public var policy = WorkerPolicy()


    public init(coordinator: String, id: WorkerID, slots: Int) {
        self.coordinator = coordinator
        self.id = id
        self.slots = slots
        workspaceRoot = FileManager.default.temporaryDirectory.appendingPathComponent("coevo-worker-\(id.rawValue)").path
    }
}
