import CoevoBackends
import CoevoCore
import CoevoTestSupport
import Foundation
import Testing

/// The LLM client against a real local HTTP server whose faults the test scripts
/// (Fixtures/fault_server.py). Bad input tried: 429 with Retry-After, 500s, a response
/// slower than the timeout, a body cut short, a connection reset without an answer, an
/// HTML error page, a server that echoes the API key back.
@Suite(.serialized) struct LLMClientFaultTests {
    final class FaultServer: @unchecked Sendable {
        let process: Process
        let port: Int

        init() throws {
            (process, port) = try TestSupport.startFaultServer()
        }

        deinit { kill(process.processIdentifier, SIGKILL); process.waitUntilExit() }

        func endpoint(_ scenario: String, concurrency: Int = 8, timeoutMs: Int = 2000, keyEnv: String? = nil) -> EndpointConfig {
            EndpointConfig(name: scenario, url: "http://127.0.0.1:\(port)/\(scenario)", model: "m", apiKeyEnv: keyEnv,
                           concurrency: concurrency, price: Price(inputPerMillion: 1, outputPerMillion: 2), timeoutMilliseconds: timeoutMs)
        }

        let probe = CurlClient()

        func count(_ table: String, _ scenario: String) async -> Int {
            guard case .success(let response) = await probe.send(HTTPRequest(url: "http://127.0.0.1:\(port)/\(table)/\(scenario)")) else { return -1 }
            return Int(String(decoding: response.body, as: UTF8.self)) ?? -1
        }
    }

    let question = ChatRequest(model: "", messages: [ChatMessage(role: "user", content: "2+2?")], maxTokens: 4)

    func client(_ server: FaultServer, _ endpoints: [EndpointConfig], attempts: Int = 3, breaker: CircuitBreaker = CircuitBreaker(),
                budget: Budget = Budget(), environment: [String: String] = [:]) throws -> LLMClient {
        var retry = RetryPolicy()
        retry.maxAttempts = attempts
        retry.baseDelayMilliseconds = 20
        return try LLMClient(endpoints: endpoints, http: CurlClient(), retry: retry, breaker: breaker, budget: budget,
                             seed: 1, environment: environment)
    }

    /// Bad input: a server that takes a minute to answer, and a job cancelled while the
    /// server holds its request.
    @Test func aCancelledCallAbortsItsTransferAndIsNotRetried() async throws {
        let server = try FaultServer()
        let llm = try client(server, [server.endpoint("hang", timeoutMs: 30_000)])
        let clock = ContinuousClock()
        let call = Task { try await llm.chat("hang", question) }
        #expect(await eventually { await server.count("inflight", "hang") >= 1 }, "the request reached the server")
        let cancelled = clock.now
        call.cancel()
        await #expect(throws: LLMError.cancelled(endpoint: "hang")) { try await call.value }
        // Without cancellation the call would wait for its 30 s timeout; half of that is
        // the bound, since a loaded CI machine can take seconds to run the cancel.
        #expect(clock.now - cancelled < .seconds(15), "aborted, not waited out")
        // A retry would follow within 20-40 ms (the test's backoff); none may come.
        try await Task.sleep(for: .milliseconds(300))
        #expect(await server.count("hits", "hang") == 1, "a cancelled call is not retried")
    }

    /// Polls `condition` every 20 ms for up to 10 s.
    func eventually(_ condition: () async -> Bool) async -> Bool {
        for _ in 0..<500 {
            if await condition() { return true }
            try? await Task.sleep(for: .milliseconds(20))
        }
        return false
    }

