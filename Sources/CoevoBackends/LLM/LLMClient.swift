import CoevoCore
import Foundation

/// One model endpoint, as the config names it.
public struct EndpointConfig: Hashable, Sendable {
    public var name: String
    /// Base URL, e.g. `http://127.0.0.1:8080` (the API path is added per style).
    public var url: String
    public var model: String
    public var style: ChatAPIStyle
    /// Environment variable holding the API key; the key itself is never stored.
    public var apiKeyEnv: String?
    /// Calls in flight at once.
    public var concurrency: Int
    public var price: Price
    public var timeoutMilliseconds: Int

    public init(name: String, url: String, model: String, style: ChatAPIStyle = .openai, apiKeyEnv: String? = nil,
                concurrency: Int = 8, price: Price = Price(), timeoutMilliseconds: Int = 60_000) {
        self.name = name
        self.url = url
        self.model = model
        self.style = style
        self.apiKeyEnv = apiKeyEnv
        self.concurrency = concurrency
        self.price = price
        self.timeoutMilliseconds = timeoutMilliseconds
    }
}

public enum LLMError: Error, Hashable, Sendable, CustomStringConvertible {
    case unknownEndpoint(String)
    case missingAPIKey(endpoint: String, variable: String)
    case budgetExhausted(String)
    /// `last`: what the call that opened it met.
    case circuitOpen(endpoint: String, retryAfterMilliseconds: Int64, last: String)
    case failed(endpoint: String, attempts: Int, last: String)
    /// Every attempt met a fault of the endpoint's own (down, overloaded, cut off): worth
    /// trying again later, unlike `failed`, which the request itself caused.
    case unavailable(endpoint: String, attempts: Int, last: String)
    /// The job was cancelled (its timeout, a CANCEL): the transfer was aborted.
    case cancelled(endpoint: String)

    public var description: String {
        switch self {
        case .unknownEndpoint(let name): "no endpoint named '\(name)' in the config"
        case .missingAPIKey(let endpoint, let variable): "endpoint '\(endpoint)' needs an API key in $\(variable), which is not set"
        case .budgetExhausted(let why): "budget exhausted: \(why)"
        case .circuitOpen(let endpoint, let wait, let last): "endpoint '\(endpoint)' keeps failing (last: \(last)); its circuit breaker is open for \(wait) ms more"
        case .failed(let endpoint, let attempts, let last): "endpoint '\(endpoint)' failed after \(attempts) attempt(s): \(last)"
        case .unavailable(let endpoint, let attempts, let last): "endpoint '\(endpoint)' unavailable after \(attempts) attempt(s): \(last)"
        case .cancelled(let endpoint): "call to endpoint '\(endpoint)' cancelled"
        }
    }
}

