/// An exact fraction of 64-bit integers, always in lowest terms with a positive
/// denominator. Every operation reports overflow instead of wrapping, so a verifier never
/// calls a wrong answer right.
public struct Rational: Hashable, Sendable, CustomStringConvertible {
    public let numerator: Int64
    public let denominator: Int64

    public init?(_ numerator: Int64, _ denominator: Int64 = 1) {
        guard denominator != 0 else { return nil }
        let sign: Int64 = denominator < 0 ? -1 : 1
        let (n, o1) = numerator.multipliedReportingOverflow(by: sign)
        let (d, o2) = denominator.multipliedReportingOverflow(by: sign)
        guard !o1 && !o2 else { return nil }
        let g = Self.gcd(n.magnitude, d.magnitude)
        self.numerator = n / Int64(g)
        self.denominator = d / Int64(g)
    }

    static func gcd(_ a: UInt64, _ b: UInt64) -> UInt64 {
        var (a, b) = (a, b)
        while b != 0 { (a, b) = (b, a % b) }
        return max(a, 1)
    }

    public var description: String { denominator == 1 ? "\(numerator)" : "\(numerator)/\(denominator)" }

    public static func + (a: Rational, b: Rational) -> Rational? {
        let (x, o1) = a.numerator.multipliedReportingOverflow(by: b.denominator)
        let (y, o2) = b.numerator.multipliedReportingOverflow(by: a.denominator)
        let (n, o3) = x.addingReportingOverflow(y)
        let (d, o4) = a.denominator.multipliedReportingOverflow(by: b.denominator)
        guard !(o1 || o2 || o3 || o4) else { return nil }
        return Rational(n, d)
    }

    public static prefix func - (a: Rational) -> Rational? {
        let (n, o) = a.numerator.multipliedReportingOverflow(by: -1)
        return o ? nil : Rational(n, a.denominator)
    }

    public static func - (a: Rational, b: Rational) -> Rational? {
        guard let negated = -b else { return nil }
        return a + negated
    }

    public static func * (a: Rational, b: Rational) -> Rational? {
        let (n, o1) = a.numerator.multipliedReportingOverflow(by: b.numerator)
        let (d, o2) = a.denominator.multipliedReportingOverflow(by: b.denominator)
        guard !o1 && !o2 else { return nil }
        return Rational(n, d)
    }

    public static func / (a: Rational, b: Rational) -> Rational? {
        guard b.numerator != 0, let inverse = Rational(b.denominator, b.numerator) else { return nil }
        return a * inverse
    }

    /// `self` to an integer power (negative powers invert); nil on overflow or 0^-n.
    public func power(_ exponent: Int64) -> Rational? {
        guard exponent.magnitude <= 64 else { return nil }
        var result = Rational(1)!
        for _ in 0..<exponent.magnitude {
            guard let next = result * self else { return nil }
            result = next
        }
        return exponent < 0 ? Rational(1)! / result : result
    }
}
