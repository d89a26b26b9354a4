import Foundation

/// The running binary: where `coevo run` finds itself to start local workers, and where a
/// worker finds the `coevo` its discovery agents call.
public enum OwnExecutable {
    /// Its path (argv[0] may be relative, a bare name found on PATH, or a symlink).
    public static var path: String {
        (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
    }
}
