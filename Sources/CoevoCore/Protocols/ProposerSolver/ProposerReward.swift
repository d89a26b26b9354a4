/// How a proposer is paid for a task from its solve rate, selectable per run.
public enum ProposerReward: String, CaseIterable, Hashable, Sendable {
    /// R-Zero: `1 - 2|p - 0.5|`, highest for tasks solved half the time.
    case rZero = "r-zero"
    /// Absolute Zero: `1 - p`, but 0 when never or always solved.
    case absoluteZero = "absolute-zero"
    /// Dr. Zero: `(n - k) / (n - 1)` for k of n rollouts correct, 0 at k = 0 or k = n.
    case drZero = "dr-zero"

    /// The reward for `solved` correct attempts out of `attempts`.
    public func reward(solved: Int, attempts: Int) -> Double {
        guard attempts > 0 else { return 0 }
        let p = Double(solved) / Double(attempts)
        switch self {
        case .rZero:
            return 1 - 2 * abs(p - 0.5)
        case .absoluteZero:
            return (solved == 0 || solved == attempts) ? 0 : 1 - p
        case .drZero:
            guard attempts > 1, solved > 0, solved < attempts else { return 0 }
            return Double(attempts - solved) / Double(attempts - 1)
        }
    }

    /// R-Zero's filter: keep tasks whose solve rate lies in the band (default 0.3-0.8).
    public static func keeps(solved: Int, attempts: Int, band: ClosedRange<Double> = 0.3...0.8) -> Bool {
        attempts > 0 && band.contains(Double(solved) / Double(attempts))
    }
}
