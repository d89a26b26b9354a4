/// A distilled lesson: produced by one agent in one CODREAM event, held by the agents it
/// was routed to, valued by how often holding it went with success.
public struct Insight: Hashable, Sendable {
    public var id: Int
    public var text: String
    public var niche: Int
    public var producer: AgentID
    /// The CODREAM event that distilled it.
    public var event: Int
    /// EWMA of the holder's outcomes on this niche while holding it (starts at 0.5).
    public var utility: Double
    public var uses: Int
    /// Set by the simulator only: how much the lesson really helps. Operators never read it.
    public var simulatedQuality: Double?
    /// Sorted, distinct FNV-1a hashes of the normalised words, computed once so the
    /// near-duplicate test on the routing path compares integers, not strings.
    public let fingerprint: [UInt64]

    public init(id: Int, text: String, niche: Int, producer: AgentID, event: Int,
                utility: Double = 0.5, uses: Int = 0, simulatedQuality: Double? = nil) {
        self.id = id
        self.text = text
        self.niche = niche
        self.producer = producer
        self.event = event
        self.utility = utility
        self.uses = uses
        self.simulatedQuality = simulatedQuality
        fingerprint = Array(Set(AnswerNormalizer.normalize(text).split(separator: " ").map { word in
            word.utf8.reduce(UInt64(0xcbf2_9ce4_8422_2325)) { ($0 ^ UInt64($1)) &* 0x100_0000_01b3 }
        })).sorted()
    }

    /// Near-duplicate test used when routing: word-set Jaccard similarity of normalised
    /// texts at or above `threshold`.
    public func isNearDuplicate(of other: Insight, threshold: Double) -> Bool {
        guard niche == other.niche else { return false }
        let a = fingerprint, b = other.fingerprint
        guard !a.isEmpty || !b.isEmpty else { return true }
        var i = 0, j = 0, shared = 0
        while i < a.count && j < b.count {
            if a[i] == b[j] { shared += 1; i += 1; j += 1 } else if a[i] < b[j] { i += 1 } else { j += 1 }
        }
        return Double(shared) / Double(a.count + b.count - shared) >= threshold
    }
}
