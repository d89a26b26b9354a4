/// What an engine has said since its last step: event lines for the store, shared-memory
/// rows (a discovery pool's) and the latest progress line for the log, handed out with the
/// step's requests.
public struct Outbox: Sendable {
    private var events: [ProtocolEvent] = []
    private var memory: [MemoryRecord] = []
    private var progressLine: String?

    public init() {}

    public mutating func post(_ event: ProtocolEvent) { events.append(event) }
    public mutating func post(contentsOf more: [ProtocolEvent]) { events += more }
    public mutating func remember(_ record: MemoryRecord) { memory.append(record) }
    /// Replaces any progress line not yet taken: only the latest matters.
    public mutating func progress(_ line: String) { progressLine = line }

    /// `requests` with everything said since the last step, which is then cleared.
    public mutating func step<Request>(_ requests: [Request]) -> EngineStep<Request> {
        defer {
            events.removeAll()
            memory.removeAll()
            progressLine = nil
        }
        return EngineStep(requests: requests, events: events, memory: memory, progress: progressLine)
    }
}
