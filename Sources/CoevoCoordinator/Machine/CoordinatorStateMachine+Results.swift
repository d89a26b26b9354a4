import CoevoCore
import CoevoStore
import CoevoWire
import Foundation

/// How the coordinator applies what comes back: results (and deferrals, refusals and
/// timeouts, which are not results), the scheduler's decisions, the budget's charges and
/// what the run drivers say in answer.
extension CoordinatorStateMachine {
    mutating func apply(_ result: ResultMessage, from worker: WorkerID, routing: Data, applied: inout [JobID]) {
        if result.status == .deferred {
            let t = now.monotonic
            let wait = deferralWait(asked: result.retryAfterMs, by: worker)
            guard let (lease, events) = scheduler.deferJob(result.jobID, attempt: result.attempt, from: worker, until: t + wait) else {
                out.log(.notice, "discarded a late DEFERRED for job \(result.jobID) from \(worker)")
                return
            }
            let run = lease.job.run
            out.log(.warning, "worker \(worker) deferred job \(lease.job.id) (\(result.error)); run \(run) gets no leases for \(wait) ms, other runs go on, nothing is lost")
            record(.jobDeferred, run: run.rawValue, job: lease.job.id, worker: worker.rawValue, detail: result.error)
            meters.problem("job \(lease.job.id) deferred: \(result.error)", in: run)
            meters.activity.note(lease.job, .deferred)
            meters.queued(lease.job.id, at: now.monotonic)
            // No wake of its own: the regular tick dispatches once the pause ends, and a
            // later deadline would replace the tick's (heartbeats and expiry would stop).
            carryOut(events)
            return
        }
        if result.status == .unsupported {
            // Not a result: this worker cannot run the job (no executor, or its own policy
            // refuses the endpoint, key or program). Another worker may.
            guard let (lease, events) = scheduler.unsupported(result.jobID, attempt: result.attempt, from: worker, reason: result.error) else {
                out.log(.notice, "discarded a late UNSUPPORTED for job \(result.jobID) from \(worker)")
                return
            }
            out.log(.notice, "worker \(worker) cannot run job \(lease.job.id) (\(result.error)); it is offered to workers that can")
            record(.jobUnsupported, run: lease.job.run.rawValue, job: lease.job.id, worker: worker.rawValue, detail: result.error)
            carryOut(events)
            return
        }
        if result.status == .timedOut {
            // Transient: another attempt, maybe on a less loaded worker, may finish in time.
            guard let (lease, events) = scheduler.retry(result.jobID, attempt: result.attempt, from: worker,
                                                          reason: "timed out (last: \(result.error))") else {
                out.log(.notice, "discarded a late TIMED_OUT for job \(result.jobID) from \(worker)")
                return
            }
            out.log(.notice, "job \(lease.job.id) timed out on worker \(worker) (\(result.error)); it is tried again within its attempts")
            record(.leaseLost, job: lease.job.id, worker: worker.rawValue, detail: "attempt \(result.attempt): timed out")
            carryOut(events)
            return
        }
        switch scheduler.complete(result.jobID, attempt: result.attempt, from: worker, failed: result.status != .succeeded) {
        case .apply(let lease):
            meters.resultsApplied += 1
            applied.append(lease.job.id)
            let outcome = result.outcome
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
                if meters.failedResult(problem, in: run) {
                    out.log(.warning, "run \(run): \(problem) (further failures are counted on the progress line)")
                }
            }
            if let step = runs.completed(result, at: now.wall) { apply(step, of: run) }
        case .unknownJob:
            if strike(routing, .warning, "worker \(worker) sent a result for unknown job \(result.jobID)") {
                reply(routing, .unknownJob, "no job \(result.jobID) was ever submitted", job: result.jobID)
            }
        case .alreadyFinished, .staleLease:
            // Discarded, but a model call it made was paid for all the same.
            let paid = result.status == .succeeded ? try? JSONDecoder().decode(LLMJobOutput.self, from: result.output) : nil
            if let paid { charge(paid, run: nil) }
            guard conduct.discarded(routing) else { return }
            out.log(.notice, "discarded late result for job \(result.jobID) attempt \(result.attempt) from \(worker): its lease had expired")
            record(.resultDiscarded, job: result.jobID, worker: worker.rawValue,
                   detail: "attempt \(result.attempt): lease expired or job already finished" + (paid.map { "; its call (\($0.promptTokens + $0.completionTokens) tokens) is charged" } ?? ""))
        }
    }

    /// How long a deferral holds its run back: the wait the worker names, within
    /// `CoordinatorSettings.longestDeferralMilliseconds` (a worker cannot park a run for
    /// days by naming a huge one), or the configured pause when it names none.
    private mutating func deferralWait(asked: UInt64, by worker: WorkerID) -> Int64 {
        guard asked > 0 else { return settings.deferPauseMilliseconds }
        let longest = CoordinatorSettings.longestDeferralMilliseconds
        guard asked <= UInt64(longest) else {
            out.log(.notice, "worker \(worker) asked to retry after \(asked) ms; waiting the longest allowed, \(longest) ms")
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
            out.log(.warning, "\(why): no new jobs are dispatched; running ones finish and are kept")
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
                out.log(.warning, "worker \(worker) silent for \(silence) ms: expired")
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
                    var cancel = CancelMessage()
                    cancel.jobIds = [job]
                    cancel.reason = "lease deadline passed"
                    send(to: worker, .cancel(cancel))
                }
            case .jobRequeued(let job, let run, let kind, let nextAttempt):
                meters.activity.marks.append(JobActivity.Mark(kind: kind, run: run, change: .requeued))
                meters.queued(job, at: now.monotonic)
                out.store(.requeued(job, attempts: nextAttempt - 1))
            case .jobFailed(let job, let run, let kind, let reason):
                meters.activity.marks.append(JobActivity.Mark(kind: kind, run: run, change: .failed))
                out.log(.warning, "job \(job) of run \(run) failed: \(reason)")
                meters.problem("job \(job) failed: \(reason)", in: run)
                out.store(.failed(job, attempts: scheduler.settings.maxAttempts, reason: reason))
                record(.jobFailed, run: run.rawValue, job: job, detail: reason)
                if let step = runs.failed(job, of: run, reason: reason, at: now.wall) { apply(step, of: run) }
            }
        }
        for (worker, count) in requeuedByWorker.sorted(by: { $0.key < $1.key }) {
            out.log(.info, "took back \(count) lease(s) from worker \(worker)")
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
        if let line = step.progress { out.log(.info, "\(run) \(line)") }
        if let exports = step.exports {
            out.append(.writeExports(run, directory: exports.directory, files: exports.files))
        }
    }
}
