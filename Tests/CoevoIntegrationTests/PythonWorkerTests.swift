import Foundation
import Testing

extension ProcessTests {
    /// docs/PROTOCOL.md claims a worker can be written from it alone: its Python example,
    /// taken from the document as it stands, serves a real coordinator.
    @Suite struct PythonWorkerTests {
        @Test func theDocumentsPythonWorkerCompletesARun() async throws {
            let scratch = try Scratch("python")
            defer { scratch.close() }
            let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            let document = try String(contentsOf: root.appendingPathComponent("docs/PROTOCOL.md"), encoding: .utf8)
            let start = try #require(document.range(of: "```python\n"))
            let end = try #require(document.range(of: "```", range: start.upperBound..<document.endIndex))
            var program = String(document[start.upperBound..<end.lowerBound])
            let run = TestRun(scratch: scratch)
            program = program.replacingOccurrences(of: "tcp://127.0.0.1:5555", with: run.endpoint)
            let script = try scratch.write("worker.py", program)

            let protoc = Process()
            protoc.executableURL = URL(fileURLWithPath: "/usr/bin/env")
            protoc.arguments = ["protoc", "--python_out=\(scratch.directory.path)", "-I", root.appendingPathComponent("Proto").path,
                                root.appendingPathComponent("Proto/coevo_wire.proto").path]
            try protoc.run()
            protoc.waitUntilExit()
            #expect(protoc.terminationStatus == 0, "protoc failed: `make test` installs protobuf-compiler")

            let coordinator = try run.coordinator(config: try run.config(kind: "noop", jobs: 2000))
            let python = Process()
            python.executableURL = URL(fileURLWithPath: "/usr/bin/env")
            python.arguments = ["python3", script]
            python.currentDirectoryURL = scratch.directory
            let log = scratch.url("python.log")
            FileManager.default.createFile(atPath: log.path, contents: nil)
            python.standardOutput = try FileHandle(forWritingTo: log)
            python.standardError = python.standardOutput
            try python.run()
            // SIGKILL: the example loops forever, and children of the test runner may
            // inherit an ignored SIGTERM.
            defer { if python.isRunning { kill(python.processIdentifier, SIGKILL); python.waitUntilExit() } }

            let status = await coordinator.waitForExit(timeout: 60)
            let pythonLog = (try? String(contentsOf: log, encoding: .utf8)) ?? ""
            #expect(status == 0, "coordinator did not finish\n\(coordinator.log)\n----- python\n\(pythonLog)")
            let db = try Database(run.database)
            #expect(try db.int("SELECT COUNT(*) FROM results WHERE worker = 'py-1' AND status = 'succeeded'") == 2000,
                    "python worker said: \(pythonLog)")
        }
    }
}
