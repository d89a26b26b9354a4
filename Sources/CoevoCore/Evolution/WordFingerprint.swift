/// The set of normalised words of a text, as sorted distinct FNV-1a hashes, so that
/// near-duplicate tests (insights on the routing path, proposed tasks) compare integers,
/// not strings.
public struct WordFingerprint: Hashable, Sendable {
    public let hashes: [UInt64]

    public init(_ text: String) {
        hashes = Array(Set(AnswerNormalizer.normalize(text).split(separator: " ").map { word in
            word.utf8.reduce(UInt64(0xcbf2_9ce4_8422_2325)) { ($0 ^ UInt64($1)) &* 0x100_0000_01b3 }
        })).sorted()
    }

    /// Jaccard similarity of the two word sets (1 when both are empty).
    public func similarity(to other: WordFingerprint) -> Double {
        let a = hashes, b = other.hashes
        guard !a.isEmpty || !b.isEmpty else { return 1 }
        var i = 0, j = 0, shared = 0
        while i < a.count && j < b.count {
            if a[i] == b[j] { shared += 1; i += 1; j += 1 } else if a[i] < b[j] { i += 1 } else { j += 1 }
        }
        return Double(shared) / Double(a.count + b.count - shared)
    }
}
