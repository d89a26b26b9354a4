import CoevoCore
import CoevoStore
import CoevoWire
import Foundation

/// The time a coordinator input happened: the monotonic clock for every decision, and
/// the wall clock for what is written down (event and result timestamps).
public struct CoordinatorTime: Sendable {
    public var monotonic: MonotonicTime
    /// Seconds since 1970.
    public var wall: Double

    public init(monotonic: MonotonicTime, wall: Double) {
        self.monotonic = monotonic
        self.wall = wall
    }
}

/// What happened to a coordinator, as `CoordinatorStateMachine.handle` takes it. The
/// shell decodes frames once; the state machine never sees raw bytes except routing ids.
public enum CoordinatorInput: Sendable {
    /// Begin serving the runs handed to `init` (call once, first).
    case start
    /// What the socket had waiting, in arrival order; jobs are dispatched once after
    /// the whole batch, so a burst of results costs one dispatch.
    case received([ReceivedMessage])
    /// The deadline the last `.wake` asked for passed.
    case tick
    /// A message to a departed peer was dropped by the socket.
    case unroutable(Data)
    /// What the socket's transport monitor saw.
    case transport(TransportEvent)
    /// The socket could not be (re)opened, or a send was dropped.
    case socketError(String)
    /// Ctrl-C or SIGTERM: drain.
    case shutdown
    /// The store has made this many results durable and has `backlog` writes still
    /// queued (the shell reports it as results become durable, and when the backlog
    /// crosses `CoordinatorSettings.storeBacklogLimit`).
    case storeCommitted(durableResults: UInt64, backlog: Int)
    /// The store gave up writing (a batch failed every retry): nothing more can be kept.
    case storeFailed(String)
    /// The CURVE keys authorized now (the allow-list changed while running).
    case authorizedKeys(Set<CurvePublicKey>)
    /// A `.writeExports` directive was carried out: nil when written, else why not.
    case exportsWritten(RunID, failure: String?)
}

/// One incoming message, decoded by the shell.
public enum ReceivedMessage: Sendable {
    /// A message from the peer with this routing id, and the CURVE key it authenticated
    /// with (nil without CURVE).
    case message(from: Data, key: CurvePublicKey? = nil, WorkerMessage)
    /// Frames that were not a message: wrong frame count or a bad envelope.
    case malformed(from: Data, MalformedMessage)
}

/// Why a frame set was not a message.
public enum MalformedMessage: Sendable, Hashable {
    /// A ROUTER message must be the routing id plus exactly one envelope frame.
    case frameCount(Int)
    case undecodable(WireDecodingError)
}

/// What the shell must do, in order.
public enum CoordinatorDirective: Sendable {
    /// Send one message to a peer (by routing id).
    case send(to: Data, CoordinatorMessage)
    /// Queue writes for the store (write-behind).
    case store([StoreMutation])
    /// Wait until every queued write is on disk (a finished run is a durable run).
    case flushStore
    /// Tell the operator (the shell logs it at its level).
    case notice(CoordinatorNotice)
    /// Make sure the store has reserved every job id below this one before anything
    /// after this directive goes out (see `CoevoStore.reserveJobIDs`); stop if it cannot.
    case reserveJobIDs(below: JobID)
    /// Write a run's training-data exports (file name -> JSON lines) into `directory`,
    /// then answer with `.exportsWritten`.
    case writeExports(RunID, directory: URL, files: [String: [String]])
    case observe(CoordinatorObservation)
    /// Deliver `.tick` at this time.
    case wake(at: MonotonicTime)
    /// Stop serving: every directive before this one has been carried out.
    case exit
}

/// What observers (`coevo run`'s progress line, the benchmarks) are told.
public enum CoordinatorObservation: Sendable {
    case progress(CoordinatorProgress)
    case schedulerEvent(SchedulerEvent, MonotonicTime)
    case resultsApplied([JobID])
    /// What one input did to jobs, and the model calls it paid for.
    case activity(JobActivity)
    case runFinished(RunID, RunProgress)
}

/// Collects directives in order; consecutive store writes become one directive, so a
/// batch of results costs the store one enqueue.
struct DirectiveBuffer {
    private(set) var directives: [CoordinatorDirective] = []
    private var writes: [StoreMutation] = []

    mutating func store(_ mutation: StoreMutation) { writes.append(mutation) }
    mutating func store(contentsOf mutations: [StoreMutation]) { writes += mutations }

    mutating func append(_ directive: CoordinatorDirective) {
        closeWrites()
        directives.append(directive)
    }

    mutating func notice(_ notice: CoordinatorNotice) { append(.notice(notice)) }

    mutating func take() -> [CoordinatorDirective] {
        closeWrites()
        defer { directives = [] }
        return directives
    }

    private mutating func closeWrites() {
        guard !writes.isEmpty else { return }
        directives.append(.store(writes))
        writes = []
    }
}
