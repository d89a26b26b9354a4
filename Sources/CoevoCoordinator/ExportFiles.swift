import Foundation

/// Writes a run's training-data exports: one JSON-lines file per name, each replaced
/// atomically, so a reader never sees half a file.
enum ExportFiles {
    /// Nil when written, else why not.
    static func write(_ files: [String: [String]], to directory: URL) -> String? {
        do {
            try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
            for (name, lines) in files.sorted(by: { $0.key < $1.key }) {
                let text = lines.isEmpty ? "" : lines.joined(separator: "\n") + "\n"
                try Data(text.utf8).write(to: directory.appendingPathComponent(name), options: .atomic)
            }
            return nil
        } catch {
            return "could not write exports to \(directory.path): \(error)"
        }
    }
}
