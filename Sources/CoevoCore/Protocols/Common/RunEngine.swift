/// What an engine says in answer to one input, as one value: the requests now due, the
/// event lines, the shared-memory rows and, when a round (or step) finished, its
/// progress line. It is also the collection of its requests (`step.count`, `step[0]`,
/// `for request in step`).
public struct EngineStep<Request>: RandomAccessCollection {
    public var requests: [Request]
    public var events: [ProtocolEvent]
    public var memory: [MemoryRecord]
    /// The line about the latest round (or step) that finished, if one did.
    public var progress: String?

    public init(requests: [Request] = [], events: [ProtocolEvent] = [], memory: [MemoryRecord] = [], progress: String? = nil) {
        self.requests = requests
        self.events = events
        self.memory = memory
        self.progress = progress
    }

    public var startIndex: Int { requests.startIndex }
    public var endIndex: Int { requests.endIndex }
    public subscript(position: Int) -> Request { requests[position] }

    /// One step after another: requests, events and memory in order, the later progress line.
    public static func += (step: inout EngineStep, next: EngineStep) {
        step.requests += next.requests
        step.events += next.events
        step.memory += next.memory
        if let line = next.progress { step.progress = line }
    }
}

/// A kind of run as a pure state machine: it asks for work (`Request`: a model call, a
/// chamber turn, a discovery step or grade) and consumes the replies. Every run kind the
/// coordinator serves is one, driven by one generic driver, which turns requests into
/// jobs and results into replies (its per-kind codec). An engine does no I/O, reads no
/// clock and decides the same way whatever order replies arrive in, so a run over many
/// workers, or replayed after a crash, takes the same course.
///
/// Contract: `start` once, then `complete` for each request's reply, in any order; a key
/// the engine is not waiting for is ignored (an empty step).
public protocol RunEngine: Sendable {
    associatedtype Request: Sendable
    /// What names a request when its reply comes back.
    associatedtype Key
    associatedtype Reply
    static func key(of request: Request) -> Key
    /// The first requests (none once finished).
    mutating func start() -> EngineStep<Request>
    /// A request's reply; `at` is when it came (wall clock, seconds since 1970), for
    /// engines with limits in wall time.
    mutating func complete(_ key: Key, _ reply: Reply, at: Double?) -> EngineStep<Request>
    var isFinished: Bool { get }
    /// The round (or step) under way and its phase.
    var stage: RunStage { get }
    /// The end-of-run summary, a line per figure (none for a run kind without one).
    var summary: [SummaryLine] { get }
    /// Exports: file name -> JSON lines (none for a run kind without them).
    func exports() -> [String: [String]]
}
