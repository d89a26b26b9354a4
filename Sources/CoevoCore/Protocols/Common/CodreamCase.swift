/// One CODREAM event of an LLM protocol: a task on which a pool's members split, as the
/// model is told about it. EvoChamber's CODREAM runs in two phases of model calls: every
/// member reflects on the task, the answers and the outcome; then the member strongest
/// on the niche reads all of it and distils at most `maxDistilled` insights, which
/// `Codream.route` sends on. `RoundEnd` makes the calls; this builds and reads them.
struct CodreamCase: Sendable {
    struct Member: Sendable {
        var agent: Int
        /// What the member answered, as the others may see it.
        var answer: String
        /// How it went for the member: "correct", "wrong", "held", "gave in".
        var verdict: String
        var reflection: String?
    }

    /// The pool whose members these are.
    var role: String
    var niche: Int
    /// What was asked, in a sentence.
    var task: String
    /// How it ended, in a sentence (the right answer, who got it).
    var outcome: String
    var members: [Member]
    /// The member who distils: the strongest on the niche among those who did well.
    var producer: Int

    /// Token caps: a reflection is a sentence or two, insights a few lines.
    static let reflectionTokens = 64, distilTokens = 128

    /// Stable call keys: `r<round>.codream.<role>.<case>.reflect.<agent>` and `….distil`.
    static func key(round: Int, role: String, index: Int, _ tail: String) -> String {
        "r\(round).codream.\(role).\(index).\(tail)"
    }

    func reflectPrompt(for member: Member) -> String {
        """
        Task: \(task)
        Outcome: \(outcome)
        Your answer: \(member.answer) (\(member.verdict))
        Why did it go this way, and what would you do differently next time? Answer in one or two sentences on a line starting with REFLECTION:
        """
    }

    func distilPrompt(maxInsights: Int, names: (Int) -> String) -> String {
        let answers = members.map { "- \(names($0.agent)): \($0.answer) (\($0.verdict))" }.joined(separator: "\n")
        let reflections = members.compactMap { member in member.reflection.map { "- \(names(member.agent)): \($0)" } }
        var prompt = """
            Task: \(task)
            Outcome: \(outcome)
            Your team's answers:
            \(answers)
            """
        if !reflections.isEmpty { prompt += "\nTheir reflections:\n" + reflections.joined(separator: "\n") }
        prompt += "\nWrite at most \(maxInsights) short insights that would help a teammate do well on tasks like this one, each on its own line starting with INSIGHT:"
        return prompt
    }

    /// A reflection: the text after the last `REFLECTION:`, else the reply's longest line
    /// (a reflection is only ever read by the distiller, so a reply without the marker
    /// still says something, and its longest line is rarely the "Sure!" before it); at
    /// most 240 characters.
    static func reflection(in reply: String) -> String? {
        let cleaned = reply.replacingOccurrences(of: "*", with: "")
        let lines = cleaned.split(whereSeparator: \.isNewline).map(String.init)
        let line = ReplyFormat.line(after: "reflection:", in: cleaned)
            ?? lines.max { $0.count < $1.count }
        return line.flatMap(ReplyFormat.note)
    }

    /// The insights in a distillation, at most `limit`: the text after `INSIGHT:` on each
    /// line that has the marker; without any, the reply's list items ("1.", "-", "*"),
    /// which is how small models write a list of insights (SmolLM2 almost never writes
    /// the marker), minus items that echo the prompt's `- a1: ...` lines. Prose without
    /// either is no insight: it is mostly the task retold.
    static func insights(in reply: String, limit: Int) -> [String] {
        let marked = ReplyFormat.markedLines("insight:", in: reply, limit: limit)
        guard marked.isEmpty else { return marked }
        let items = reply.split(whereSeparator: \.isNewline).compactMap { line -> String? in
            let line = line.trimmingCharacters(in: .whitespaces)
            let item = ChamberTurnPrompt.withoutBullet(Substring(line))
            guard item.count < line.count, !Self.echoesAnAnswer(item) else { return nil }
            return ReplyFormat.note(item.replacingOccurrences(of: "**", with: ""))
        }
        return Array(items.prefix(limit))
    }

    /// "a1: 42 (correct)": a line of the prompt's answer list, repeated back.
    private static func echoesAnAnswer(_ item: String) -> Bool {
        guard let colon = item.firstIndex(of: ":") else { return false }
        let head = item[..<colon].lowercased()
        return head.first == "a" && head.dropFirst().allSatisfy(\.isNumber) && head.count > 1
    }
}

/// A CODREAM event as the run keeps it (`codream.jsonl`): what happened, what each
/// member reflected, what the distiller wrote and who received it.
struct CodreamRecord: Encodable, Sendable {
    struct Member: Encodable, Sendable {
        var agent: String
        var answer: String
        var verdict: String
        var reflection: String?
    }

    var round: Int
    var role: String
    var niche: String
    var task: String
    var outcome: String
    var members: [Member]
    var distiller: String
    var insights: [String]
    var recipients: [String]
    /// Why the distillation yielded no insight (its call failed, or its reply held no
    /// list); nil when it did.
    var failure: String?
    /// The distiller's reply, kept when it yielded no insight, so a reader sees its words.
    var reply: String?
}
