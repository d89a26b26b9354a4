import CoevoCore
import Foundation
import Synchronization

/// Runs `llm.chat` jobs: one chat call through the worker's shared libcurl client, with
/// the endpoint's retries, breaker and concurrency limit (one `LLMClient` per endpoint per
/// worker process). A failed call is a failed job with the reason; the key stays in the
/// worker's environment.
public final class LLMChatExecutor: JobExecutor {
    public var kind: String { JobKind.llm.rawValue }
    private let http = CurlClient()
    private let clients = Mutex<[LLMJob.Endpoint: LLMClient]>([:])

    public init() {}

    public func run(payload: Data) async -> JobOutcome {
        let job: LLMJob
        do {
            job = try JSONDecoder().decode(LLMJob.self, from: payload)
        } catch {
            return JobOutcome(status: .failed, error: "llm.chat payload is not an LLMJob: \(error)")
        }
        let client: LLMClient
        do {
            client = try self.client(for: job.endpoint)
        } catch {
            return JobOutcome(status: .failed, error: "\(error)")
        }
        let request = ChatRequest(model: job.endpoint.model, system: job.system,
                                  messages: [ChatMessage(role: "user", content: job.prompt)],
                                  maxTokens: job.maxTokens, temperature: job.temperature, seed: job.seed)
        do {
            let response = try await client.chat(job.endpoint.name, request)
            let price = Price(inputPerMillion: job.endpoint.priceInputPerMillion, outputPerMillion: job.endpoint.priceOutputPerMillion)
            let output = LLMJobOutput(text: response.text, promptTokens: response.usage.promptTokens,
                                      completionTokens: response.usage.completionTokens, costUSD: price.cost(of: response.usage))
            return JobOutcome(status: .succeeded, output: (try? JSONEncoder().encode(output)) ?? Data())
        } catch {
            switch error {
            case .unavailable:
                // The endpoint, not the job, is at fault: hand the job back for later.
                return JobOutcome(status: .deferred, error: error.description)
            case .circuitOpen(_, let wait):
                return JobOutcome(status: .deferred, error: error.description, retryAfterMilliseconds: UInt64(wait))
            default:
                return JobOutcome(status: .failed, error: error.description)
            }
        }
    }

    private func client(for endpoint: LLMJob.Endpoint) throws -> LLMClient {
        try clients.withLock { cache in
            if let existing = cache[endpoint] { return existing }
            guard let style = ChatAPIStyle(rawValue: endpoint.api) else {
                throw LLMError.unknownEndpoint("\(endpoint.name) (unknown api '\(endpoint.api)')")
            }
            let config = EndpointConfig(
                name: endpoint.name, url: endpoint.url, model: endpoint.model, style: style, apiKeyEnv: endpoint.apiKeyEnv,
                concurrency: endpoint.concurrency,
                price: Price(inputPerMillion: endpoint.priceInputPerMillion, outputPerMillion: endpoint.priceOutputPerMillion),
                timeoutMilliseconds: endpoint.timeoutMs)
            var retry = RetryPolicy()
            retry.maxAttempts = endpoint.maxAttempts
            let client = try LLMClient(endpoints: [config], http: http, retry: retry,
                                       breaker: CircuitBreaker(openMilliseconds: Int64(endpoint.breakerOpenMs)),
                                       seed: UInt64(truncatingIfNeeded: endpoint.name.hashValue))
            cache[endpoint] = client
            return client
        }
    }
}
