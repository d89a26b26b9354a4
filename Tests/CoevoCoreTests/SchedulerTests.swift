import CoevoCore
import Foundation
import Testing

/// The scheduler driven by hand with a fake clock: every expectation below was worked out
/// on paper from the rules in Scheduler.swift.
@Suite struct SchedulerTests {
    let settings = SchedulerSettings(maxAttempts: 2, workerSilenceLimitMilliseconds: 3000, leaseGraceMilliseconds: 500)

    func job(_ id: JobID, run: RunID = "A", timeout: Int64 = 1000, preferring worker: WorkerID? = nil) -> Job {
        Job(id: id, run: run, kind: .noop, payload: Data([UInt8(id & 0xff)]), timeoutMilliseconds: timeout, preferredWorker: worker)
    }

    func t(_ ms: Int64) -> MonotonicTime { MonotonicTime(milliseconds: ms) }

    @Test func leasesNeverExceedAWorkersSlots() {
        var s = Scheduler(settings: settings)
        for id in 1...10 { s.submit(job(JobID(id))) }
        #expect(s.register("w1", session: "a", slots: 3, now: t(0)) == .accepted)
        let out = s.dispatch(now: t(0))
        #expect(out.count == 1)
        #expect(out[0].0 == "w1")
        #expect(out[0].1.map(\.job.id) == [1, 2, 3])
        #expect(out[0].1.allSatisfy { $0.attempt == 1 && $0.deadline == t(1500) })
        #expect(s.dispatch(now: t(1)).isEmpty)  // no free slot left
        #expect(s.queuedCount == 7 && s.leasedCount == 3)
    }

    /// 100,000 jobs, one worker holding at most 1,000: the finished set is compacted
    /// below the oldest unfinished job, so it never holds 65,536 ids, yet a late result
    /// for the first job is still known to be finished and an id never submitted is not.
    /// What the batch window follows: joins, a READY again with other slots, leaving,
    /// going silent, and a second process under a known id.
    @Test func totalSlotsFollowWorkersJoiningAndLeaving() {
        var s = Scheduler(settings: settings)
        _ = s.register("w1", session: "a", slots: 4, now: t(0))
        _ = s.register("w2", session: "b", slots: 8, now: t(0))
        #expect(s.totalSlots == 12)
        _ = s.register("w1", session: "a", slots: 2, now: t(10))
        #expect(s.totalSlots == 10)
        _ = s.disconnect("w2")
        #expect(s.totalSlots == 2)
        _ = s.register("w1", session: "c", slots: 6, now: t(5000))  // replaced after its silence
        #expect(s.totalSlots == 6)
        _ = s.expire(now: t(20_000))
        #expect(s.totalSlots == 0 && s.workerCount == 0)
    }

    @Test func finishedIdsAreCompactedAndStillRecognised() {
        var s = Scheduler(settings: settings)
        for id in 1...100_000 { s.submit(job(JobID(id))) }
        _ = s.register("w1", session: "a", slots: 1000, now: t(0))
        var held = 0
        while !s.isFinished("A") {
            for lease in s.dispatch(now: t(0)).flatMap(\.1) {
                #expect(s.complete(lease.job.id, attempt: lease.attempt, from: "w1") == .apply(lease))
            }
            held = max(held, s.finishedHeld)
        }
        // Sampled every 1,000 completions: 65,000 held, then at 65,536 everything below
        // job 65,537 (the oldest unfinished) went under the line, and 34,464 followed.
        #expect(held == 65_000)
        #expect(s.finishedHeld == 34_464 && s.progress["A"]?.completed == 100_000)
        #expect(s.complete(1, attempt: 1, from: "w1") == .alreadyFinished)
        #expect(s.complete(100_001, attempt: 1, from: "w1") == .unknownJob)
        s.submit(job(5))  // a replayed id below the line is not run again
        #expect(s.queuedCount == 0)
    }

