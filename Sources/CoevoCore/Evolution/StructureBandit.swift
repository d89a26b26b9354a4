/// Chooses a collaboration structure per niche by Thompson sampling over Beta posteriors
/// of team success, learned online.
public struct StructureBandit: Hashable, Sendable {
    public let nicheCount: Int
    /// successes and failures per (niche, structure), flat.
    private var counts: [UInt32]
    private static let all = CollaborationStructure.allCases

    public init(nicheCount: Int) {
        self.nicheCount = nicheCount
        counts = Array(repeating: 0, count: nicheCount * Self.all.count * 2)
    }

    private func slot(_ niche: Int, _ s: CollaborationStructure) -> Int {
        (niche * Self.all.count + Self.all.firstIndex(of: s)!) * 2
    }

    public func posterior(niche: Int, _ s: CollaborationStructure) -> (alpha: Double, beta: Double) {
        let i = slot(niche, s)
        return (Double(counts[i]) + 1, Double(counts[i + 1]) + 1)
    }

    /// One Beta draw per allowed structure; the highest draw wins (ties: earlier in `allowed`).
    public func choose<G: RandomNumberGenerator>(niche: Int, allowed: [CollaborationStructure], using rng: inout G) -> CollaborationStructure {
        var best = allowed[0]
        var bestDraw = -1.0
        for s in allowed {
            let (a, b) = posterior(niche: niche, s)
            let draw = Distributions.beta(a, b, using: &rng)
            if draw > bestDraw { bestDraw = draw; best = s }
        }
        return best
    }

    public mutating func record(niche: Int, _ s: CollaborationStructure, success: Bool) {
        counts[slot(niche, s) + (success ? 0 : 1)] += 1
    }
}
