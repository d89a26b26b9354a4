/// One pass over the active agents for one niche, taken once per step: who is strongest,
/// who is weakest, the median competence and who is under-sampled. Team assembly and
/// CODREAM routing read it instead of rescanning the population per task.
public struct NicheSnapshot: Sendable {
    public let niche: Int
    /// Strongest first, at most `strongest` agents (population indices).
    public let strongest: [Int]
    /// Weakest first, at most `weakest` agents.
    public let weakest: [Int]
    public let medianCompetence: Double
    /// Agents with fewer attempts on the niche than the population's mean.
    public let underSampled: [Int]

    public init(population: Population, niche: Int, strongest k: Int = 8, weakest m: Int = 32) {
        self = Self.all(population: population, niches: [niche], strongest: k, weakest: m)[niche]!
    }

    init(niche: Int, strongest: [Int], weakest: [Int], medianCompetence: Double, underSampled: [Int]) {
        self.niche = niche
        self.strongest = strongest
        self.weakest = weakest
        self.medianCompetence = medianCompetence
        self.underSampled = underSampled
    }

    /// Snapshots of several niches in two passes over the agents (agent-major, the order
    /// the statistics are stored in), instead of one strided pass per niche.
    public static func all(population: Population, niches: [Int], strongest k: Int = 8, weakest m: Int = 32) -> [Int: NicheSnapshot] {
        let active = population.activeIndices
        let count = niches.count
        let nicheCount = population.nicheCount
        var top = Array(repeating: [(Double, Int)](), count: count)
        var bottom = Array(repeating: [(Double, Int)](), count: count)
        // A candidate must beat the current k-th (m-th) to enter a list; checking that
        // number first keeps the common case to one comparison.
        var topBar = Array(repeating: -Double.infinity, count: count)
        var bottomBar = Array(repeating: Double.infinity, count: count)
        var competences = [Double](repeating: 0, count: count * active.count)
        var attemptSums = Array(repeating: 0, count: count)
        let stronger = { (a: (Double, Int), b: (Double, Int)) in a.0 > b.0 || (a.0 == b.0 && a.1 < b.1) }
        let weaker = { (a: (Double, Int), b: (Double, Int)) in a.0 < b.0 || (a.0 == b.0 && a.1 < b.1) }
        population.withStats { stats in
            for (row, index) in active.enumerated() {
                let base = index * nicheCount
                for slot in 0..<count {
                    let entry = stats[base + niches[slot]]
                    let c = entry.competence
                    competences[slot * active.count + row] = c
                    attemptSums[slot] += Int(entry.attempts)
                    if c >= topBar[slot] {
                        keep(&top[slot], (c, index), limit: k, better: stronger)
                        if top[slot].count == k { topBar[slot] = top[slot][k - 1].0 }
                    }
                    if c <= bottomBar[slot] {
                        keep(&bottom[slot], (c, index), limit: m, better: weaker)
                        if bottom[slot].count == m { bottomBar[slot] = bottom[slot][m - 1].0 }
                    }
                }
            }
        }
        let means = attemptSums.map { active.isEmpty ? 0 : Double($0) / Double(active.count) }
        var under = Array(repeating: [Int](), count: count)
        population.withStats { stats in
            for index in active {
                let base = index * nicheCount
                for slot in 0..<count where Double(stats[base + niches[slot]].attempts) < means[slot] {
                    under[slot].append(index)
                }
            }
        }
        var out: [Int: NicheSnapshot] = [:]
        for (slot, niche) in niches.enumerated() {
            var column = Array(competences[(slot * active.count)..<((slot + 1) * active.count)])
            out[niche] = NicheSnapshot(niche: niche, strongest: top[slot].map(\.1), weakest: bottom[slot].map(\.1),
                                       medianCompetence: median(&column), underSampled: under[slot])
        }
        return out
    }

    /// Keeps `list` sorted best-first and at most `limit` long (insertion: limit is small).
    private static func keep(_ list: inout [(Double, Int)], _ item: (Double, Int), limit: Int,
                             better: ((Double, Int), (Double, Int)) -> Bool) {
        guard limit > 0 else { return }
        if list.count == limit {
            guard better(item, list[limit - 1]) else { return }
            list.removeLast()
        }
        var i = list.count
        list.append(item)
        while i > 0 && better(item, list[i - 1]) {
            list[i] = list[i - 1]
            i -= 1
        }
        list[i] = item
    }

    /// Median by quickselect; for an even count, the mean of the two middle values (with
    /// the lower middle alone, the weaker of two agents would never count as below the
    /// median, and small pools would route nothing).
    static func median(_ values: inout [Double]) -> Double {
        guard !values.isEmpty else { return 0 }
        let k = (values.count - 1) / 2
        var lo = 0, hi = values.count - 1
        while lo < hi {
            let pivot = values[(lo + hi) / 2]
            var i = lo, j = hi
            while i <= j {
                while values[i] < pivot { i += 1 }
                while values[j] > pivot { j -= 1 }
                if i <= j { values.swapAt(i, j); i += 1; j -= 1 }
            }
            if k <= j { hi = j } else if k >= i { lo = i } else { break }
        }
        guard values.count % 2 == 0 else { return values[k] }
        // Everything after position k is at least values[k]; the upper middle is the least.
        return (values[k] + values[(k + 1)...].min()!) / 2
    }
}
