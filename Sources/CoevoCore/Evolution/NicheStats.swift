/// What the population knows of one agent on one niche: an EWMA competence and a
/// Beta(successes + 1, failures + 1) posterior over its success rate.
public struct NicheStats: Hashable, Sendable {
    /// EWMA of outcomes (1 success, 0 failure); starts at the prior mean 0.5.
    public var competence: Double
    public var successes: UInt32
    public var failures: UInt32

    public init(competence: Double = 0.5, successes: UInt32 = 0, failures: UInt32 = 0) {
        self.competence = competence
        self.successes = successes
        self.failures = failures
    }

    public var attempts: UInt32 { successes + failures }
    public var posteriorAlpha: Double { Double(successes) + 1 }
    public var posteriorBeta: Double { Double(failures) + 1 }
    public var posteriorMean: Double { posteriorAlpha / (posteriorAlpha + posteriorBeta) }

    /// Folds one outcome in with EWMA weight `alpha`.
    public mutating func record(success: Bool, alpha: Double) {
        competence += alpha * ((success ? 1 : 0) - competence)
        if success { successes += 1 } else { failures += 1 }
    }
}
