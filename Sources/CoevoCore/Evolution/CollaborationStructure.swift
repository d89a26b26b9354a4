/// How a team answers a task. Each structure is a small plan of agent turns, so the
/// coordinator can run the turns as jobs on workers.
public enum CollaborationStructure: String, CaseIterable, Hashable, Sendable {
    /// The anchor answers alone.
    case solo
    /// Every member answers; the majority answer wins (ties: the anchor's).
    case vote
    /// Every member answers, then every member revises having seen the others (one
    /// round); majority of the revisions.
    case debate
    /// The anchor answers, the next member critiques, the anchor revises.
    case review

    /// One agent turn of a plan.
    public struct Turn: Hashable, Sendable {
        public enum Action: String, Hashable, Sendable { case answer, critique, revise }
        /// Position in the team's member list.
        public var member: Int
        public var action: Action
    }

    /// Rounds of turns; turns within a round can run in parallel.
    public func plan(teamSize: Int) -> [[Turn]] {
        let everyone = (0..<teamSize)
        switch self {
        case .solo:
            return [[Turn(member: 0, action: .answer)]]
        case .vote:
            return [everyone.map { Turn(member: $0, action: .answer) }]
        case .debate:
            return [everyone.map { Turn(member: $0, action: .answer) },
                    everyone.map { Turn(member: $0, action: .revise) }]
        case .review:
            guard teamSize > 1 else { return [[Turn(member: 0, action: .answer)]] }
            return [[Turn(member: 0, action: .answer)], [Turn(member: 1, action: .critique)],
                    [Turn(member: 0, action: .revise)]]
        }
    }

    /// The team's final answer from its members' final answers (member order: anchor
    /// first). `vote` and `debate` take the majority of normalised answers, ties to the
    /// earliest member; `solo` and `review` take the anchor's.
    public static func finalAnswer(_ structure: CollaborationStructure, memberAnswers: [String]) -> String {
        guard let first = memberAnswers.first else { return "" }
        switch structure {
        case .solo, .review:
            return first
        case .vote, .debate:
            var counts: [String: Int] = [:]
            for answer in memberAnswers { counts[AnswerNormalizer.normalize(answer), default: 0] += 1 }
            let best = counts.values.max() ?? 0
            return memberAnswers.first { counts[AnswerNormalizer.normalize($0)] == best } ?? first
        }
    }
}
