/// How the `evolve` runtime picks the attempt it mutates (ShinkaEvolve's weighted
/// sampling): an attempt's weight is 1 / (rank + 1) for its rank by score, divided by
/// 1 + its number of children, so good attempts are tried often and no attempt is
/// mined forever. A pivoting agent draws uniformly instead, to leave its rut.
public enum ParentSelection {
    /// The chosen attempt's commit; nil (the seed) when nothing has a score yet. `scored`
    /// is the pool's attempts as `Attempt.ranked` orders them, best first.
    public static func choose<G: RandomNumberGenerator>(from scored: [Attempt], children: [String: Int], uniform: Bool,
                                                        using rng: inout G) -> String? {
        guard !scored.isEmpty else { return nil }
        if uniform { return scored[Int.random(in: 0..<scored.count, using: &rng)].commit }
        let weights = scored.enumerated().map { rank, attempt in
            1.0 / Double(rank + 1) / Double(1 + (children[attempt.commit] ?? 0))
        }
        var draw = Double.random(in: 0..<weights.reduce(0, +), using: &rng)
        for (attempt, weight) in zip(scored, weights) {
            draw -= weight
            if draw < 0 { return attempt.commit }
        }
        return scored.last!.commit
    }
}
