import Foundation

/// Writes a run's training-data exports: one JSON-lines file per name, each replaced
/// atomically, so a reader never sees half a file. Each is written to `.<name>.partial`
/// beside it and renamed over it; a partial file left by a coordinator killed mid-write
/// is removed by the next write, so the directory holds exports and nothing else.
enum ExportFiles {
    static let partialSuffix = ".partial"

    /// Nil when written, else why not.
    static func write(_ files: [String: [String]], to directory: URL) -> String? {
        let manager = FileManager.default
        do {
            try manager.createDirectory(at: directory, withIntermediateDirectories: true)
            for leftover in try manager.contentsOfDirectory(atPath: directory.path)
            where leftover.hasPrefix(".") && leftover.hasSuffix(partialSuffix) {
                try? manager.removeItem(at: directory.appendingPathComponent(leftover))
            }
            for (name, lines) in files.sorted(by: { $0.key < $1.key }) {
                let text = lines.isEmpty ? "" : lines.joined(separator: "\n") + "\n"
                let final = directory.appendingPathComponent(name)
                let partial = directory.appendingPathComponent(".\(name)\(partialSuffix)")
                try Data(text.utf8).write(to: partial)
                guard rename(partial.path, final.path) == 0 else {
                    throw CocoaError(.fileWriteUnknown, userInfo: [NSFilePathErrorKey: final.path,
                                                                   NSLocalizedDescriptionKey: String(cString: strerror(errno))])
                }
            }
            return nil
        } catch {
            return "could not write exports to \(directory.path): \(error)"
        }
    }
}
