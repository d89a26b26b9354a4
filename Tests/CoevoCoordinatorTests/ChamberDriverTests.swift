@testable import CoevoCoordinator
import CoevoCore
import CoevoStore
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

    @Test func unreadableOrFailedTurnsCostAccuracyNotTheRun() {
        for failMode in [false, true] {
            var driver = ChamberDriver(settings: settings(), run: "r", timeoutMilliseconds: 1000)
            var ids: JobID = 1
            var queue = driver.start(ids: &ids, at: 0).jobs
            #expect(!queue.isEmpty)
            var handled = 0
            var events: [EventRecord] = []
            while let job = queue.first {
                queue.removeFirst()
                handled += 1
                let step = failMode
                    ? driver.failed(job.id, reason: "lease lost on all 3 attempts", ids: &ids, at: 0)
                    : driver.completed(AppliedResult(job: job, outcome: JobOutcome(status: .succeeded, output: Data([0xff, 0xff]))), ids: &ids, at: 0)
                queue += step.jobs
                events += step.events
                #expect(handled < 10_000)
            }
            #expect(driver.isFinished)
            let bad = events.filter { $0.kind == (failMode ? .turnFailed : .turnUnreadable) }
            #expect(bad.count == handled)
            let steps = events.filter { $0.kind == .chamberStep }
            #expect(steps.count == 2)
            // Every answer was empty, so no team succeeded.
            #expect(steps.allSatisfy { $0.detail.contains("\"successes\":0") })
        }
    }
}
