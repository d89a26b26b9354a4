import Foundation

/// One figure of a run's end summary: what it is and its value, e.g. "solve rate" and
/// "0.33 -> 0.15 (by round)".
public struct SummaryLine: Codable, Hashable, Sendable {
    public var label: String
    public var value: String

    public init(_ label: String, _ value: String) {
        self.label = label
        self.value = value
    }

    /// The summary's column layout: the label in ten columns, then the value.
    public var rendered: String {
        label.padding(toLength: max(10, label.count), withPad: " ", startingAt: 0) + " " + value
    }
}

/// A protocol run's end summary as the engine states it. Stored as JSON in the
/// `protocol_summary` event, so readers (`coevo run`, `coevo report`) get the figures
/// back as values, not text to split.
public struct RunSummary: EventReport, Hashable {
    public static var event: EventKind { .protocolSummary }

    public var lines: [SummaryLine]

    public init(_ lines: [SummaryLine]) { self.lines = lines }

}
