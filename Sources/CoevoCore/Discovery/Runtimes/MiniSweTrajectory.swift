import Foundation

/// The part of mini-swe-agent's trajectory file (`-o`) its runtime reads: how the agent
/// ended, its model calls, and per message the model's reply and its token usage. (Its
/// `instance_cost` is not read: mini-swe-agent always calls an endpoint of the config,
/// whose prices are the step's.)
struct MiniSweTrajectory: Decodable {
    struct Info: Decodable {
        struct ModelStats: Decodable {
            var apiCalls: Int?
            enum CodingKeys: String, CodingKey {
                case apiCalls = "api_calls"
            }
        }
        var exitStatus: String?
        var modelStats: ModelStats?
        enum CodingKeys: String, CodingKey {
            case exitStatus = "exit_status"
            case modelStats = "model_stats"
        }
    }

    struct Message: Decodable {
        struct Extra: Decodable {
            struct Response: Decodable {
                struct Usage: Decodable {
                    var promptTokens: Int?
                    var completionTokens: Int?
                    var totalTokens: Int?
                    enum CodingKeys: String, CodingKey {
                        case promptTokens = "prompt_tokens"
                        case completionTokens = "completion_tokens"
                        case totalTokens = "total_tokens"
                    }
                }
                var usage: Usage?
            }
            var modelResponse: String?
            var response: Response?
            enum CodingKeys: String, CodingKey {
                case modelResponse = "model_response"
                case response
            }
            init(from decoder: any Decoder) throws {
                let c = try decoder.container(keyedBy: CodingKeys.self)
                // Both vary by message kind; what does not decode is simply absent.
                modelResponse = try? c.decodeIfPresent(String.self, forKey: .modelResponse)
                response = try? c.decodeIfPresent(Response.self, forKey: .response)
            }
        }
        var extra: Extra?
        init(from decoder: any Decoder) throws {
            let c = try decoder.container(keyedBy: CodingKeys.self)
            extra = try? c.decodeIfPresent(Extra.self, forKey: .extra)
        }
        enum CodingKeys: String, CodingKey { case extra }
    }

    var info: Info
    var messages: [Message]

    /// Prompt and completion tokens over the model's replies.
    var usage: TokenUsage {
        messages.reduce(TokenUsage(promptTokens: 0, completionTokens: 0)) { sum, message in
            let usage = message.extra?.response?.usage
            return TokenUsage(promptTokens: sum.promptTokens + (usage?.promptTokens ?? 0),
                              completionTokens: sum.completionTokens + (usage?.completionTokens ?? 0))
        }
    }
}
