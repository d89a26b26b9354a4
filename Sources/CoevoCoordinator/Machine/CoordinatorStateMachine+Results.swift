import CoevoCore
import CoevoStore
import CoevoWire
import Foundation

/// How the coordinator applies what comes back: results (and deferrals, refusals and
/// timeouts, which are not results), the scheduler's decisions, the budget's charges and
/// what the run drivers say in answer.
extension CoordinatorStateMachine {
    mutating func apply(_ report: JobReport, from worker: WorkerID, routing: Data, applied: inout [JobID]) {
        let outcome = report.outcome
        switch outcome.status {
        case .deferred:
            let t = now.monotonic
            let wait = deferralWait(asked: outcome.retryAfterMilliseconds, by: worker)
            guard let (lease, events) = scheduler.deferJob(report.job, attempt: report.attempt, from: worker, until: t + wait) else {
                out.notice(.lateReport(.deferred, job: report.job, from: worker))
                return
            }
            let run = lease.job.run
            out.notice(.jobDeferred(lease.job.id, by: worker, error: outcome.error, run: run, pauseMilliseconds: wait))
            record(.jobDeferred, run: run.rawValue, job: lease.job.id, worker: worker.rawValue, detail: outcome.error)
            meters.problem("job \(lease.job.id) deferred: \(outcome.error)", in: run)
            meters.activity.note(lease.job, .deferred)
            meters.queued(lease.job.id, at: now.monotonic)
            // No wake of its own: the regular tick dispatches once the pause ends, and a
            // later deadline would replace the tick's (heartbeats and expiry would stop).
            carryOut(events)
        case .unsupported:
            // Not a result: this worker cannot run the job (no executor, or its own policy
            // refuses the endpoint, key or program). Another worker may.
            guard let (lease, events) = scheduler.unsupported(report.job, attempt: report.attempt, from: worker, reason: outcome.error) else {
                out.notice(.lateReport(.unsupported, job: report.job, from: worker))
                return
            }
            out.notice(.jobUnsupported(lease.job.id, by: worker, error: outcome.error))
            record(.jobUnsupported, run: lease.job.run.rawValue, job: lease.job.id, worker: worker.rawValue, detail: outcome.error)
            carryOut(events)
        case .timedOut:
            // Transient: another attempt, maybe on a less loaded worker, may finish in time.
            guard let (lease, events) = scheduler.retry(report.job, attempt: report.attempt, from: worker,
                                                          reason: "timed out (last: \(outcome.error))") else {
                out.notice(.lateReport(.timedOut, job: report.job, from: worker))
                return
            }
            out.notice(.jobTimedOut(lease.job.id, on: worker, error: outcome.error))
            record(.leaseLost, job: lease.job.id, worker: worker.rawValue, detail: "attempt \(report.attempt): timed out")
            carryOut(events)
        case .succeeded, .failed:
            complete(report, from: worker, routing: routing, applied: &applied)
        }
    }

    /// A result proper: applied if its lease is live, else discarded (and its model call charged).
    private mutating func complete(_ report: JobReport, from worker: WorkerID, routing: Data, applied: inout [JobID]) {
        let outcome = report.outcome
        switch scheduler.complete(report.job, attempt: report.attempt, from: worker, failed: outcome.status != .succeeded) {
        case .apply(let lease):
            meters.resultsApplied += 1
            applied.append(lease.job.id)
            // The lease began a timeout and a grace before its deadline.
            let ran = now.monotonic - lease.deadline + lease.job.timeoutMilliseconds + scheduler.settings.leaseGraceMilliseconds
            meters.activity.note(lease.job, .completed(outcome.status, seconds: Double(max(0, ran)) / 1000))
            out.store(.result(ResultRecord(
                job: lease.job.id, attempt: lease.attempt, worker: worker,
                outcome: outcome, completedAt: now.wall)))
            // Decoded once, here, for the budget and the run's driver alike.
            let result = AppliedResult(job: lease.job, outcome: outcome, worker: worker)
            if let output = result.llmOutput { charge(output, run: lease.job.run) }
            let run = lease.job.run
            if outcome.status != .succeeded {
                let problem = "job \(lease.job.id) \(outcome.status.rawValue) on worker \(worker): \(outcome.error)"
                if meters.failedResult(problem, in: run) { out.notice(.failedResult(run, problem: problem)) }
            }
            if let step = runs.completed(result, at: now.wall) { apply(step, of: run) }
        case .unknownJob:
            if strike(routing, .unknownJob(report.job, from: worker)) {
                reply(routing, .unknownJob, "no job \(report.job) was ever submitted", job: report.job)
            }
        case .alreadyFinished, .staleLease:
            // Discarded, but a model call it made was paid for all the same.
            let paid = outcome.status == .succeeded ? try? JSONDecoder().decode(LLMJobOutput.self, from: outcome.output) : nil
            if let paid { charge(paid, run: nil) }
            guard conduct.discarded(routing) else { return }
            out.notice(.lateResult(report.job, attempt: report.attempt, from: worker))
            record(.resultDiscarded, job: report.job, worker: worker.rawValue,
                   detail: "attempt \(report.attempt): lease expired or job already finished" + (paid.map { "; its call (\($0.promptTokens + $0.completionTokens) tokens) is charged" } ?? ""))
        }
    }

