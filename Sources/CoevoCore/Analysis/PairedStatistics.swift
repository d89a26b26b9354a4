/// Mean and 95% confidence interval of a small sample (Student's t): over seeds, or over
/// paired differences between two modes run on the same seeds, where pairing removes
/// what the seed's world contributes to both.
public struct PairedStatistics: Hashable, Sendable {
    public let mean: Double
    public let low: Double
    public let high: Double

    public init(_ values: [Double]) {
        let n = values.count
        let average = n == 0 ? 0 : values.reduce(0, +) / Double(n)
        let variance = n < 2 ? 0 : values.reduce(0) { $0 + ($1 - average) * ($1 - average) } / Double(n - 1)
        let half = n < 2 ? 0 : Self.t95(degreesOfFreedom: n - 1) * (variance / Double(n)).squareRoot()
        mean = average
        low = average - half
        high = average + half
    }

    /// The two-sided 95% critical value of Student's t.
    static func t95(degreesOfFreedom df: Int) -> Double {
        let table = [12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228,
                     2.201, 2.179, 2.160, 2.145, 2.131, 2.120, 2.110, 2.101, 2.093, 2.086,
                     2.080, 2.074, 2.069, 2.064, 2.060, 2.056, 2.052, 2.048, 2.045, 2.042]
        return df >= 1 && df <= table.count ? table[df - 1] : 1.96
    }
}
