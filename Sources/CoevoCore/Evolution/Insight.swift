/// A distilled lesson: produced by one agent in one CODREAM event, held by the agents it
/// was routed to, valued by how often holding it went with success.
public struct Insight: Hashable, Sendable {
    /// How it reached its holders. Each channel has its own budget per niche and its own
    /// labelled list in a prompt, so written-out examples never crowd out lessons.
    public enum Channel: Hashable, Sendable, CaseIterable {
        /// Distilled by a model from a CODREAM event (or a heartbeat).
        case distilled
        /// Written by the protocol from an outcome ("This attack got through: ...").
        case example
    }

    public var id: Int
    public var text: String
    public var niche: Int
    public var producer: AgentID
    /// The CODREAM event that distilled it.
    public var event: Int
    /// EWMA of the advantage of its holders' outcomes on this niche when it was shown
    /// (outcome minus what their competence predicted; starts at 0, neutral).
    public var utility: Double
    public var uses: Int
    /// Set on the simulator only: which of its lessons this is (its mode and quality are
    /// the simulator's hidden truth). Operators never read it.
    public var simulatedLesson: Int?
    public var channel: Channel
    /// Computed once: the near-duplicate test runs on the routing path.
    public let fingerprint: WordFingerprint

    public init(id: Int, text: String, niche: Int, producer: AgentID, event: Int,
                utility: Double = 0, uses: Int = 0, simulatedLesson: Int? = nil, channel: Channel = .distilled) {
        self.id = id
        self.text = text
        self.niche = niche
        self.producer = producer
        self.event = event
        self.utility = utility
        self.uses = uses
        self.simulatedLesson = simulatedLesson
        self.channel = channel
        fingerprint = WordFingerprint(text)
    }

    /// Near-duplicate test used when routing: word-set Jaccard similarity of normalised
    /// texts at or above `threshold`.
    public func isNearDuplicate(of other: Insight, threshold: Double) -> Bool {
        guard niche == other.niche else { return false }
        return fingerprint.similarity(to: other.fingerprint) >= threshold
    }
}

extension Array where Element == Insight {
    /// The positions of the insights a prompt shows: of each channel, the `limit` most
    /// useful (the newer on a tie), distilled first; every position when `limit` is nil.
    public func shownIndices(limit: Int?) -> [Int] {
        guard let limit else { return [Int](indices) }
        return Insight.Channel.allCases.flatMap { channel in
            indices.filter { self[$0].channel == channel }
                .sorted { self[$0].utility != self[$1].utility ? self[$0].utility > self[$1].utility : self[$0].id > self[$1].id }
                .prefix(limit)
        }
    }
}
