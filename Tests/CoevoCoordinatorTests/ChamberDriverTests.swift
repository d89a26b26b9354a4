@testable import CoevoCoordinator
import CoevoCore
import Foundation
import Testing

/// Bad input tried: every turn's output unreadable, and every turn's job failed for good.
/// The chamber records each and finishes its steps anyway.
@Suite struct ChamberDriverTests {
    func settings() -> ChamberSettings {
        var s = ChamberSettings()
        s.niches = 3
        s.agents = 6
        s.steps = 2
        s.tasksPerStep = 5
        return s
    }

    func lease(_ job: Job) -> Lease { Lease(job: job, worker: "w", attempt: 1, deadline: .zero) }

    @Test func unreadableOrFailedTurnsCostAccuracyNotTheRun() {
        for failMode in [false, true] {
            var driver = ChamberDriver(settings: settings(), run: "r", timeoutMilliseconds: 1000)
            var ids: JobID = 1
            var queue = driver.start(ids: &ids).new
            #expect(!queue.isEmpty)
            var handled = 0
            while let job = queue.first {
                queue.removeFirst()
                handled += 1
                queue += failMode
                    ? driver.failed(job.id, reason: "lease lost on all 3 attempts", ids: &ids)
                    : driver.completed(lease(job), outcome: JobOutcome(status: .succeeded, output: Data([0xff, 0xff])), ids: &ids)
                #expect(handled < 10_000)
            }
            #expect(driver.isFinished)
            let events = driver.takeEvents()
            let bad = events.filter { $0.kind == (failMode ? "turn_failed" : "turn_unreadable") }
            #expect(bad.count == handled)
            let steps = events.filter { $0.kind == "chamber_step" }
            #expect(steps.count == 2)
            // Every answer was empty, so no team succeeded.
            #expect(steps.allSatisfy { $0.detail.contains("\"successes\":0") })
        }
    }
}