    /// A job prefers a worker: it goes there while that worker has a free slot, and to
    /// another when not (it never waits for it); a preferred worker that is gone changes nothing.
    @Test func aPreferredWorkerGetsItsJobWhenItHasAFreeSlot() {
        var s = Scheduler(settings: settings)
        _ = s.register("w1", session: "a", slots: 1, now: t(0))
        _ = s.register("w2", session: "b", slots: 1, now: t(0))
        let first = job(1, preferring: "w2")
        let second = job(2, preferring: "w2")
        let third = job(3, preferring: "gone")
        s.submit(first)
        s.submit(second)
        s.submit(third)
        // The first dispatch starts at w1's turn: job 1 still goes to w2; job 2 finds w2 full and takes w1.
        let out = s.dispatch(now: t(0)).reduce(into: [WorkerID: [JobID]]()) { $0[$1.0] = $1.1.map(\.job.id) }
        #expect(out == ["w2": [1], "w1": [2]])
        _ = s.complete(2, attempt: 1, from: "w1")
        #expect(s.dispatch(now: t(1)).map { ($0.0, $0.1.map(\.job.id)) }.first! == ("w1", [3]))
    }

    @Test func runsAreServedRoundRobin() {
        var s = Scheduler(settings: settings)
        for id in 1...4 { s.submit(job(JobID(id), run: "A")) }
        for id in 11...12 { s.submit(job(JobID(id), run: "B")) }
        _ = s.register("w1", session: "a", slots: 5, now: t(0))
        let ids = s.dispatch(now: t(0)).flatMap { $0.1.map(\.job.id) }
        #expect(ids == [1, 11, 2, 12, 3])
    }

    @Test func resultsApplyExactlyOnce() {
        var s = Scheduler(settings: settings)
        s.submit(job(1))
        _ = s.register("w1", session: "a", slots: 1, now: t(0))
        _ = s.register("w2", session: "b", slots: 1, now: t(0))
        let lease = s.dispatch(now: t(0)).flatMap(\.1)[0]
        #expect(s.complete(1, attempt: 1, from: lease.worker == "w1" ? "w2" : "w1") == .staleLease)
        #expect(s.complete(1, attempt: 2, from: lease.worker) == .staleLease)
        #expect(s.complete(1, attempt: 1, from: lease.worker) == .apply(lease))
        #expect(s.complete(1, attempt: 1, from: lease.worker) == .alreadyFinished)
        #expect(s.complete(99, attempt: 1, from: lease.worker) == .unknownJob)
        #expect(s.progress["A"]?.completed == 1)
        #expect(s.isFinished("A"))
    }

