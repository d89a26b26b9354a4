import CoevoCore

/// STATUS on the wire: the coordinator's `LiveSummary` both ways, so the coordinator and
/// `coevo status` share one mapping.
extension StatusReplyMessage {
    /// The reply to STATUS_REQUEST: the coordinator's summary on the wire.
    public init(_ summary: LiveSummary, session: String) {
        self.init()
        resultsPerSecond = summary.jobsPerSecond
        calls = UInt64(summary.calls)
        tokens = UInt64(summary.tokens)
        usd = summary.usd
        if let max = summary.maxTokens { maxTokens = UInt64(max) }
        if let max = summary.maxUSD { maxUsd = max }
        if let max = summary.maxCalls { maxCalls = UInt64(max) }
        coordinatorSession = session
        uptimeMs = UInt64((summary.uptimeSeconds * 1000).rounded())
        queued = UInt64(summary.queued)
        leased = UInt64(summary.leased)
        resultsApplied = summary.resultsApplied
        resultsDurable = summary.resultsDurable
        workers = summary.workers.map { worker in
            .with {
                $0.workerID = worker.id
                $0.slots = UInt32(worker.slots)
                $0.leased = UInt32(worker.leased)
            }
        }
        runs = summary.runs.map { run in
            var status = Coevo_Wire_V1_RunStatus()
            status.runID = run.id
            status.total = UInt64(run.expected)
            status.jobs = UInt64(run.jobs)
            status.completed = UInt64(run.completed)
            status.failed = UInt64(run.failed)
            status.fraction = run.fraction
            if let left = run.secondsLeft { status.secondsLeft = left }
            if let problem = run.lastProblem { status.lastProblem = problem }
            if let stage = run.stage {
                status.stage = .with {
                    $0.unit = stage.unit
                    $0.current = UInt32(stage.current)
                    $0.total = UInt32(stage.total)
                    $0.phase = stage.phase
                    $0.finished = UInt32(stage.finished)
                }
            }
            return status
        }
    }
}

extension LiveSummary {
    /// The dashboard's summary from a STATUS reply: the same figures the coordinator
    /// shows on its dashboard and progress display.
    public init(_ reply: StatusReplyMessage) {
        self.init(
            uptimeSeconds: Double(reply.uptimeMs) / 1000,
            workers: reply.workers.map { Worker(id: $0.workerID, slots: Int($0.slots), leased: Int($0.leased)) },
            queued: Int(reply.queued), leased: Int(reply.leased), resultsApplied: reply.resultsApplied,
            resultsDurable: reply.resultsDurable, jobsPerSecond: reply.resultsPerSecond,
            runs: reply.runs.map { run in
                Run(id: run.runID, jobs: Int(run.jobs), expected: Int(run.total), completed: Int(run.completed), failed: Int(run.failed),
                    stage: run.hasStage ? RunStage(unit: run.stage.unit, current: Int(run.stage.current), total: Int(run.stage.total),
                                                   phase: run.stage.phase, finished: Int(run.stage.finished)) : nil,
                    fraction: run.fraction, secondsLeft: run.hasSecondsLeft ? run.secondsLeft : nil,
                    lastProblem: run.hasLastProblem ? run.lastProblem : nil)
            },
            calls: Int(reply.calls), tokens: Int(reply.tokens), usd: reply.usd,
            maxTokens: reply.hasMaxTokens ? Int(reply.maxTokens) : nil, maxUSD: reply.hasMaxUsd ? reply.maxUsd : nil,
            maxCalls: reply.hasMaxCalls ? Int(reply.maxCalls) : nil)
    }
}
