import Foundation

/// The `evolve` runtime's mutation: perturb a few decimal numbers of a file by Gaussian
/// noise. Only numbers between `EVOLVE-BLOCK-START` and `EVOLVE-BLOCK-END` lines change when
/// the file has such markers (OpenEvolve's convention), so a task marks what may evolve.
/// Integers (loop bounds, counts) are never touched: only literals with a decimal point.
public enum NumericMutation {
    /// The text with 1 to 3 of its decimal literals moved by N(0, scale), written with as
    /// many decimals as the original (at least 4); nil when it has none to move.
    public static func mutate<G: RandomNumberGenerator>(_ text: String, scale: Double, using rng: inout G) -> String? {
        let regex = try! NSRegularExpression(pattern: #"(?<![\w.])-?\d+\.\d+(?![\w.])"#)
        let whole = NSRange(text.startIndex..., in: text)
        let window = evolveBlock(in: text) ?? whole
        let literals = regex.matches(in: text, range: window).map(\.range)
        guard !literals.isEmpty else { return nil }
        var chosen = Set<Int>()
        let count = min(literals.count, Int.random(in: 1...3, using: &rng))
        while chosen.count < count { chosen.insert(Int.random(in: 0..<literals.count, using: &rng)) }
        var result = text
        // Back to front, so earlier ranges stay valid.
        for index in chosen.sorted(by: >) {
            let range = Range(literals[index], in: result)!
            let original = String(result[range])
            let decimals = max(4, original.count - (original.firstIndex(of: ".").map { original.distance(from: original.startIndex, to: $0) + 1 } ?? original.count))
            let value = Double(original)! + scale * Distributions.normal(using: &rng)
            result.replaceSubrange(range, with: String(format: "%.\(decimals)f", value))
        }
        return result
    }

    /// The range between the marker lines, if the text has both.
    private static func evolveBlock(in text: String) -> NSRange? {
        guard let start = text.range(of: "EVOLVE-BLOCK-START"), let end = text.range(of: "EVOLVE-BLOCK-END", range: start.upperBound..<text.endIndex)
        else { return nil }
        return NSRange(start.upperBound..<end.lowerBound, in: text)
    }
}
