import Foundation
import Logging

/// Log lines for a person at a terminal: the time of day, the level, who speaks and the
/// message (`12:19:36 warning worker.local-1: coordinator silent ...`), written above the
/// progress display. swift-log's stream handler, with its ISO date and module name, is
/// kept for files and pipes, where lines are read later or by programs.
struct CompactLogHandler: LogHandler {
    let label: String
    var logLevel: Logger.Level = .info
    var metadata: Logger.Metadata = [:]

    /// Whether this process logs this way: stderr is a terminal, or it is a local worker
    /// of a `coevo run` that relays its lines to one.
    static var chosen: Bool { TerminalBlock.isTerminal || ProcessInfo.processInfo.environment["COEVO_LOG_COMPACT"] == "1" }

    init(label: String) {
        self.label = label.hasPrefix("coevo.") ? String(label.dropFirst(6)) : label
    }

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    func log(event: LogEvent) {
        var now = time(nil)
        var parts = tm()
        localtime_r(&now, &parts)
        let clock = String(format: "%02d:%02d:%02d", parts.tm_hour, parts.tm_min, parts.tm_sec)
        let extra = metadata.merging(event.metadata ?? [:]) { $1 }
        let tail = extra.isEmpty ? "" : " " + extra.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: " ")
        let line = "\(clock) \(event.level) \(label): \(event.message)\(tail)\n"
        TerminalBlock.above { FileHandle.standardError.write(Data(line.utf8)) }
    }
}
