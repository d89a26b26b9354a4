@testable import CoevoCoordinator
import CoevoCore
import CoevoWire
import Foundation
import Testing

/// What metrics count, driven through the state machine with a fake clock, and the
/// summary's rates and times left from snapshots given by hand.
@Suite struct JobActivityTests {
    typealias SM = CoordinatorStateMachineTests

    static func activity(_ directives: [CoordinatorDirective]) -> [JobActivity] {
        directives.compactMap { if case .observe(.activity(let a)) = $0 { return a } else { return nil } }
    }

    static func changes(_ directives: [CoordinatorDirective]) -> [String] {
        activity(directives).flatMap { $0.marks.map { mark in
            switch mark.change {
            case .completed(let status, let seconds): "\(mark.run) \(mark.kind) completed \(status.rawValue) \(seconds)"
            case .leased(let waited): "\(mark.run) \(mark.kind) leased after \(waited)"
            default: "\(mark.run) \(mark.kind) \(mark.change)"
            }
        } }
    }

    @Test func leasesResultsAndTheirRunTimesAreNotedOncePerInput() throws {
        var m = CoordinatorStateMachine(settings: SM.settings(), session: "c1",
                                        runs: [SM.batch([(SM.job(1), 0), (SM.job(2), 0), (SM.job(3), 0)])], jobIDs: 100..<200)
        #expect(Self.changes(m.handle(.start, at: SM.t(0))) == ["r noop submitted", "r noop submitted", "r noop submitted"])
        var out = m.handle(SM.from("w1/a", SM.ready("w1", session: "a", slots: 2)), at: SM.t(1000))
        // Queued at 0, leased at 1 s, when the worker came.
        #expect(Self.changes(out) == ["r noop leased after 1.0", "r noop leased after 1.0"])
        #expect(Self.activity(out).count == 1, "one observation per input")
        // Job 1 ran 1.5 s, from its lease to its result; its slot goes to job 3.
        out = m.handle(SM.from("w1/a", SM.results([(1, 1, SM.ok())])), at: SM.t(2500))
        #expect(Self.changes(out) == ["r noop completed succeeded 1.5", "r noop leased after 2.5"])
        // A heartbeat changes no job: no observation at all.
        out = m.handle(SM.from("w1/a", .heartbeat), at: SM.t(2600))
        #expect(Self.activity(out).isEmpty)
    }

    @Test func aLostLeaseIsARequeueThenAFailureAndModelCallsCarryTheirEndpoint() throws {
        let config = try SM.budgeted(maxCalls: 10)
        var m = SM.machine([SM.batch([(SM.job(1, kind: .llm, timeout: 100), 0), (SM.job(2, kind: .llm, timeout: 100), 0)], config: config)])
        _ = m.handle(SM.from("w1/a", SM.ready("w1", session: "a", slots: 1)), at: SM.t(0))
        let paid = try JSONEncoder().encode(LLMJobOutput(text: "4", promptTokens: 7, completionTokens: 3, costUSD: 0.25, endpoint: "m",
                                                           role: "solver"))
        let out = m.handle(SM.from("w1/a", SM.results([(1, 1, SM.ok(paid))])), at: SM.t(50))
        let calls = Self.activity(out).flatMap(\.calls)
        #expect(calls.count == 1 && calls[0].endpoint == "m" && calls[0].role == "solver" && calls[0].run == "r" && calls[0].promptTokens == 7 && calls[0].usd == 0.25)
        // Job 2's lease (100 ms + grace) runs out twice: requeued, then failed (max_attempts 2).
        var seen: [String] = []
        for at in stride(from: Int64(100), through: 12_000, by: 500) {
            seen += Self.changes(m.handle(SM.from("w1/a", .heartbeat), at: SM.t(at)) + m.handle(.tick, at: SM.t(at)))
        }
        #expect(seen.count == 3 && seen[0] == "r llm.chat requeued" && seen[1].hasPrefix("r llm.chat leased after 0.")
                && seen[2] == "r llm.chat failed", "\(seen)")
    }
}

@Suite struct ProgressTrackerTests {
    static func progress(finished: Int, total: Int, applied: UInt64) -> CoordinatorProgress {
        var runs: [RunID: RunProgress] = [:]
        runs["r"] = RunProgress()
        var p = CoordinatorProgress(runs: runs, workers: 1, queued: 0, leased: 0, resultsApplied: applied, resultsDurable: applied,
                                    heartbeatsReceived: 0)
        p.stages["r"] = RunStage(unit: "round", current: min(total, finished + 1), total: total, phase: "solve", finished: finished)
        return p
    }

