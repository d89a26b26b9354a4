import Foundation
import Logging
import Synchronization

/// The lines a progress display keeps at the bottom of a terminal. A log line first
/// erases them, so it takes their place and the next redraw comes below it: nothing
/// logged is drawn over. Each line is cut to the terminal's width, since a line the
/// terminal wraps takes rows the eraser does not count, and the block is drawn again
/// when the window changes size.
enum TerminalBlock {
    private struct State {
        var drawn = 0
        var lines: [String] = []
        var resizes: (any DispatchSourceSignal)?
    }
    private static let state = Mutex(State())
    static let isTerminal = isatty(STDERR_FILENO) == 1

    /// Replaces the block with `lines`.
    static func draw(_ lines: [String]) {
        state.withLock { state in
            if state.resizes == nil { state.resizes = watchResizes() }
            state.lines = lines
            redraw(&state)
        }
    }

    /// Leaves what is drawn where it is: later output goes below it.
    static func release() {
        state.withLock { state in
            state.drawn = 0
            state.lines = []
        }
    }

    /// Runs `body` (which writes to stderr) with the block erased first.
    static func above(_ body: () -> Void) {
        state.withLock { state in
            if state.drawn > 0 {
                FileHandle.standardError.write(Data(erase(state.drawn).utf8))
                state.drawn = 0
            }
            body()
        }
    }

    /// `line` cut to `width` columns (one column is left for the cursor).
    static func fit(_ line: String, width: Int) -> String {
        line.count < width ? line : String(line.prefix(max(1, width - 2))) + "…"
    }

    private static func redraw(_ state: inout State) {
        guard !state.lines.isEmpty else { return }
        let width = columns()
        let text = erase(state.drawn) + state.lines.map { fit($0, width: width) + "\n" }.joined()
        state.drawn = state.lines.count
        FileHandle.standardError.write(Data(text.utf8))
    }

    private static func columns() -> Int {
        var size = winsize()
        guard ioctl(STDERR_FILENO, UInt(TIOCGWINSZ), &size) == 0, size.ws_col > 0 else { return 80 }
        return Int(size.ws_col)
    }

    private static func watchResizes() -> any DispatchSourceSignal {
        signal(SIGWINCH, SIG_IGN)
        let source = DispatchSource.makeSignalSource(signal: SIGWINCH, queue: .global())
        source.setEventHandler { state.withLock { redraw(&$0) } }
        source.resume()
        return source
    }

    private static func erase(_ lines: Int) -> String {
        String(repeating: "\u{1B}[1A\u{1B}[2K", count: lines)
    }
}
