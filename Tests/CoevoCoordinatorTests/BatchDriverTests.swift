@testable import CoevoCoordinator
import CoevoCore
import CoevoStore
import Foundation
import Testing

/// A batch made as it goes: at most a window ahead, the same jobs as made at once, and
/// resumed from what the store holds.
@Suite struct BatchDriverTests {
    static func config(jobs: Int) -> ExperimentConfig {
        var config = ExperimentConfig()
        config.workload.jobs = jobs
        config.workload.payloadBytes = 8
        return config
    }

    static func result(_ job: Job) -> AppliedResult { AppliedResult(job: job, outcome: JobOutcome(status: .succeeded, output: Data())) }

    @Test func itMakesAWindowAheadAndRefillsAtHalf() {
        let window = BatchDriver.minimumWindow
        var driver = BatchDriver(config: Self.config(jobs: window * 2 + 10), run: "r", stored: .init())
        var ids: JobID = 1
        let first = driver.start(ids: &ids, at: 0)
        #expect(first.jobs.count == window && first.requeued.isEmpty && ids == JobID(window) + 1)
        // Half the window finishes, less one: nothing new; the next one refills to a full window.
        for job in first.jobs.prefix(window / 2 - 1) { #expect(driver.completed(Self.result(job), ids: &ids, at: 0).jobs.isEmpty) }
        let refill = driver.failed(first.jobs[window / 2 - 1].id, reason: "lost", ids: &ids, at: 0)
        #expect(refill.jobs.count == window / 2 && refill.jobs.first?.id == JobID(window) + 1)
        // Indices follow on, and each job is the one a plan made at once would hold.
        let config = Self.config(jobs: window * 2 + 10)
        #expect(refill.jobs.first == WorkloadPlan.job(window, for: config, run: "r", id: JobID(window) + 1))
        #expect(!driver.isFinished)
    }

    /// The window follows the workers' slots: more slots are filled at once, and fewer
    /// let what was made drain before the next refill.
    @Test func theWindowFollowsTheWorkersSlots() {
        let small = BatchDriver.minimumWindow
        var driver = BatchDriver(config: Self.config(jobs: 1_000_000), run: "r", stored: .init())
        var ids: JobID = 1
        let first = driver.start(ids: &ids, at: 0)
        #expect(first.jobs.count == small)
        // A thousand workers of 64 slots join: four times their slots are made ahead.
        let grown = driver.capacityChanged(slots: 64_000, ids: &ids, at: 0)
        #expect(grown.jobs.count == 256_000 - small && driver.window == 256_000)
        #expect(grown.jobs.first?.id == JobID(small) + 1)
        // Fewer slots than the minimum need: the minimum, and nothing new until the
        // jobs made drain to half of it.
        #expect(driver.capacityChanged(slots: 8, ids: &ids, at: 0).jobs.isEmpty && driver.window == small)
        for job in (first.jobs + grown.jobs).prefix(256_000 - small / 2 - 1) {
            #expect(driver.completed(Self.result(job), ids: &ids, at: 0).jobs.isEmpty)
        }
        #expect(driver.completed(Self.result(grown.jobs.last!), ids: &ids, at: 0).jobs.count == small / 2)
    }

    @Test func aResumedBatchRequeuesWhatWasOpenAndMakesTheRest() {
        let config = Self.config(jobs: 10)
        let stored = (0..<4).map { WorkloadPlan.job($0, for: config, run: "r", id: JobID(100 + $0)) }
        var driver = BatchDriver(config: config, run: "r",
                                 stored: CoevoStore.RunJobs(unfinished: [(stored[3], 1)], succeeded: [100, 101], failed: [102]))
        var ids: JobID = 500
        let step = driver.start(ids: &ids, at: 0)
        #expect(step.requeued.map(\.job.id) == [103] && step.requeued.first?.attempts == 1)
        #expect(step.jobs.map(\.id) == Array(500..<506))
        #expect(step.jobs.first == WorkloadPlan.job(4, for: config, run: "r", id: 500), "index 4 comes next")
        for job in [stored[3]] + step.jobs {
            #expect(!driver.isFinished)
            #expect(driver.completed(Self.result(job), ids: &ids, at: 0).jobs.isEmpty)
        }
        #expect(driver.isFinished && ids == 506)
    }
}