    @Test func aSilentWorkerIsExpiredAtTheLimitAndItsJobsGoFirstToOthers() {
        var s = Scheduler(settings: settings)
        for id in 1...3 { s.submit(job(JobID(id), timeout: 60_000)) }
        _ = s.register("w1", session: "a", slots: 2, now: t(0))
        _ = s.dispatch(now: t(0))  // w1 holds 1 and 2
        _ = s.register("w2", session: "b", slots: 3, now: t(0))
        #expect(s.dispatch(now: t(0)).flatMap { $0.1.map(\.job.id) } == [3])
        s.heard(from: "w2", now: t(2900))
        #expect(s.expire(now: t(2999)).isEmpty)  // 1 ms short of the limit
        let events = s.expire(now: t(3000))
        #expect(events == [
            .workerExpired("w1", silentForMilliseconds: 3000),
            .leaseLost(1, worker: "w1", attempt: 1, reason: .workerLost),
            .jobRequeued(1, run: "A", kind: .noop, nextAttempt: 2),
            .leaseLost(2, worker: "w1", attempt: 1, reason: .workerLost),
            .jobRequeued(2, run: "A", kind: .noop, nextAttempt: 2),
        ])
        let again = s.dispatch(now: t(3000)).flatMap(\.1)
        #expect(again.map(\.job.id).sorted() == [1, 2])
        #expect(again.allSatisfy { $0.worker == "w2" && $0.attempt == 2 })
        // The expired worker's late result is refused; the new holder's is applied.
        #expect(s.complete(1, attempt: 1, from: "w1") == .staleLease)
        #expect(s.complete(1, attempt: 2, from: "w2") == .apply(again.first { $0.job.id == 1 }!))
    }

    @Test func overdueLeasesAreRequeuedThenFailAfterMaxAttempts() {
        var s = Scheduler(settings: settings)
        s.submit(job(7, timeout: 1000))
        _ = s.register("w1", session: "a", slots: 1, now: t(0))
        _ = s.dispatch(now: t(0))
        s.heard(from: "w1", now: t(1400))
        #expect(s.expire(now: t(1499)).isEmpty)
        #expect(s.expire(now: t(1500)) == [
            .leaseLost(7, worker: "w1", attempt: 1, reason: .deadline),
            .jobRequeued(7, run: "A", kind: .noop, nextAttempt: 2),
        ])
        let second = s.dispatch(now: t(1500)).flatMap(\.1)
        #expect(second.map(\.attempt) == [2])
        s.heard(from: "w1", now: t(2900))
        #expect(s.expire(now: t(3000)) == [
            .leaseLost(7, worker: "w1", attempt: 2, reason: .deadline),
            .jobFailed(7, run: "A", kind: .noop, reason: "lease lost on all 2 attempts"),
        ])
        #expect(s.progress["A"] == { var p = RunProgress(); p.total = 1; p.failed = 1; return p }())
        #expect(s.isFinished("A"))
        #expect(s.dispatch(now: t(3000)).isEmpty)
    }

    @Test func registrationTellsReconnectsDuplicatesAndRestartsApart() {
        var s = Scheduler(settings: settings)
        s.submit(job(1, timeout: 60_000))
        #expect(s.register("w1", session: "a", slots: 1, now: t(0)) == .accepted)
        _ = s.dispatch(now: t(0))
        // Same process again (reconnect): its lease stays.
        #expect(s.register("w1", session: "a", slots: 4, now: t(100)) == .resumed)
        #expect(s.lease(of: 1)?.worker == "w1")
        #expect(s.slots(of: "w1")! == (4, 1))
        // Another process with the same id while the first still talks: refused.
        #expect(s.register("w1", session: "b", slots: 1, now: t(2000)) == .duplicate)
        #expect(s.session(of: "w1") == "a")
        // The first went quiet past the limit: the newcomer replaces it, the job is requeued.
        #expect(s.register("w1", session: "b", slots: 1, now: t(3100)) == .replaced([
            .workerReplaced("w1"),
            .leaseLost(1, worker: "w1", attempt: 1, reason: .workerLost),
            .jobRequeued(1, run: "A", kind: .noop, nextAttempt: 2),
        ]))
        #expect(s.session(of: "w1") == "b")
    }

    @Test func disconnectRequeuesAtOnceAndZeroSlotsStopsLeasing() {
        var s = Scheduler(settings: settings)
        for id in 1...2 { s.submit(job(JobID(id))) }
        _ = s.register("w1", session: "a", slots: 1, now: t(0))
        _ = s.dispatch(now: t(0))
        #expect(s.register("w1", session: "a", slots: 0, now: t(10)) == .resumed)  // draining
        #expect(s.dispatch(now: t(10)).isEmpty)
        #expect(s.disconnect("w1") == [
            .workerLeft("w1"),
            .leaseLost(1, worker: "w1", attempt: 1, reason: .workerLost),
            .jobRequeued(1, run: "A", kind: .noop, nextAttempt: 2),
        ])
        #expect(s.workerCount == 0 && s.queuedCount == 2)
        #expect(s.disconnect("w1").isEmpty)
    }

    @Test func replayingAStoreIsHarmless() {
        var s = Scheduler(settings: settings)
        s.recordFinished(1, run: "A", failed: false)
        s.recordFinished(2, run: "A", failed: true)
        s.submit(job(1))  // already finished: ignored
        s.submit(job(3), attemptsSoFar: 1)
        s.submit(job(3))  // already queued: ignored
        #expect(s.progress["A"]?.total == 3)
        #expect(s.queuedCount == 1)
        _ = s.register("w1", session: "a", slots: 5, now: t(0))
        let leases = s.dispatch(now: t(0)).flatMap(\.1)
        #expect(leases.map(\.job.id) == [3])
        #expect(leases[0].attempt == 2)
        #expect(s.complete(1, attempt: 1, from: "w1") == .alreadyFinished)
    }

    @Test func workersShareQueuedJobsAcrossDispatches() {
        var s = Scheduler(settings: settings)
        for id in 1...4 { s.submit(job(JobID(id))) }
        _ = s.register("w1", session: "a", slots: 2, now: t(0))
        _ = s.register("w2", session: "b", slots: 2, now: t(0))
        let out = s.dispatch(now: t(0))
        #expect(Set(out.map(\.0)) == ["w1", "w2"])
        #expect(out.allSatisfy { $0.1.count == 2 })
    }

    @Test func dispatchWaitsForTheMinimumWorkersThenGoesOnWithFewer() {
        var settings = self.settings
        settings.minimumWorkers = 2
        var s = Scheduler(settings: settings)
        for id in 1...6 { s.submit(job(JobID(id))) }
        _ = s.register("w1", session: "a", slots: 2, now: t(0))
        #expect(s.dispatch(now: t(0)).isEmpty)  // one of two: nothing leased yet
        #expect(s.workersAwaited == 1)
        _ = s.register("w2", session: "b", slots: 2, now: t(10))
        let first = s.dispatch(now: t(10))
        #expect(Set(first.map(\.0)) == ["w1", "w2"] && first.allSatisfy { $0.1.count == 2 })
        // Losing a worker after the start does not stop dispatch: w1's jobs go to w2
        // as its slots free up.
        _ = s.disconnect("w1")
        #expect(s.workersAwaited == 0)
        let done = first.first { $0.0 == "w2" }!.1[0]
        #expect(s.complete(done.job.id, attempt: 1, from: "w2") == .apply(done))
        #expect(s.dispatch(now: t(20)).map(\.0) == ["w2"])
    }

    /// Jobs go only to workers that announced their kind; a job no free worker runs waits,
    /// first in line, while the others flow.
    @Test func aJobGoesOnlyToAWorkerThatRunsItsKind() {
        var s = Scheduler(settings: settings)
        s.submit(Job(id: 1, run: "A", kind: .sleep, payload: Data(), timeoutMilliseconds: 1000))
        s.submit(job(2))
        s.submit(job(3))
        _ = s.register("noops", session: "a", slots: 4, now: t(0), kinds: [.noop])
        var out = s.dispatch(now: t(0))
        #expect(out.flatMap { $0.1.map(\.job.id) } == [2, 3], "the sleep job waits")
        #expect(s.queuedCount == 1)
        _ = s.register("any", session: "b", slots: 4, now: t(1), kinds: [])  // announced nothing: offered anything
        out = s.dispatch(now: t(1))
        #expect(out.map(\.0) == ["any"] && out.flatMap { $0.1.map(\.job.id) } == [1])
    }

    /// UNSUPPORTED is not a result: the attempt counts, the kind is not offered to that
    /// worker again, and the job fails only when no attempt is left.
    @Test func anUnsupportedJobGoesElsewhereUntilItsAttemptsAreSpent() {
        var s = Scheduler(settings: settings)  // 2 attempts
        s.submit(Job(id: 1, run: "A", kind: .llm, payload: Data(), timeoutMilliseconds: 1000))
        _ = s.register("w1", session: "a", slots: 1, now: t(0), kinds: [.llm, .noop])
        let first = s.dispatch(now: t(0)).flatMap(\.1)
        #expect(first.map(\.worker) == ["w1"])
        #expect(s.unsupported(1, attempt: 2, from: "w1", reason: "x") == nil, "not its current attempt: nothing changes")
        let (_, events) = s.unsupported(1, attempt: 1, from: "w1", reason: "endpoint e is not allowed")!
        #expect(events == [.jobRequeued(1, run: "A", kind: .llm, nextAttempt: 2)])
        #expect(s.dispatch(now: t(1)).isEmpty, "w1 is not offered the kind again")
        _ = s.register("w2", session: "b", slots: 1, now: t(2), kinds: [.llm])
        let second = s.dispatch(now: t(2)).flatMap(\.1)
        #expect(second.map(\.worker) == ["w2"] && second.first?.attempt == 2)
        let (_, last) = s.unsupported(1, attempt: 2, from: "w2", reason: "no key")!
        #expect(last == [.jobFailed(1, run: "A", kind: .llm, reason: "no worker could run it (last: no key), after 2 attempts")])
        #expect(s.progress["A"]?.failed == 1 && s.isFinished("A"))
    }
}
