/// A team for one task, as population indices: anchor first.
public struct Team: Hashable, Sendable {
    public var anchor: Int
    public var complement: Int?
    public var scouts: [Int]
    public var members: [Int] { [anchor] + (complement.map { [$0] } ?? []) + scouts }
}

/// EvoChamber's niche-conditioned team: the **anchor** is the most competent agent on the
/// niche; the **complement** is, among the other strongest agents at or above the niche
/// median, the one whose
/// competence profile differs most from the anchor's (lowest cosine of the profiles
/// centred on the population's niche means, `center`); **scouts** fill the
/// rest, each the best Thompson draw (Beta posterior on the niche) among a random sample
/// of under-sampled agents, or of all remaining agents when none is under-sampled.
public enum TeamAssembler {
    public static func assemble<G: RandomNumberGenerator>(
        size: Int, snapshot: NicheSnapshot, population: Population, center: [Double], scoutCandidates: Int,
        using rng: inout G
    ) -> Team {
        precondition(size >= 1 && size <= population.activeCount, "team size must fit the population")
        let anchor = snapshot.strongest[0]
        var chosen = [anchor]  // a handful: an array beats hashing
        var complement: Int?
        if size >= 2 {
            // Strong means at or above the niche median; the most different of those.
            let others = snapshot.strongest.dropFirst()
            let strong = others.filter { population.stats($0, snapshot.niche).competence >= snapshot.medianCompetence }
            var lowest = Double.infinity
            for candidate in strong.isEmpty ? Array(others) : strong {
                let cosine = population.profileCosine(anchor, candidate, center: center)
                if cosine < lowest { lowest = cosine; complement = candidate }
            }
            if let complement { chosen.append(complement) }
        }
        var scouts: [Int] = []
        while chosen.count < size {
            var sample = candidates(from: snapshot.underSampled, excluding: chosen, count: scoutCandidates, using: &rng)
            if sample.isEmpty {
                sample = candidates(from: population.activeIndices, excluding: chosen, count: scoutCandidates, using: &rng)
            }
            var best = sample[0]
            var bestDraw = -1.0
            for candidate in sample {
                let stats = population.stats(candidate, snapshot.niche)
                let draw = Distributions.beta(stats.posteriorAlpha, stats.posteriorBeta, using: &rng)
                if draw > bestDraw { bestDraw = draw; best = candidate }
            }
            scouts.append(best)
            chosen.append(best)
        }
        return Team(anchor: anchor, complement: complement, scouts: scouts)
    }

    /// Up to `count` distinct members of `pool` not in `excluded`. A large pool is sampled
    /// by random probes (cost independent of its size); a small one is filtered whole.
    static func candidates<G: RandomNumberGenerator>(
        from pool: [Int], excluding excluded: [Int], count: Int, using rng: inout G
    ) -> [Int] {
        if pool.count <= 4 * (count + excluded.count) {
            var rest = pool.filter { !excluded.contains($0) }
            guard rest.count > count else { return rest }
            for i in 0..<count { rest.swapAt(i, Int.random(in: i..<rest.count, using: &rng)) }
            return Array(rest.prefix(count))
        }
        var picked: [Int] = []
        while picked.count < count {
            let candidate = pool[Int.random(in: 0..<pool.count, using: &rng)]
            if !excluded.contains(candidate) && !picked.contains(candidate) { picked.append(candidate) }
        }
        return picked
    }
}
