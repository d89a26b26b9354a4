import Foundation
import Logging
import Synchronization

/// The lines a progress display keeps at the bottom of a terminal. A log line first
/// erases them, so it takes their place and the next redraw comes below it: nothing
/// logged is drawn over.
enum TerminalBlock {
    private static let drawn = Mutex(0)
    static let isTerminal = isatty(STDERR_FILENO) == 1

    /// Replaces the block with `lines`.
    static func draw(_ lines: [String]) {
        drawn.withLock { drawn in
            let text = erase(drawn) + lines.map { $0 + "\n" }.joined()
            drawn = lines.count
            FileHandle.standardError.write(Data(text.utf8))
        }
    }

    /// Leaves what is drawn where it is: later output goes below it.
    static func release() { drawn.withLock { $0 = 0 } }

    /// Runs `body` (which writes to stderr) with the block erased first.
    static func above(_ body: () -> Void) {
        drawn.withLock { drawn in
            if drawn > 0 {
                FileHandle.standardError.write(Data(erase(drawn).utf8))
                drawn = 0
            }
            body()
        }
    }

    private static func erase(_ lines: Int) -> String {
        String(repeating: "\u{1B}[1A\u{1B}[2K", count: lines)
    }
}

/// The standard stderr handler, made to write above a progress display.
struct BlockAwareLogHandler: LogHandler {
    var inner: StreamLogHandler

    var logLevel: Logger.Level {
        get { inner.logLevel }
        set { inner.logLevel = newValue }
    }
    var metadata: Logger.Metadata {
        get { inner.metadata }
        set { inner.metadata = newValue }
    }
    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { inner[metadataKey: key] }
        set { inner[metadataKey: key] = newValue }
    }

    func log(event: LogEvent) {
        TerminalBlock.above { inner.log(event: event) }
    }
}
