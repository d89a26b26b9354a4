import Foundation

/// The prompt of an agent's step: the task, how to work with the pool, and the heartbeats
/// the pool decided for it since its last step.
public enum DiscoveryPrompt {
    /// A heartbeat the pool attached to an agent's next step.
    public enum Heartbeat: Hashable, Sendable {
        case reflect(attempt: Attempt)
        case pivot(evaluationsWithoutBest: Int, best: Double?)
        case consolidate(notes: Int)
        case custom(name: String, prompt: String)

        public var name: String {
            switch self {
            case .reflect: "reflect"
            case .pivot: "pivot"
            case .consolidate: "consolidate"
            case .custom(let name, _): name
            }
        }
    }

    public static func make(task: String, agent: String, round: Int, rounds: Int, direction: DiscoverySettings.Direction,
                            poolBest: Double?, heartbeats: [Heartbeat]) -> String {
        var text = """
        You are agent \(agent) of a discovery pool, round \(round) of \(rounds).

        # Task
        \(task)

        # How to work
        - Your workspace is a git checkout; change the files, then submit with `coevo eval -m "what you changed"`. Submitting ends your step; the grader scores it (\(direction == .maximize ? "higher" : "lower") is better).
        - `coevo memory attempts` lists the pool's best attempts; `coevo memory notes` and `coevo memory skills` what agents learned. They are also files in `.coevo/shared/`. `coevo memory checkout best` starts over from the pool's best attempt.
        - Leave what you learn for the others: `coevo memory add-note "..."`, `coevo memory add-skill NAME --description "..." --body FILE`.
        """
        if let poolBest { text += "\n- The pool's best score so far is \(format(poolBest))." }
        for heartbeat in heartbeats {
            text += "\n\n" + section(heartbeat)
        }
        return text + "\n"
    }

    private static func section(_ heartbeat: Heartbeat) -> String {
        switch heartbeat {
        case .reflect(let attempt):
            let score = attempt.score.map(format) ?? "no score"
            return """
            # Reflect
            Your last attempt (\(attempt.commit.prefix(8)), "\(attempt.message)") was graded \(attempt.status.rawValue) with \(score). Grader feedback: \(attempt.feedback.isEmpty ? "none" : attempt.feedback)
            Before you go on, write down what this taught you with `coevo memory add-note`.
            """
        case .pivot(let count, let best):
            return """
            # Pivot
            Your last \(count) attempts did not beat your best (\(best.map(format) ?? "none")). Small changes to the same idea are not working: try a fundamentally different approach, or start from another agent's attempt (`coevo memory attempts`).
            """
        case .consolidate(let notes):
            return """
            # Consolidate
            The pool has \(notes) notes. Read them (`coevo memory notes`) and turn what keeps recurring into skills with `coevo memory add-skill`, so every agent can reuse them.
            """
        case .custom(let name, let prompt):
            return "# \(name)\n\(prompt)"
        }
    }

    static func format(_ score: Double) -> String {
        String(format: "%.6g", score)
    }
}
