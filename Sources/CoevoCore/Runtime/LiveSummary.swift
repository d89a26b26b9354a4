import Foundation

/// A running coordinator's figures as the dashboard's summary, `coevo status` and the
/// terminal progress display show them: workers, queue, each run's round and phase of
/// the total with the time left, tokens, cost and budget.
public struct LiveSummary: Codable, Sendable, Equatable {
    public struct Worker: Codable, Sendable, Equatable {
        public var id: String
        public var slots: Int
        public var leased: Int

        public init(id: String, slots: Int, leased: Int) {
            self.id = id
            self.slots = slots
            self.leased = leased
        }
    }

    public struct Run: Codable, Sendable, Equatable {
        public var id: String
        public var jobs: Int
        /// Jobs the run will have in all where known (a batch), else the jobs so far.
        public var expected: Int
        public var completed: Int
        public var failed: Int
        public var stage: RunStage?
        /// Share done, 0...1: for a protocol run its rounds finished plus the share of the
        /// round under way (its jobs done against a round's jobs so far); jobs for a batch.
        public var fraction: Double
        /// The share done in whole percent, rounded down: 100 only once it is all done.
        public var percentDone: Int { Int((fraction * 100 + 1e-9).rounded(.down)) }
        /// At the pace this coordinator has seen; nil until it has seen some.
        public var secondsLeft: Double?
        /// What last went wrong (a failed result, a deferral), with the server's words.
        public var lastProblem: String?
        /// Jobs finished in the round (or step) under way; nil for a batch.
        public var roundJobsDone: Int?

        public init(id: String, jobs: Int, expected: Int, completed: Int, failed: Int, stage: RunStage?, fraction: Double,
                    secondsLeft: Double?, lastProblem: String? = nil) {
            (self.id, self.jobs, self.expected, self.completed, self.failed) = (id, jobs, expected, completed, failed)
            (self.stage, self.fraction, self.secondsLeft, self.lastProblem) = (stage, fraction, secondsLeft, lastProblem)
        }
    }

    public var uptimeSeconds: Double
    public var workers: [Worker]
    public var queued: Int
    public var leased: Int
    public var resultsApplied: UInt64
    public var resultsDurable: UInt64
    public var jobsPerSecond: Double
    public var runs: [Run]
    public var calls: Int
    public var tokens: Int
    public var usd: Double
    public var maxTokens: Int?
    public var maxUSD: Double?
    public var maxCalls: Int?

    public init(uptimeSeconds: Double, workers: [Worker], queued: Int, leased: Int, resultsApplied: UInt64,
                resultsDurable: UInt64, jobsPerSecond: Double, runs: [Run], calls: Int, tokens: Int, usd: Double,
                maxTokens: Int?, maxUSD: Double?, maxCalls: Int?) {
        (self.uptimeSeconds, self.workers, self.queued, self.leased) = (uptimeSeconds, workers, queued, leased)
        (self.resultsApplied, self.resultsDurable, self.jobsPerSecond, self.runs) = (resultsApplied, resultsDurable, jobsPerSecond, runs)
        (self.calls, self.tokens, self.usd) = (calls, tokens, usd)
        (self.maxTokens, self.maxUSD, self.maxCalls) = (maxTokens, maxUSD, maxCalls)
    }

    public var slots: Int { workers.reduce(0) { $0 + $1.slots } }
}

extension LiveSummary {
    /// The lines the terminal display and `coevo status` print.
    public var lines: [String] {
        var lines = ["\(workers.count) worker(s), \(slots) slot(s); \(queued) queued, \(leased) leased; \(Self.rate(jobsPerSecond)); "
                     + "\(resultsApplied) results (\(resultsDurable) durable)"]
        for run in runs {
            var line = "run \(run.id): "
            if let stage = run.stage {
                let jobs = (run.roundJobsDone ?? 0) > 0 && stage.finished < stage.total ? ", \(run.roundJobsDone!) jobs done" : ""
                line += "\(stage.unit) \(stage.current)/\(stage.total) (\(stage.phase)\(jobs)), "
            }
            line += String(format: "%d%% done, %d/%d jobs, %d failed", run.percentDone, run.completed + run.failed,
                           run.expected, run.failed)
            line += ", " + (run.secondsLeft.map { "ETA \(Self.duration($0))" } ?? "ETA unknown yet")
            lines.append(line)
            if let problem = run.lastProblem { lines.append("  last problem: \(problem)") }
        }
        if calls > 0 || maxTokens != nil || maxUSD != nil {
            var line = String(format: "model: %d calls, %d tokens, $%.4f", calls, tokens, usd)
            if let maxTokens { line += ", \(max(0, maxTokens - tokens)) tokens left" }
            if let maxUSD { line += String(format: ", $%.4f left", max(0, maxUSD - usd)) }
            if let maxCalls { line += ", \(max(0, maxCalls - calls)) calls left" }
            lines.append(line)
        }
        return lines
    }

    /// A rate a reader can use: per second from 1/s up, per minute below (a model run's
    /// 0.4 results/s would print as "0 results/s").
    public static func rate(_ perSecond: Double) -> String {
        let (figure, unit) = rateParts(perSecond)
        return "\(figure) \(unit)"
    }

    /// `rate`'s figure and unit apart ("24.0", "results/min"), for a page that sets them apart.
    public static func rateParts(_ perSecond: Double) -> (figure: String, unit: String) {
        perSecond >= 1 || perSecond == 0 ? (String(format: "%.0f", perSecond), "results/s") : (String(format: "%.1f", perSecond * 60), "results/min")
    }

    public static func duration(_ seconds: Double) -> String {
        let s = Int(seconds.rounded())
        return s >= 3600 ? "\(s / 3600)h\(String(format: "%02d", s % 3600 / 60))m" : s >= 60 ? "\(s / 60)m\(String(format: "%02d", s % 60))s" : "\(s)s"
    }
}
