import CoevoCore
import Foundation

/// The two chat APIs coevo speaks.
public enum ChatAPIStyle: String, Hashable, Sendable, CaseIterable {
    /// `POST {url}/v1/chat/completions`: vLLM, llama.cpp, Ollama, OpenAI and most hosts.
    case openai
    /// `POST {url}/v1/messages` with `x-api-key` and `anthropic-version`.
    case anthropic
}

public struct ChatMessage: Hashable, Sendable, Codable {
    public var role: String
    public var content: String
    public init(role: String, content: String) {
        self.role = role
        self.content = content
    }
}

public struct ChatRequest: Hashable, Sendable {
    public var model: String
    public var system: String
    public var messages: [ChatMessage]
    public var maxTokens: Int
    public var temperature: Double
    /// Sampling seed, for servers that honour one (OpenAI-style `seed`: llama.cpp, vLLM).
    public var seed: UInt64?
    public init(model: String, system: String = "", messages: [ChatMessage], maxTokens: Int = 256, temperature: Double = 0.7,
                seed: UInt64? = nil) {
        self.model = model
        self.system = system
        self.messages = messages
        self.maxTokens = maxTokens
        self.temperature = temperature
        self.seed = seed
    }
}

public struct ChatResponse: Hashable, Sendable {
    public var text: String
    public var usage: TokenUsage
    public var finishReason: String
}

/// Why an endpoint's answer is not a usable chat response. Each maps to a retry decision.
public enum ChatError: Error, Hashable, Sendable, CustomStringConvertible {
    /// A non-2xx status; `snippet` is the start of the body (an HTML page shows up here).
    case http(status: Int, retryAfterSeconds: Double?, snippet: String)
    /// A 2xx answer whose body is not the expected JSON (cut short, or an HTML page).
    case malformed(String)

    public var description: String {
        switch self {
        case .http(let status, _, let snippet): "HTTP \(status): \(snippet)"
        case .malformed(let why): "malformed response: \(why)"
        }
    }

    public var retryFailure: RetryPolicy.Failure {
        switch self {
        case .http(let status, let retryAfter, _): .status(status, retryAfterSeconds: retryAfter)
        case .malformed(let why): .malformedBody(why)
        }
    }
}

/// Request bodies, headers and response parsing for each API style. No I/O.
public enum ChatProtocol {
    public static func path(_ style: ChatAPIStyle) -> String {
        switch style {
        case .openai: "/v1/chat/completions"
        case .anthropic: "/v1/messages"
        }
    }

    /// Headers, with the API key (from the environment, never logged) when there is one.
    public static func headers(_ style: ChatAPIStyle, apiKey: String?) -> [String] {
        var headers = ["Content-Type: application/json"]
        switch style {
        case .openai:
            if let apiKey, !apiKey.isEmpty { headers.append("Authorization: Bearer \(apiKey)") }
        case .anthropic:
            headers.append("anthropic-version: 2023-06-01")
            if let apiKey, !apiKey.isEmpty { headers.append("x-api-key: \(apiKey)") }
        }
        return headers
    }

    public static func body(_ style: ChatAPIStyle, _ request: ChatRequest) -> Data {
        var object: [String: Any] = [
            "model": request.model, "max_tokens": request.maxTokens, "temperature": request.temperature,
        ]
        let messages = request.messages.map { ["role": $0.role, "content": $0.content] }
        switch style {
        case .openai:
            object["messages"] = (request.system.isEmpty ? [] : [["role": "system", "content": request.system]]) + messages
            if let seed = request.seed { object["seed"] = seed }
        case .anthropic:
            if !request.system.isEmpty { object["system"] = request.system }
            object["messages"] = messages
        }
        return (try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])) ?? Data()
    }

    /// Reads a response. `retryAfter` is the Retry-After header's value, if any.
    public static func parse(_ style: ChatAPIStyle, status: Int, body: Data, retryAfter: String?) throws(ChatError) -> ChatResponse {
        guard (200...299).contains(status) else {
            throw .http(status: status, retryAfterSeconds: retryAfter.flatMap(parseRetryAfter), snippet: snippet(body))
        }
        guard let object = try? JSONSerialization.jsonObject(with: body) as? [String: Any] else {
            throw .malformed(body.isEmpty ? "empty body" : "not a JSON object: \(snippet(body))")
        }
        switch style {
        case .openai:
            guard let choices = object["choices"] as? [[String: Any]], let first = choices.first,
                  let message = first["message"] as? [String: Any], let text = message["content"] as? String
            else { throw .malformed("no choices[0].message.content in \(snippet(body))") }
            let usage = object["usage"] as? [String: Any]
            return ChatResponse(
                text: text,
                usage: TokenUsage(promptTokens: usage?["prompt_tokens"] as? Int ?? 0, completionTokens: usage?["completion_tokens"] as? Int ?? 0),
                finishReason: first["finish_reason"] as? String ?? "")
        case .anthropic:
            guard let content = object["content"] as? [[String: Any]] else {
                throw .malformed("no content blocks in \(snippet(body))")
            }
            let text = content.compactMap { $0["type"] as? String == "text" ? $0["text"] as? String : nil }.joined()
            let usage = object["usage"] as? [String: Any]
            return ChatResponse(
                text: text,
                usage: TokenUsage(promptTokens: usage?["input_tokens"] as? Int ?? 0, completionTokens: usage?["output_tokens"] as? Int ?? 0),
                finishReason: object["stop_reason"] as? String ?? "")
        }
    }

    /// Retry-After in seconds (the HTTP-date form is read as "unknown").
    static func parseRetryAfter(_ value: String) -> Double? {
        Double(value.trimmingCharacters(in: .whitespaces)).map { max(0, $0) }
    }

    static func snippet(_ body: Data) -> String {
        let text = String(decoding: body.prefix(200), as: UTF8.self)
        return text.replacingOccurrences(of: "\n", with: " ") + (body.count > 200 ? "…" : "")
    }
}
