import Foundation

/// A value a run stores as the JSON detail of one kind of event (a round's figures, a
/// population snapshot, the end summary). The event kind and the key style belong to
/// the type, so it is written one way and read back as a value everywhere
/// (`CoevoStore.reports`), never as text to split.
public protocol EventReport: Codable, Sendable {
    static var event: EventKind { get }
    /// snake_case keys, as exports have; false only for a report whose stored form
    /// predates the rule (changing it would leave older databases unreadable).
    static var snakeCaseKeys: Bool { get }
}

extension EventReport {
    public static var snakeCaseKeys: Bool { true }

    /// The event's detail: keys sorted, so one seed gives the same bytes every time.
    public var json: String {
        if Self.snakeCaseKeys { return ExportLine.json(self) }
        let encoder = JSONEncoder()
        encoder.outputFormatting = .sortedKeys
        return (try? encoder.encode(self)).map { String(decoding: $0, as: UTF8.self) } ?? "{}"
    }

    /// Nil when `json` is not one of these.
    public init?(json: String) {
        let decoder = JSONDecoder()
        if Self.snakeCaseKeys { decoder.keyDecodingStrategy = .convertFromSnakeCase }
        guard let report = try? decoder.decode(Self.self, from: Data(json.utf8)) else { return nil }
        self = report
    }

    /// The event that stores it.
    public var event: ProtocolEvent { ProtocolEvent(Self.event, json) }
}
