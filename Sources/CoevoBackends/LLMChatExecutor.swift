import CoevoCore
import Foundation
import Synchronization

/// Runs `llm.chat` jobs: one chat call through the worker's shared libcurl client, with
/// the endpoint's retries, breaker and concurrency limit (one `LLMClient` per endpoint per
/// worker process). A failed call is a failed job with the reason; the key stays in the
/// worker's environment.
public final class LLMChatExecutor: JobExecutor {
    public var kind: JobKind { .llm }
    private let http = CurlClient()
    private let clients = Mutex<[LLMJob.Endpoint: LLMClient]>([:])
    /// Which endpoints may be called and which keys sent where: the worker's, not the job's.
    public let policy: WorkerPolicy

    public init(policy: WorkerPolicy = WorkerPolicy()) {
        self.policy = policy
    }

    public func run(payload: Data) async -> JobOutcome {
        let job: LLMJob
        do {
            job = try JSONDecoder().decode(LLMJob.self, from: payload)
        } catch {
            return JobOutcome(status: .failed, error: "llm.chat payload is not an LLMJob: \(error)")
        }
        let request = ChatRequest(model: job.endpoint.model, system: job.system,
                                  messages: [ChatMessage(role: "user", content: job.prompt)],
                                  maxTokens: job.maxTokens, temperature: job.temperature, seed: job.seed)
        // The endpoint, then its fallbacks in order: an endpoint that is down (attempts
        // exhausted on its own faults, or its breaker open) hands the call to the next.
        var down: [String] = []
        var soonest: Int64?
        // Endpoints this worker may not call are left out; when none is left the job fails
        // with what was refused and the flag that would allow it.
        let candidates = [job.endpoint] + (job.fallbacks ?? [])
        let allowed = candidates.filter { policy.refusal(for: $0) == nil }
        guard !allowed.isEmpty else {
            // UNSUPPORTED: this worker may not, another may (the coordinator retries there).
            return JobOutcome(status: .unsupported, error: candidates.compactMap(policy.refusal(for:)).joined(separator: "; "))
        }
        for endpoint in allowed {
            let client: LLMClient
            do {
                client = try self.client(for: endpoint)
            } catch {
                return JobOutcome(status: .failed, error: "\(error)")
            }
            var call = request
            call.model = endpoint.model
            do {
                let response = try await client.chat(endpoint.name, call)
                let price = Price(inputPerMillion: endpoint.priceInputPerMillion, outputPerMillion: endpoint.priceOutputPerMillion)
                let output = LLMJobOutput(text: response.text, promptTokens: response.usage.promptTokens,
                                          completionTokens: response.usage.completionTokens, costUSD: price.cost(of: response.usage),
                                          endpoint: endpoint.name, role: job.role)
                return JobOutcome(status: .succeeded, output: (try? JSONEncoder().encode(output)) ?? Data())
            } catch {
                switch error {
                case .unavailable:
                    down.append(error.description)
                case .circuitOpen(_, let wait, _):
                    down.append(error.description)
                    soonest = min(soonest ?? wait, wait)
                default:
                    return JobOutcome(status: .failed, error: error.description)
                }
            }
        }
        // Every endpoint is down: the endpoints, not the job, are at fault. Hand the job
        // back for later (after the soonest breaker closes, when one is open).
        return JobOutcome(status: .deferred, error: down.joined(separator: "; "),
                          retryAfterMilliseconds: soonest.map { UInt64(max(0, $0)) } ?? 0)
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
