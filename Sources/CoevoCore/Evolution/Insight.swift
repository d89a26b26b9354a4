/// A distilled lesson: produced by one agent in one CODREAM event, held by the agents it
/// was routed to, valued by how often holding it went with success.
public struct Insight: Hashable, Sendable {
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
    /// Computed once: the near-duplicate test runs on the routing path.
    public let fingerprint: WordFingerprint

    public init(id: Int, text: String, niche: Int, producer: AgentID, event: Int,
                utility: Double = 0, uses: Int = 0, simulatedLesson: Int? = nil) {
        self.id = id
        self.text = text
        self.niche = niche
        self.producer = producer
        self.event = event
        self.utility = utility
        self.uses = uses
        self.simulatedLesson = simulatedLesson
        fingerprint = WordFingerprint(text)
    }

    /// Near-duplicate test used when routing: word-set Jaccard similarity of normalised
    /// texts at or above `threshold`.
    public func isNearDuplicate(of other: Insight, threshold: Double) -> Bool {
        guard niche == other.niche else { return false }
        return fingerprint.similarity(to: other.fingerprint) >= threshold
    }
}
