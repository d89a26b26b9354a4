/// A grader's verdict. A grader that could not grade says so with `graderError`, which is
/// never the agent's failure.
public struct Grade: Hashable, Sendable {
    public var score: Double
    public var passed: Bool
    public var detail: String
    /// Set when the grader itself failed (crashed, timed out, answered nonsense).
    public var graderError: String?

    public init(score: Double, passed: Bool, detail: String = "", graderError: String? = nil) {
        self.score = score
        self.passed = passed
        self.detail = detail
        self.graderError = graderError
    }

    public static func error(_ why: String) -> Grade {
        Grade(score: 0, passed: false, detail: "", graderError: why)
    }
}
