/// What a run's state machine has to say since it was last asked: event lines for the
/// store and the latest progress line for the log. Engines and drivers post here; the
/// coordinator takes.
public struct Outbox<Event: Sendable>: Sendable {
    private var events: [Event] = []
    private var progressLine: String?

    public init() {}

    public mutating func post(_ event: Event) { events.append(event) }
    public mutating func post(contentsOf more: [Event]) { events += more }
    /// Replaces any progress line not yet taken: only the latest matters.
    public mutating func progress(_ line: String) { progressLine = line }

    public mutating func takeEvents() -> [Event] {
        defer { events.removeAll() }
        return events
    }

    public mutating func takeProgressLine() -> String? {
        defer { progressLine = nil }
        return progressLine
    }
}
