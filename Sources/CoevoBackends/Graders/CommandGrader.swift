import Foundation

/// A grader in its own process: gets `{"answer", "expected", "task"}` as JSON on stdin,
/// answers `{"score": 0..1, "passed": bool, "detail": "..."}` on stdout. It runs in its
/// own directory, where grader-private files can live out of the agents' reach (agents run
/// as another user). A crash, a timeout or an unreadable answer is a grader error, never
/// the agent's failure.
public struct CommandGrader: Sendable {
    public var spec: CommandSpec

    public init(spec: CommandSpec) {
        self.spec = spec
    }

    public func grade(answer: String, expected: String, task: String = "") async -> Grade {
        let input = (try? JSONSerialization.data(withJSONObject: ["answer": answer, "expected": expected, "task": task])) ?? Data()
        let outcome = await CommandRunner.run(spec, input: input)
        guard outcome.succeeded else {
            let stderr = String(decoding: outcome.stderr.suffix(300), as: UTF8.self)
            return .error("grader \(outcome.summary)" + (stderr.isEmpty ? "" : ": \(stderr)"))
        }
        guard let object = try? JSONSerialization.jsonObject(with: outcome.stdout) as? [String: Any],
              let score = (object["score"] as? Double) ?? (object["score"] as? Int).map(Double.init), (0...1).contains(score)
        else {
            return .error("grader output is not {\"score\": 0..1, ...}: \(String(decoding: outcome.stdout.prefix(200), as: UTF8.self))")
        }
        return Grade(score: score, passed: object["passed"] as? Bool ?? (score >= 0.5), detail: object["detail"] as? String ?? "")
    }
}
