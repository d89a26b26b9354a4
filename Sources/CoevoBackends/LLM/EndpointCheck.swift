import CoevoCore
import Foundation

/// Asks each endpoint a config names for one token before a run starts, so a wrong URL,
/// model name or key, or a server that is not up, is said at once with the URL and the
/// server's words rather than found out by deferrals half an hour later. A one-token chat
/// call rather than `GET /v1/models`: it is the path, model and key the run will use, and
/// every OpenAI-compatible and Anthropic server answers it.
public enum EndpointCheck {
    /// Why `endpoint` cannot serve the run, or nil when it answered. A fault of the
    /// endpoint's own (no connection, 5xx, 429, a timeout) is asked again, `attempts`
    /// times a second apart, so a server that is just coming up is not refused.
    public static func problem(_ endpoint: LLMJob.Endpoint, http: CurlClient, attempts: Int = 3,
                               environment: [String: String] = ProcessInfo.processInfo.environment) async -> String? {
        guard let style = ChatAPIStyle(rawValue: endpoint.api) else { return "endpoint '\(endpoint.name)': unknown api '\(endpoint.api)'" }
        var key: String?
        if let variable = endpoint.apiKeyEnv {
            guard let value = environment[variable], !value.isEmpty else {
                return LLMError.missingAPIKey(endpoint: endpoint.name, variable: variable).description
            }
            key = value
        }
        let url = endpoint.url + ChatProtocol.path(style)
        let request = ChatRequest(model: endpoint.model, messages: [ChatMessage(role: "user", content: "Say OK.")],
                                  maxTokens: 1, temperature: 0)
        var why = ""
        for attempt in 1...max(1, attempts) {
            if attempt > 1 { try? await Task.sleep(for: .seconds(1)) }
            let response = await http.send(HTTPRequest(url: url, headers: ChatProtocol.headers(style, apiKey: key),
                                                       body: ChatProtocol.body(style, request),
                                                       timeoutMilliseconds: min(endpoint.timeoutMs, 60_000)))
            let failure: RetryPolicy.Failure
            switch response {
            case .success(let answer):
                do {
                    _ = try ChatProtocol.parse(style, status: answer.status, body: answer.body, retryAfter: nil)
                    return nil
                } catch {
                    (why, failure) = (Self.explain(error, status: answer.status, keyVariable: endpoint.apiKeyEnv, style: style), error.retryFailure)
                }
            case .failure(let error):
                (why, failure) = (error.description, error.retryFailure)
            }
            if !RetryPolicy.isRetryable(failure) { break }
        }
        if let key, !key.isEmpty { why = why.replacingOccurrences(of: key, with: "***") }
        return "endpoint '\(endpoint.name)' (model '\(endpoint.model)') did not answer a one-token call: POST \(url): \(why)"
    }

    /// The server's words, with what a 404 or a refused key most likely means.
    private static func explain(_ error: ChatError, status: Int, keyVariable: String?, style: ChatAPIStyle) -> String {
        var why = error.description
        if status == 404 { why += " (the URL is the server's base, e.g. http://HOST:PORT or http://HOST:PORT/v1: coevo adds \(ChatProtocol.path(style)))" }
        if status == 401 || status == 403 {
            why += keyVariable.map { " (the key in $\($0) was refused)" } ?? " (the server wants a key: set api_key_env)"
        }
        return why
    }

    /// The problems of every endpoint, checked at once, in the order given.
    public static func problems(_ endpoints: [LLMJob.Endpoint], http: CurlClient = CurlClient()) async -> [String] {
        await withTaskGroup(of: (Int, String?).self) { group in
            for (index, endpoint) in endpoints.enumerated() {
                group.addTask { (index, await problem(endpoint, http: http)) }
            }
            var found: [(Int, String)] = []
            for await (index, problem) in group { if let problem { found.append((index, problem)) } }
            return found.sorted { $0.0 < $1.0 }.map(\.1)
        }
    }
}