    @Test func theTimeLeftIsAtThePaceSeenInThisLifeNotSinceTheRunBegan() throws {
        var tracker = ProgressTracker()
        // A resumed run: 5 of 10 rounds were done by an earlier life.
        var summary = tracker.summary(Self.progress(finished: 5, total: 10, applied: 0), at: 100)
        #expect(summary.runs[0].secondsLeft == nil && summary.runs[0].fraction == 0.5)
        summary = tracker.summary(Self.progress(finished: 7, total: 10, applied: 400), at: 110)
        // 2 rounds in 10 s here: 3 rounds left take 15 s.
        #expect(abs((summary.runs[0].secondsLeft ?? 0) - 15) < 1e-9)
        #expect(summary.jobsPerSecond == 40)
        #expect(summary.lines[1] == "run r: round 8/10 (solve), 70% done, 0/0 jobs, 0 failed, ETA 15s")
        summary = tracker.summary(Self.progress(finished: 10, total: 10, applied: 400), at: 111)
        #expect(summary.runs[0].secondsLeft == 0 && summary.jobsPerSecond == 0)
    }

    /// A round's share moves as its jobs finish, at the jobs a round has taken so far,
    /// and so does the time left. Before: 0% for all of round 1 and a share that moved
    /// once a round.
    @Test func aRoundUnderWayCountsItsJobsDone() {
        func progress(finished: Int, done: Int) -> CoordinatorProgress {
            var p = Self.progress(finished: finished, total: 4, applied: UInt64(done))
            p.runs["r"]!.total = done + 10
            p.runs["r"]!.completed = done
            return p
        }
        var tracker = ProgressTracker()
        _ = tracker.summary(progress(finished: 0, done: 0), at: 0)
        var summary = tracker.summary(progress(finished: 0, done: 30), at: 10)
        // No round has finished: what a round takes is not known yet, and the line says so.
        #expect(summary.runs[0].fraction == 0 && summary.runs[0].secondsLeft == nil)
        #expect(summary.lines[1].hasPrefix("run r: round 1/4 (solve, 30 jobs done), 0% done"), "\(summary.lines[1])")
        summary = tracker.summary(progress(finished: 1, done: 40), at: 20)
        #expect(summary.runs[0].fraction == 0.25 && abs((summary.runs[0].secondsLeft ?? 0) - 60) < 1e-9)
        // Round 1 took 40 jobs; 20 of round 2's are done: half of it.
        summary = tracker.summary(progress(finished: 1, done: 60), at: 30)
        #expect(summary.runs[0].fraction == 0.375 && abs((summary.runs[0].secondsLeft ?? 0) - 50) < 1e-9)
        #expect(summary.lines[1].contains("(solve, 20 jobs done), 37% done"), "\(summary.lines[1])")
        // The share is shown rounded down: 100% only once all is done (a run's last jobs
        // used to show "100% done" with 13 of 172 still out).
        for (fraction, shown) in [(0.997, 99), (1.0, 100), (0.29, 29), (0.0, 0)] {
            var run = summary.runs[0]
            run.fraction = fraction
            #expect(run.percentDone == shown, "\(fraction)")
        }
        // A round longer than the last never reads as the next one begun.
        summary = tracker.summary(progress(finished: 1, done: 200), at: 40)
        #expect(summary.runs[0].fraction < 0.5)
    }

    /// A model run's pace, under one result a second, reads per minute, not "0 results/s".
    @Test func aRateUnderOneASecondIsPerMinute() {
        #expect(LiveSummary.rate(0.4) == "24.0 results/min")
        #expect(LiveSummary.rate(40) == "40 results/s" && LiveSummary.rate(0) == "0 results/s")
        var tracker = ProgressTracker()
        _ = tracker.summary(Self.progress(finished: 0, total: 4, applied: 0), at: 0)
        let slow = tracker.summary(Self.progress(finished: 0, total: 4, applied: 4), at: 10)
        #expect(slow.lines[0].contains("; 24.0 results/min; 4 results"), "\(slow.lines[0])")
    }
}
