@testable import CoevoCoordinator
import Foundation
import Testing

/// Bad input tried: a partial file left by a coordinator killed mid-write, and a directory
/// that cannot be created (a file is in its way).
@Suite struct ExportFilesTests {
    @Test func aWriteReplacesFilesWholeAndClearsWhatAKilledWriteLeft() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("coevo-exports-\(UUID().uuidString.prefix(8))")
        defer { try? FileManager.default.removeItem(at: directory) }
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        try Data("{\"half".utf8).write(to: directory.appendingPathComponent(".tasks.jsonl.partial"))
        #expect(ExportFiles.write(["tasks.jsonl": ["{\"a\":1}", "{\"a\":2}"], "empty.jsonl": []], to: directory) == nil)
        #expect(try FileManager.default.contentsOfDirectory(atPath: directory.path).sorted() == ["empty.jsonl", "tasks.jsonl"])
        #expect(try String(contentsOf: directory.appendingPathComponent("tasks.jsonl"), encoding: .utf8) == "{\"a\":1}\n{\"a\":2}\n")

        let blocked = directory.appendingPathComponent("tasks.jsonl").appendingPathComponent("sub")
        #expect(ExportFiles.write(["x.jsonl": ["1"]], to: blocked)?.contains("could not write exports") == true)
    }
}