    /// How long a deferral holds its run back: the wait the worker names, within
    /// `CoordinatorSettings.longestDeferralMilliseconds` (a worker cannot park a run for
    /// days by naming a huge one), or the configured pause when it names none.
    private mutating func deferralWait(asked: UInt64, by worker: WorkerID) -> Int64 {
        guard asked > 0 else { return settings.deferPauseMilliseconds }
        let longest = CoordinatorSettings.longestDeferralMilliseconds
        guard asked <= UInt64(longest) else {
            out.notice(.deferralCapped(worker, askedMilliseconds: asked, longestMilliseconds: longest))
            return longest
        }
        return Int64(asked)
    }

    /// Adds a model call's usage to the budget; the first limit reached stops dispatch.
    /// `run` is nil for a discarded late result (its job is gone); `replayed` is what an
    /// earlier life of the run spent: it counts against the budget, not in this life's metrics.
    mutating func charge(_ output: LLMJobOutput, run: RunID?, replayed: Bool = false) {
        if !replayed {
            meters.activity.calls.append(JobActivity.ModelCall(endpoint: output.endpoint ?? "unknown", role: output.role ?? "-", run: run, promptTokens: output.promptTokens,
                                                        completionTokens: output.completionTokens, usd: output.costUSD))
        }
        budget.chargeCost(TokenUsage(promptTokens: output.promptTokens, completionTokens: output.completionTokens), usd: output.costUSD)
        if budgetStop == nil, let why = budget.exhausted {
            budgetStop = why
            out.notice(.budgetExhausted(why))
            record(.budgetExhausted, detail: why)
        }
    }

    /// Carries out scheduler decisions: logs, store writes, cancels, observations.
    mutating func carryOut(_ events: [SchedulerEvent]) {
        var requeuedByWorker: [WorkerID: Int] = [:]
        for event in events {
            out.append(.observe(.schedulerEvent(event, now.monotonic)))
            switch event {
            case .workerExpired(let worker, let silence):
                out.notice(.workerExpired(worker, silentMilliseconds: silence))
                peers.forget(worker)
                record(.workerExpired, worker: worker.rawValue, detail: "silent for \(silence) ms")
            case .workerLeft:
                break
            case .workerReplaced(let worker):
                record(.workerReplaced, worker: worker.rawValue)
            case .leaseLost(let job, let worker, let attempt, let reason):
                requeuedByWorker[worker, default: 0] += 1
                record(.leaseLost, job: job, worker: worker.rawValue, detail: "attempt \(attempt): \(reason.rawValue)")
                if reason == .deadline, peers.route(of: worker) != nil {
                    send(to: worker, .cancel([job], reason: "lease deadline passed"))
                }
            case .jobRequeued(let job, let run, let kind, let nextAttempt):
                meters.activity.marks.append(JobActivity.Mark(kind: kind, run: run, change: .requeued))
                meters.queued(job, at: now.monotonic)
                out.store(.requeued(job, attempts: nextAttempt - 1))
            case .jobFailed(let job, let run, let kind, let reason):
                meters.activity.marks.append(JobActivity.Mark(kind: kind, run: run, change: .failed))
                out.notice(.jobFailed(job, run: run, reason: reason))
                meters.problem("job \(job) failed: \(reason)", in: run)
                out.store(.failed(job, attempts: scheduler.settings.maxAttempts, reason: reason))
                record(.jobFailed, run: run.rawValue, job: job, detail: reason)
                if let step = runs.failed(job, of: run, reason: reason, at: now.wall) { apply(step, of: run) }
            }
        }
        for (worker, count) in requeuedByWorker.sorted(by: { $0.key < $1.key }) {
            out.notice(.leasesTakenBack(worker, count: count))
        }
    }

    mutating func submit(requeued: [(job: Job, attempts: UInt32)]) {
        for (job, attempts) in requeued { submit(job, attemptsSoFar: attempts) }
    }

    /// Queues a job, counted as submitted and timed from now until it is leased.
    private mutating func submit(_ job: Job, attemptsSoFar: UInt32 = 0) {
        scheduler.submit(job, attemptsSoFar: attemptsSoFar)
        meters.activity.note(job, .submitted)
        meters.queued(job.id, at: now.monotonic)
    }

    /// What a driver said: its new jobs into the scheduler and the store, its events into
    /// the store, its progress into the log, its exports to the shell.
    mutating func apply(_ step: DriverStep, of run: RunID) {
        if !step.jobs.isEmpty {
            for job in step.jobs { submit(job) }
            let stored = runs.jobsToStore(step.jobs, of: run)
            if !stored.isEmpty { out.store(contentsOf: stored.map { .submitted($0) }) }
        }
        if let ceiling = runs.reservationNeeded() {
            // Some of these jobs have ids the store has not reserved: reserve the next
            // block before they can be leased (dispatch comes after this).
            out.append(.reserveJobIDs(below: ceiling))
        }
        out.store(contentsOf: step.events.map { .event($0) })
        out.store(contentsOf: step.memory.map { .memory($0, run: run.rawValue) })
        if let line = step.progress { out.notice(.runProgress(run, line)) }
        if let exports = step.exports {
            out.append(.writeExports(run, directory: exports.directory, files: exports.files))
        }
    }
}
