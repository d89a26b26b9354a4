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
        self.niche = niche
        let active = population.activeIndices
        var top: [(Double, Int)] = []
        var bottom: [(Double, Int)] = []
        var competences: [Double] = []
        competences.reserveCapacity(active.count)
        var attemptSum = 0
        for index in active {
            let stats = population.stats(index, niche)
            competences.append(stats.competence)
            attemptSum += Int(stats.attempts)
            Self.keep(&top, (stats.competence, index), limit: k, better: { a, b in a.0 > b.0 || (a.0 == b.0 && a.1 < b.1) })
            Self.keep(&bottom, (stats.competence, index), limit: m, better: { a, b in a.0 < b.0 || (a.0 == b.0 && a.1 < b.1) })
        }
        strongest = top.map(\.1)
        weakest = bottom.map(\.1)
        medianCompetence = Self.median(&competences)
        let meanAttempts = active.isEmpty ? 0 : Double(attemptSum) / Double(active.count)
        underSampled = active.filter { Double(population.stats($0, niche).attempts) < meanAttempts }
    }

    /// Keeps `list` sorted best-first and at most `limit` long (insertion: limit is small).
    private static func keep(_ list: inout [(Double, Int)], _ item: (Double, Int), limit: Int,
                             better: ((Double, Int), (Double, Int)) -> Bool) {
        guard limit > 0 else { return }
        if list.count == limit {
            guard better(item, list[list.count - 1]) else { return }
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

    /// Median by quickselect (the lower middle for even counts).
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
        return values[k]
    }
}
