import CoevoBackends
import CoevoCore
import Foundation
import Testing

/// What a worker lets jobs use. Bad input tried: a remote endpoint nobody allowed, look-alike
/// hosts and paths, another port or scheme, a key asked for an endpoint it is not bound to,
/// a URL that is no URL. Nothing here sends a request: refused endpoints are never called.
@Suite struct WorkerPolicyTests {
    func endpoint(_ url: String, key: String? = nil) -> LLMJob.Endpoint {
        LLMJob.Endpoint(name: "e", url: url, model: "m", apiKeyEnv: key)
    }

    @Test func onlyLocalEndpointsUnlessTheWorkerAllowsMore() {
        let closed = WorkerPolicy()
        #expect(closed.refusal(for: endpoint("http://127.0.0.1:8081")) == nil)
        #expect(closed.refusal(for: endpoint("http://localhost:9000/v1")) == nil)
        #expect(closed.refusal(for: endpoint("https://api.example.invalid"))?.contains("--allow-endpoint https://api.example.invalid") == true)
        #expect(closed.refusal(for: endpoint("not a url"))?.contains("no usable URL") == true)

        let open = WorkerPolicy(endpoints: ["https://api.example.invalid/v1"])
        #expect(open.refusal(for: endpoint("https://api.example.invalid/v1")) == nil)
        #expect(open.refusal(for: endpoint("https://API.example.invalid:443/v1/chat")) == nil)
        // Written without /v1, the endpoint's calls go to the same /v1 paths: allowed.
        #expect(open.refusal(for: endpoint("https://api.example.invalid")) == nil)
        for lookalike in ["https://api.example.invalid.evil.invalid/v1", "https://api.example.invalid/v10",
                          "https://api.example.invalid:8443/v1", "http://api.example.invalid/v1", "https://api.example.invalid/other"] {
            #expect(open.refusal(for: endpoint(lookalike)) != nil, "\(lookalike) is not under the allowed base")
        }
    }

    @Test func aKeyGoesOnlyWhereTheWorkerBoundIt() {
        let policy = WorkerPolicy(endpoints: ["https://a.invalid", "https://b.invalid"], keys: ["A_KEY": ["https://a.invalid"]])
        #expect(policy.refusal(for: endpoint("https://a.invalid/v1", key: "A_KEY")) == nil)
        #expect(policy.refusal(for: endpoint("https://b.invalid/v1", key: "A_KEY"))?.contains("--allow-key A_KEY=https://b.invalid") == true)
        #expect(policy.refusal(for: endpoint("https://a.invalid", key: "HOME")) != nil, "any other variable stays home")
        #expect(WorkerPolicy().refusal(for: endpoint("http://127.0.0.1:1", key: "A_KEY")) != nil, "not even to a local endpoint unbound")
    }

    @Test func commandsMustBeListed() {
        let policy = WorkerPolicy(commands: ["claude", "/usr/bin/python3"])
        #expect(policy.refusal(forCommand: ["claude", "-p", "hi"]) == nil)
        #expect(policy.refusal(forCommand: ["python3"]) != nil, "argv[0] exactly")
        #expect(policy.refusal(forCommand: []) != nil)
    }

    /// The executor refuses before any connection (the host would not even resolve, which
    /// would be a different error).
    @Test func aChatJobToARefusedEndpointFailsAtOnceNamingTheFlag() async throws {
        let executor = LLMChatExecutor(policy: WorkerPolicy())
        let job = LLMJob(endpoint: endpoint("https://api.example.invalid", key: "OPENAI_API_KEY"), system: "", prompt: "hi",
                         maxTokens: 4, temperature: 0)
        let outcome = await executor.run(payload: try JSONEncoder().encode(job))
        #expect(outcome.status == .unsupported && outcome.error.contains("--allow-endpoint https://api.example.invalid"))
    }
}
