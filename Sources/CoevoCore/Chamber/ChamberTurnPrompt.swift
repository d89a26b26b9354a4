import Foundation

/// How a chamber turn is put to a real model, and how its reply becomes the turn's
/// result. The answer is read strictly from the last `ANSWER:` line (else the last line):
/// for a numeric task, the last number in it; otherwise the line's words bar a few fillers
/// ("the answer is", "it's"), in `AnswerNormalizer` form, the form the engine compares, so
/// a line that hedges ("Friday, not Thursday") or echoes the question ("yes or no") is
/// wrong. A critique is `wrong` only when the reply's verdict is that and nothing else
/// ("right or wrong" is no verdict: `ok`); lessons are one per line.
public enum ChamberTurnPrompt {
    /// Every agent's persona at first; forks and seeds add the niche they specialise in.
    public static let persona = "You are a careful problem solver."

    public static func call(for request: TurnRequest) -> (system: String, prompt: String) {
        var system = (request.persona.isEmpty ? Self.persona : request.persona) + " Answer briefly."
        if !request.insights.isEmpty {
            system += "\nLessons shared by your team:\n" + request.insights.map { "- \($0)" }.joined(separator: "\n")
        }
        let question = "Question: \(request.question)"
        let finish = "End with a line: ANSWER: <your answer>"
        let prompt: String
        switch request.action {
        case .answer:
            prompt = "\(question)\n\(finish)"
        case .critique:
            prompt = "\(question)\nA teammate answered: \(request.othersAnswers.first ?? "")\nIs that answer right or wrong? Reply with one word: right or wrong."
        case .revise:
            var context = "Your answer was: \(request.ownAnswer)"
            if !request.othersAnswers.isEmpty { context += "\nYour teammates answered: \(request.othersAnswers.joined(separator: "; "))" }
            if !request.critique.isEmpty { context += "\nA reviewer judged your answer: \(request.critique)" }
            prompt = "\(question)\n\(context)\nGive your final answer. \(finish)"
        case .reflect:
            prompt = """
                \(question)
                Outcome: \(request.outcome)
                You answered: \(request.ownAnswer.isEmpty ? "nothing" : request.ownAnswer)
                In one sentence: why did it go this way, and what would you do differently?
                """
        case .distil:
            var seen = "\(question)\nOutcome: \(request.outcome)\nYour team's answers:\n"
                + request.othersAnswers.map { "- \($0)" }.joined(separator: "\n")
            if !request.reflections.isEmpty {
                seen += "\nTheir reflections:\n" + request.reflections.map { "- \($0)" }.joined(separator: "\n")
            }
            prompt = seen + "\nWrite at most \(max(1, request.count)) short lesson(s), one per line, that would help solve questions like this one."
        case .note:
            prompt = """
                Your latest attempt was on this question. \(question)
                You answered \(request.ownAnswer.isEmpty ? "nothing" : request.ownAnswer), which was \(request.outcome).
                What worked and what did not? Write one short lesson for your next attempts.
                """
        case .consolidate:
            prompt = "Lessons your team holds on questions like this one (\(question)):\n"
                + request.othersAnswers.map { "- \($0)" }.joined(separator: "\n")
                + "\nMerge them into at most \(max(1, request.count)) short, general lessons, one per line."
        }
        return (system, prompt)
    }

    /// The `llm.chat` job of a turn on the model backend: agent i calls endpoint i mod n
    /// of the `agent` pool (then the rest in order), seeded by the turn's call name, which
    /// the job carries so a resumed run finds its result.
    public static func job(for request: TurnRequest, settings: ChamberSettings, pool: [LLMJob.Endpoint]) -> LLMJob {
        let key = callName(request)
        let (system, prompt) = call(for: request)
        let (endpoint, fallbacks) = LLMJob.Endpoint.assign(agent: request.agent, pool: pool)
        return LLMJob(endpoint: endpoint, system: system, prompt: prompt, maxTokens: settings.maxTokens,
                      temperature: settings.temperature, seed: AgentCall.seed(runSeed: settings.seed, key: key),
                      call: key, fallbacks: fallbacks, role: "agent")
    }

    /// A turn's name: its task, round and team member, unique in a run.
    public static func callName(_ request: TurnRequest) -> String {
        "t\(request.task).r\(request.round).m\(request.member)"
    }

    public static func result(for request: TurnRequest, reply: String, tokens: Int) -> TurnResult {
        switch request.action {
        case .answer, .revise:
            return TurnResult(text: reading(finalAnswer(reply), expecting: request.correctAnswer), tokens: tokens)
        case .critique:
            return TurnResult(text: verdict(reply), tokens: tokens)
        case .reflect:
            return TurnResult(text: CodreamCase.reflection(in: reply) ?? "", tokens: tokens)
        case .distil, .note, .consolidate:
            let lessons = reply.split(whereSeparator: \.isNewline).map(Self.withoutBullet).filter { !$0.isEmpty }
            return TurnResult(text: lessons.joined(separator: "\n"), tokens: tokens)
        }
    }

    /// Words a final-answer line may wrap its answer in.
    static let fillers: Set<Substring> = ["the", "final", "answer", "is", "it", "its", "s", "so"]

    /// The answer a final-answer line gives, in normal form.
    static func reading(_ line: String, expecting expected: String) -> String {
        if ExactArithmetic.evaluate(expected) != nil {
            return ReplyFormat.lastNumber(in: line, first: false) ?? AnswerNormalizer.normalize(line)
        }
        return AnswerNormalizer.words(line).filter { !fillers.contains($0) }.joined(separator: " ")
    }

    /// `wrong` when the reply judges the answer wrong (or not right) and says nothing for it, else `ok`.
    static func verdict(_ reply: String) -> String {
        let words = AnswerNormalizer.words(reply)
        var said: Set<String> = []
        for (index, word) in words.enumerated() {
            let negated = index > 0 && words[index - 1] == "not"
            switch word {
            case "wrong", "incorrect": said.insert(negated ? "right" : "wrong")
            case "right", "correct": said.insert(negated ? "wrong" : "right")
            default: break
            }
        }
        return said == ["wrong"] ? "wrong" : "ok"
    }


    /// A lesson line without its list marker ("-", "*", "1.", "2)").
    static func withoutBullet(_ line: Substring) -> String {
        var text = line.trimmingCharacters(in: .whitespaces)
        while let first = text.first, "-*•".contains(first) { text.removeFirst() }
        let digits = text.prefix { $0.isNumber }
        if !digits.isEmpty, let marker = text.dropFirst(digits.count).first, marker == "." || marker == ")" {
            text.removeFirst(digits.count + 1)
        }
        return text.trimmingCharacters(in: .whitespaces)
    }

    /// The text after the last `ANSWER:`, else the reply's last non-empty line.
    static func finalAnswer(_ reply: String) -> String {
        ReplyFormat.line(after: "answer:", in: reply.replacingOccurrences(of: "*", with: ""))
            ?? reply.split(whereSeparator: \.isNewline).last.map(String.init) ?? ""
    }
}
