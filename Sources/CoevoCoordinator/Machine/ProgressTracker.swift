import CoevoCore
import Foundation

/// Turns the coordinator's progress snapshots into summaries with rates, shares done and
/// times left. Pure: it is given the time with each snapshot, so tests drive it with a
/// fake clock.
///
/// A protocol run's share counts the round under way too: its jobs done against the jobs
/// a round has taken so far (jobs done by the time the finished rounds closed, over those
/// rounds), so the share and the time left move while a round runs rather than once a
/// round. Until one round has finished that is not known, and the share counts rounds.
public struct ProgressTracker: Sendable {
    /// What was first seen of a run in this coordinator's life: its pace is measured
    /// from there (a resumed run's earlier rounds took another life's time).
    private var first: [RunID: (at: Double, fraction: Double)] = [:]
    /// Where each run's round under way began: rounds finished then, jobs done by then.
    private var rounds: [RunID: (finished: Int, done: Int)] = [:]
    private var lastResults: (at: Double, applied: UInt64)?
    private var rate = 0.0

    public init() {}

    public mutating func summary(_ progress: CoordinatorProgress, at now: Double) -> LiveSummary {
        if let last = lastResults, now > last.at {
            rate = Double(progress.resultsApplied &- last.applied) / (now - last.at)
        }
        lastResults = (now, progress.resultsApplied)
        let runs = progress.runs.keys.sorted().map { id -> LiveSummary.Run in
            let counts = progress.runs[id]!
            let stage = progress.stages[id]
            let done = counts.completed + counts.failed
            var fraction = counts.expected <= 0 ? 1 : min(1, Double(done) / Double(counts.expected))
            var roundJobsDone: Int?
            if let stage {
                if rounds[id]?.finished != stage.finished { rounds[id] = (stage.finished, done) }
                let start = rounds[id]!
                roundJobsDone = done - start.done
                var within = 0.0
                if stage.finished > 0, stage.finished < stage.total, start.done > 0 {
                    within = min(0.99, Double(done - start.done) / (Double(start.done) / Double(stage.finished)))
                }
                fraction = stage.total <= 0 ? 1 : min(1, (Double(stage.finished) + within) / Double(stage.total))
            }
            if first[id] == nil { first[id] = (now, fraction) }
            let seen = first[id]!
            var left: Double?
            if fraction >= 1 {
                left = 0
            } else if fraction > seen.fraction, now > seen.at {
                left = (now - seen.at) / (fraction - seen.fraction) * (1 - fraction)
            }
            var run = LiveSummary.Run(id: id.rawValue, jobs: counts.total, expected: counts.expected, completed: counts.completed,
                                      failed: counts.failed, stage: stage, fraction: fraction, secondsLeft: left,
                                      lastProblem: progress.lastProblem[id])
            run.roundJobsDone = roundJobsDone
            return run
        }
        return LiveSummary(
            uptimeSeconds: Double(progress.uptimeMilliseconds) / 1000,
            workers: progress.slots.keys.sorted().map { LiveSummary.Worker(id: $0.rawValue, slots: progress.slots[$0]!.total,
                                                                            leased: progress.slots[$0]!.leased) },
            queued: progress.queued, leased: progress.leased, resultsApplied: progress.resultsApplied,
            resultsDurable: progress.resultsDurable, jobsPerSecond: rate, runs: runs,
            calls: progress.budget.calls, tokens: progress.budget.tokens, usd: progress.budget.usd,
            maxTokens: progress.budget.maxTokens, maxUSD: progress.budget.maxUSD, maxCalls: progress.budget.maxCalls)
    }
}
