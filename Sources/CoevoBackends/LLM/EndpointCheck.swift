import CoevoCore
import Foundation

/// Asks each endpoint a config names for one token before a run starts, so a wrong URL,
/// model name or key, or a server that is not up, is said at once with the URL and the
/// server's words rather than found out by deferrals half an hour later. A one-token chat
/// call rather than `GET /v1/models`: it is the path, model and key the run will use, and
/// every OpenAI-compatible and Anthropic server answers it.
public enum EndpointCheck {
    /// Why `endpoint` cannot serve the run, or nil when it answered.
    public static func problem(_ endpoint: LLMJob.Endpoint, http: CurlClient,
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
        let response = await http.send(HTTPRequest(url: url, headers: ChatProtocol.headers(style, apiKey: key),
                                                   body: ChatProtocol.body(style, request),
                                                   timeoutMilliseconds: min(endpoint.timeoutMs, 60_000)))
        var why: String
        switch response {
        case .success(let answer):
            do {
                _ = try ChatProtocol.parse(style, status: answer.status, body: answer.body, retryAfter: nil)
                return nil
            } catch {
                why = error.description
                if answer.status == 404 { why += " (the URL is the server's base, e.g. http://HOST:PORT or http://HOST:PORT/v1: coevo adds \(ChatProtocol.path(style)))" }
                if answer.status == 401 || answer.status == 403 {
                    why += endpoint.apiKeyEnv.map { " (the key in $\($0) was refused)" } ?? " (the server wants a key: set api_key_env)"
                }
            }
        case .failure(let error):
            why = error.description
        }
        if let key, !key.isEmpty { why = why.replacingOccurrences(of: key, with: "***") }
        return "endpoint '\(endpoint.name)' (model '\(endpoint.model)') did not answer a one-token call: POST \(url): \(why)"
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