    @Test func transientFaultsAreRetriedAndPermanentOnesReportedClearly() async throws {
        let server = try FaultServer()
        let names = ["ok", "429once", "500twice", "slow", "truncated", "reset", "html"]
        let llm = try client(server, names.map { server.endpoint($0, timeoutMs: $0 == "slow" ? 300 : 2000) })

        let ok = try await llm.chat("ok", question)
        #expect(ok.text == "4" && ok.usage == TokenUsage(promptTokens: 12, completionTokens: 1))

        let clock = ContinuousClock()
        let started = clock.now
        #expect(try await llm.chat("429once", question).text == "4")
        #expect(clock.now - started >= .milliseconds(1000))  // Retry-After: 1 was honoured
        #expect(await server.count("hits", "429once") == 2)

        #expect(try await llm.chat("500twice", question).text == "4")
        #expect(await server.count("hits", "500twice") == 3)

        for (name, words) in [("slow", "timed out"), ("truncated", "malformed"), ("reset", "connection"), ("html", "HTTP 502: <html>")] {
            do {
                _ = try await llm.chat(name, question)
                Issue.record("\(name) should have failed")
            } catch {
                #expect(error.description.contains("after 3 attempt(s)"), "\(name): \(error)")
                #expect(error.description.contains(words), "\(name): \(error)")
            }
            let hits = await server.count("hits", name)
            // libcurl itself re-sends once when a reused keep-alive connection dies before
            // answering, so a reset may reach the server twice per attempt.
            #expect(name == "reset" ? (3...6).contains(hits) : hits == 3, "\(name) reached the server \(hits) times")
        }
        let usage = await llm.usage
        #expect(usage["ok"]?.total == 13 && usage["500twice"]?.total == 13)
        let budget = await llm.budget
        #expect(budget.calls == 3 && budget.tokens == 39)
    }

    @Test func aFailingEndpointOpensItsBreakerAndCallsStopReachingIt() async throws {
        let server = try FaultServer()
        let llm = try client(server, [server.endpoint("html")], attempts: 2,
                             breaker: CircuitBreaker(failureThreshold: 2, openMilliseconds: 60_000))
        do { _ = try await llm.chat("html", question) } catch {}
        #expect(await server.count("hits", "html") == 2)
        do {
            _ = try await llm.chat("html", question)
            Issue.record("the breaker should be open")
        } catch {
            guard case .circuitOpen(let endpoint, let wait, let last) = error else {
                Issue.record("expected an open circuit, got \(error)")
                return
            }
            #expect(endpoint == "html" && wait > 59_000 && wait <= 60_000)
            // What opened it is said again, with the URL called, so a user sees the cause.
            #expect(last.hasPrefix("POST \(server.endpoint("html").url)/v1/chat/completions: "), "\(last)")
        }
        #expect(await server.count("hits", "html") == 2)  // nothing more reached the server
    }

    @Test func sixtyFourCallsInFlightRespectTheEndpointLimit() async throws {
        let server = try FaultServer()
        let llm = try client(server, [server.endpoint("okslow", concurrency: 8)])
        let texts = try await withThrowingTaskGroup(of: String.self) { group in
            for _ in 0..<64 { group.addTask { try await llm.chat("okslow", question).text } }
            return try await group.reduce(into: []) { $0.append($1) }
        }
        #expect(texts.count == 64 && texts.allSatisfy { $0 == "4" })
        #expect(await server.count("hits", "okslow") == 64)
        let most = await server.count("inflight", "okslow")
        #expect(most >= 2 && most <= 8, "server saw \(most) at once")
    }

    @Test func budgetsStopCallsAndKeysNeverShow() async throws {
        let server = try FaultServer()
        let llm = try client(server, [server.endpoint("ok"), server.endpoint("echoauth", keyEnv: "COEVO_TEST_KEY")],
                             budget: Budget(maxCalls: 2), environment: ["COEVO_TEST_KEY": "sk-secret-123"])
        _ = try await llm.chat("ok", question)
        do {
            _ = try await llm.chat("echoauth", question)
            Issue.record("401 should fail")
        } catch {
            #expect(error.description.contains("Bearer ***"))
            #expect(!error.description.contains("sk-secret-123"))
        }
        _ = try await llm.chat("ok", question)
        do {
            _ = try await llm.chat("ok", question)
            Issue.record("the call budget should be spent")
        } catch {
            #expect(error == .budgetExhausted("call budget reached (2 of 2)"))
        }
        #expect(throws: LLMError.missingAPIKey(endpoint: "echoauth", variable: "COEVO_TEST_KEY")) {
            _ = try LLMClient(endpoints: [server.endpoint("echoauth", keyEnv: "COEVO_TEST_KEY")], http: CurlClient(), seed: 1, environment: [:])
        }
    }
}
