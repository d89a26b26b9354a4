import CoevoBackends
import CoevoCore
import CoevoTestSupport
import Foundation
import Testing

/// llm.chat jobs as a worker runs them, when endpoints go down: the call moves on to the
/// job's fallback endpoints, and is deferred (handed back, not failed) only when every
/// one is down. Bad input tried: an endpoint that always answers 503, all endpoints down,
/// a request the endpoint refuses (401: not the endpoint's fault, so no failover).
@Suite(.serialized) struct EndpointFailoverTests {
    static func endpoint(_ scenario: String, port: Int) -> LLMJob.Endpoint {
        var e = LLMJob.Endpoint(name: scenario, url: "http://127.0.0.1:\(port)/\(scenario)", model: "m-\(scenario)", timeoutMs: 2000)
        e.maxAttempts = 2
        e.breakerOpenMs = 60_000
        return e
    }

    static func payload(_ endpoint: LLMJob.Endpoint, fallbacks: [LLMJob.Endpoint]?) throws -> Data {
        try JSONEncoder().encode(LLMJob(endpoint: endpoint, system: "", prompt: "2+2?", maxTokens: 4, temperature: 0,
                                        fallbacks: fallbacks))
    }

    @Test func aDownEndpointHandsTheCallToItsFallback() async throws {
        let (server, port) = try TestSupport.startFaultServer()
        defer { kill(server.processIdentifier, SIGKILL) }
        let executor = LLMChatExecutor()
        let down = Self.endpoint("down", port: port), ok = Self.endpoint("ok", port: port)
        let outcome = await executor.run(payload: try Self.payload(down, fallbacks: [ok]))
        #expect(outcome.status == .succeeded, "\(outcome.error)")
        let output = try JSONDecoder().decode(LLMJobOutput.self, from: outcome.output)
        #expect(output.endpoint == "ok" && output.promptTokens > 0)

        // Everything down: deferred with the reasons, not failed.
        let allDown = await executor.run(payload: try Self.payload(down, fallbacks: [Self.endpoint("down", port: port)]))
        #expect(allDown.status == .deferred && allDown.error.contains("503"), "\(allDown.error)")

        // A refused request is the request's fault: no failover, the job fails with why.
        let refused = await executor.run(payload: try Self.payload(Self.endpoint("echoauth", port: port), fallbacks: [ok]))
        #expect(refused.status == .failed && refused.error.contains("401"), "\(refused.error)")
    }

    @Test func agentsSpreadOverTheirPoolAndFallBackOnTheRest() {
        let pool = ["a", "b", "c"].map { LLMJob.Endpoint(name: $0, url: "http://x", model: "m") }
        #expect(LLMJob.Endpoint.assign(agent: 1, pool: pool).0.name == "a")
        #expect(LLMJob.Endpoint.assign(agent: 2, pool: pool).1?.map(\.name) == ["c", "a"])
        #expect(LLMJob.Endpoint.assign(agent: 6, pool: pool).0.name == "c")
        #expect(LLMJob.Endpoint.assign(agent: 1, pool: [pool[0]]).1 == nil, "a pool of one has no fallback")
        // A payload written before fallbacks existed still decodes.
        let old = #"{"endpoint":{"name":"a","url":"http://x","model":"m"},"system":"","prompt":"p","maxTokens":4,"temperature":0}"#
        #expect((try? JSONDecoder().decode(LLMJob.self, from: Data(old.utf8)))?.fallbacks == nil)
    }
}
