@testable import CoevoBackends
import CoevoCore
import Foundation
import Testing

/// Bad input tried: 429 with Retry-After, 500, 503, a 400, timeouts, resets, bodies cut
/// short, an HTML error page with status 200 and with status 502, a response without
/// choices.
@Suite struct EndpointPolicyTests {
    func t(_ ms: Int64) -> MonotonicTime { MonotonicTime(milliseconds: ms) }

    @Test func retriesWhatIsTransientAndHonoursRetryAfter() {
        var rng = SeededGenerator(seed: 1)
        let policy = RetryPolicy()
        for failure: RetryPolicy.Failure in [.status(429, retryAfterSeconds: nil), .status(500, retryAfterSeconds: nil),
                                              .status(503, retryAfterSeconds: nil), .timeout, .connection("reset"),
                                              .malformedBody("cut short")] {
            guard case .retry(let delay) = policy.decide(attempt: 1, failure: failure, using: &rng) else {
                Issue.record("\(failure) should be retried")
                continue
            }
            #expect((0...500).contains(delay))
        }
        #expect(policy.decide(attempt: 1, failure: .status(400, retryAfterSeconds: nil), using: &rng)
                == .giveUp("not retryable: status(400, retryAfterSeconds: nil)"))
        guard case .retry(let delay) = policy.decide(attempt: 1, failure: .status(429, retryAfterSeconds: 7), using: &rng) else {
            Issue.record("429 should be retried")
            return
        }
        #expect(delay == 7000)
        guard case .giveUp(let why) = policy.decide(attempt: 5, failure: .timeout, using: &rng) else {
            Issue.record("the fifth failure should be the last")
            return
        }
        #expect(why.contains("after 5 attempts"))
        // The ceiling doubles per attempt and stops at the maximum.
        var ceilings: [Int64] = []
        for attempt in 1...4 {
            var worst: Int64 = 0
            for _ in 0..<300 {
                if case .retry(let d) = policy.decide(attempt: attempt, failure: .timeout, using: &rng) { worst = max(worst, d) }
            }
            ceilings.append(worst)
        }
        #expect(ceilings[0] <= 500 && ceilings[1] <= 1000 && ceilings[2] <= 2000 && ceilings[3] <= 4000)
        #expect(ceilings[3] > 2000)
    }

    @Test func theBreakerOpensAfterRepeatedFailuresAndProbesAfterTheCoolDown() {
        var breaker = CircuitBreaker(failureThreshold: 3, openMilliseconds: 1000)
        func allow(_ ms: Int64) -> Bool { breaker.allow(now: t(ms)) }
        for i in 0..<3 {
            #expect(allow(Int64(i)))
            breaker.record(success: false, now: t(Int64(i)))
        }
        #expect(breaker.state == .open(until: t(1002)))
        #expect(!allow(1001))
        #expect(allow(1002))  // the probe
        #expect(!allow(1003))  // only one probe at a time
        breaker.record(success: false, now: t(1100))
        #expect(breaker.state == .open(until: t(2100)))
        #expect(allow(2100))
        breaker.record(success: true, now: t(2150))
        #expect(breaker.state == .closed && breaker.consecutiveFailures == 0)
        #expect(allow(2151))
    }

    @Test func budgetsStopAtTheFirstLimitReached() {
        var budget = Budget(maxTokens: 1000, maxUSD: 0.01, maxCalls: 5)
        let price = Price(inputPerMillion: 2, outputPerMillion: 8)
        budget.charge(TokenUsage(promptTokens: 300, completionTokens: 100), price: price)
        #expect(budget.exhausted == nil)
        #expect(abs(budget.usd - 0.0014) < 1e-12)
        budget.charge(TokenUsage(promptTokens: 500, completionTokens: 200), price: price)
        #expect(budget.exhausted == "token budget reached (1100 of 1000)")
        var calls = Budget(maxCalls: 2)
        calls.charge(TokenUsage(promptTokens: 1, completionTokens: 1), price: Price())
        calls.charge(TokenUsage(promptTokens: 1, completionTokens: 1), price: Price())
        #expect(calls.exhausted == "call budget reached (2 of 2)")
    }

    @Test func chatBodiesAndResponsesForBothAPIs() throws {
        let request = ChatRequest(model: "m", system: "be brief", messages: [ChatMessage(role: "user", content: "2+2?")], maxTokens: 8)
        let openai = try JSONSerialization.jsonObject(with: ChatProtocol.body(.openai, request)) as! [String: Any]
        #expect((openai["messages"] as! [[String: String]]).map { $0["role"]! } == ["system", "user"])
        let anthropic = try JSONSerialization.jsonObject(with: ChatProtocol.body(.anthropic, request)) as! [String: Any]
        #expect(anthropic["system"] as? String == "be brief")
        #expect(ChatProtocol.headers(.anthropic, apiKey: "k").contains("x-api-key: k"))
        #expect(ChatProtocol.headers(.openai, apiKey: nil) == ["Content-Type: application/json"])

        let ok = Data(#"{"choices":[{"message":{"role":"assistant","content":"4"},"finish_reason":"stop"}],"usage":{"prompt_tokens":12,"completion_tokens":1}}"#.utf8)
        #expect(try ChatProtocol.parse(.openai, status: 200, body: ok, retryAfter: nil)
                == ChatResponse(text: "4", usage: TokenUsage(promptTokens: 12, completionTokens: 1), finishReason: "stop"))
        let claude = Data(#"{"content":[{"type":"text","text":"four"}],"stop_reason":"end_turn","usage":{"input_tokens":9,"output_tokens":2}}"#.utf8)
        #expect(try ChatProtocol.parse(.anthropic, status: 200, body: claude, retryAfter: nil).text == "four")

        #expect(throws: ChatError.http(status: 429, retryAfterSeconds: 3, snippet: "slow down")) {
            try ChatProtocol.parse(.openai, status: 429, body: Data("slow down".utf8), retryAfter: "3")
        }
        #expect(throws: ChatError.self) { try ChatProtocol.parse(.openai, status: 200, body: ok.prefix(40), retryAfter: nil) }
        do {
            _ = try ChatProtocol.parse(.openai, status: 200, body: Data("<html><body>Bad gateway</body></html>".utf8), retryAfter: nil)
            Issue.record("an HTML page parsed as a chat response")
        } catch {
            #expect(error.description.contains("<html>"))
            #expect(RetryPolicy.isRetryable(error.retryFailure))
        }
        #expect(throws: ChatError.self) { try ChatProtocol.parse(.openai, status: 200, body: Data(#"{"id":"x"}"#.utf8), retryAfter: nil) }
        #expect(throws: ChatError.http(status: 502, retryAfterSeconds: nil, snippet: "<html>502</html>")) {
            try ChatProtocol.parse(.openai, status: 502, body: Data("<html>502</html>".utf8), retryAfter: "Wed, 21 Oct 2026 07:28:00 GMT")
        }
    }
}