/// Chat calls to configured endpoints: a concurrency limit per endpoint, retries with
/// backoff and jitter (honouring Retry-After), a circuit breaker per endpoint, token usage,
/// cost and a run budget. Decisions come from the pure `RetryPolicy`, `CircuitBreaker`
/// and `Budget`; the transfers go through the shared `CurlClient`.
public actor LLMClient {
    struct EndpointState {
        var config: EndpointConfig
        var apiKey: String?
        var breaker: CircuitBreaker
        /// What the last failed call met, with its URL: said again while the breaker is open.
        var lastFailure = ""
        var inFlight = 0
        var waiting: [CheckedContinuation<Void, Never>] = []
    }

    private var endpoints: [String: EndpointState] = [:]
    private let http: CurlClient
    private let retry: RetryPolicy
    private var rng: SeededGenerator
    public private(set) var budget: Budget
    public private(set) var usage: [String: TokenUsage] = [:]

    public init(endpoints: [EndpointConfig], http: CurlClient, retry: RetryPolicy = RetryPolicy(),
                breaker: CircuitBreaker = CircuitBreaker(), budget: Budget = Budget(), seed: UInt64,
                environment: [String: String] = ProcessInfo.processInfo.environment) throws(LLMError) {
        for endpoint in endpoints {
            var key: String?
            if let variable = endpoint.apiKeyEnv {
                guard let value = environment[variable], !value.isEmpty else {
                    throw .missingAPIKey(endpoint: endpoint.name, variable: variable)
                }
                key = value
            }
            self.endpoints[endpoint.name] = EndpointState(config: endpoint, apiKey: key, breaker: breaker)
        }
        self.http = http
        self.retry = retry
        self.budget = budget
        rng = SeededGenerator(seed: seed)
    }

    public func chat(_ endpointName: String, _ request: ChatRequest) async throws(LLMError) -> ChatResponse {
        guard let endpoint = endpoints[endpointName]?.config else { throw .unknownEndpoint(endpointName) }
        if let why = budget.exhausted { throw .budgetExhausted(why) }
        await acquire(endpointName)
        defer { release(endpointName) }
        var request = request
        if request.model.isEmpty { request.model = endpoint.model }
        let http = HTTPRequest(
            url: endpoint.url.trimmingSuffix("/") + ChatProtocol.path(endpoint.style),
            headers: ChatProtocol.headers(endpoint.style, apiKey: endpoints[endpointName]?.apiKey),
            body: ChatProtocol.body(endpoint.style, request),
            timeoutMilliseconds: endpoint.timeoutMilliseconds)
        var attempt = 0
        while true {
            attempt += 1
            if Task.isCancelled { throw .cancelled(endpoint: endpointName) }
            let now = MonotonicTime.now()
            guard endpoints[endpointName]!.breaker.allow(now: now) else {
                var wait: Int64 = 0
                if case .open(let until) = endpoints[endpointName]!.breaker.state { wait = max(0, until - now) }
                throw .circuitOpen(endpoint: endpointName, retryAfterMilliseconds: wait, last: endpoints[endpointName]!.lastFailure)
            }
            let failure: RetryPolicy.Failure
            let detail: String
            switch await self.http.send(http) {
            case .success(let response):
                do {
                    let chat = try ChatProtocol.parse(endpoint.style, status: response.status, body: response.body,
                                                      retryAfter: response.headers["retry-after"])
                    endpoints[endpointName]!.breaker.record(success: true, now: .now())
                    budget.charge(chat.usage, price: endpoint.price)
                    let total = usage[endpointName] ?? TokenUsage(promptTokens: 0, completionTokens: 0)
                    usage[endpointName] = TokenUsage(promptTokens: total.promptTokens + chat.usage.promptTokens,
                                                     completionTokens: total.completionTokens + chat.usage.completionTokens)
                    return chat
                } catch {
                    failure = error.retryFailure
                    detail = "POST \(http.url): \(error.description)"
                }
            case .failure(.cancelled):
                throw .cancelled(endpoint: endpointName)
            case .failure(let error):
                failure = error.retryFailure
                detail = "POST \(http.url): \(error.description)"
            }
            endpoints[endpointName]!.lastFailure = scrub(detail, endpointName)
            // Only the endpoint's own trouble counts against it, not a request it refuses.
            if RetryPolicy.isRetryable(failure) { endpoints[endpointName]!.breaker.record(success: false, now: .now()) }
            switch retry.decide(attempt: attempt, failure: failure, using: &rng) {
            case .retry(let delay):
                try? await Task.sleep(for: .milliseconds(delay))
            case .giveUp:
                if RetryPolicy.isRetryable(failure) {
                    throw .unavailable(endpoint: endpointName, attempts: attempt, last: scrub(detail, endpointName))
                }
                throw .failed(endpoint: endpointName, attempts: attempt, last: scrub(detail, endpointName))
            }
        }
    }

    /// Error text with the endpoint's API key blanked out (a server may echo it back).
    private func scrub(_ text: String, _ endpoint: String) -> String {
        guard let key = endpoints[endpoint]?.apiKey, !key.isEmpty else { return text }
        return text.replacingOccurrences(of: key, with: "***")
    }

    private func acquire(_ endpoint: String) async {
        if endpoints[endpoint]!.inFlight < endpoints[endpoint]!.config.concurrency {
            endpoints[endpoint]!.inFlight += 1
            return
        }
        await withCheckedContinuation { endpoints[endpoint]!.waiting.append($0) }
    }

    private func release(_ endpoint: String) {
        if endpoints[endpoint]!.waiting.isEmpty {
            endpoints[endpoint]!.inFlight -= 1
        } else {
            // Hand the slot straight to the next waiter.
            endpoints[endpoint]!.waiting.removeFirst().resume()
        }
    }
}

extension String {
    func trimmingSuffix(_ suffix: String) -> String {
        hasSuffix(suffix) ? String(dropLast(suffix.count)) : self
    }
}
