import CoevoCore
/// A grader that asks a model to score an answer against a rubric (a StrongREJECT-style
/// 0-1 score, say) and reads the score out of its reply with `JudgeScore`. A reply with
/// no readable score, or a judge endpoint that fails, is a grader error.
public struct JudgeGrader: Sendable {
    public var endpoint: String
    public var rubric: String
    public var passAt: Double

    public init(endpoint: String, rubric: String, passAt: Double = 0.5) {
        self.endpoint = endpoint
        self.rubric = rubric
        self.passAt = passAt
    }

    public func grade(answer: String, task: String, using llm: LLMClient) async -> Grade {
        let request = ChatRequest(
            model: "", system: rubric + "\nReply with your reasoning, then a final line `Score: X` with X between 0 and 1.",
            messages: [ChatMessage(role: "user", content: "Task:\n\(task)\n\nAnswer to grade:\n\(answer)")],
            maxTokens: 256, temperature: 0)
        do {
            let reply = try await llm.chat(endpoint, request)
            guard let score = JudgeScore.parse(reply.text) else {
                return .error("judge gave no score: \(reply.text.prefix(200))")
            }
            return Grade(score: score, passed: score >= passAt, detail: String(reply.text.prefix(500)))
        } catch {
            return .error("judge endpoint failed: \(error)")
        }
    }
}
