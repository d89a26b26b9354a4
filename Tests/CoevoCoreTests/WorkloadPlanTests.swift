import CoevoCore
import Foundation
import Testing

@Suite struct WorkloadPlanTests {
    static func jobs(_ config: ExperimentConfig, firstID: JobID) -> [Job] {
        (0..<config.workload.jobs).map { WorkloadPlan.job($0, for: config, run: "r", id: firstID + JobID($0)) }
    }

    @Test func theSameSeedPlansTheSameJobsAndAnotherSeedDoesNot() {
        var config = ExperimentConfig()
        config.workload.jobs = 50
        config.workload.payloadBytes = 16
        let a = Self.jobs(config, firstID: 10)
        let b = Self.jobs(config, firstID: 10)
        #expect(a == b)
        #expect(a.map(\.id) == Array(10..<60))
        #expect(a.allSatisfy { $0.payload.count == 16 })
        #expect(Set(a.map(\.payload)).count == 50, "every job has its own payload")
        config.run.seed = 43
        #expect(Self.jobs(config, firstID: 10) != a)
    }

    @Test func sleepJobsCarryTheirDuration() {
        var config = ExperimentConfig()
        config.workload.kind = .sleep
        config.workload.jobs = 2
        config.workload.sleepMilliseconds = 1234
        config.workload.payloadBytes = 20
        let jobs = Self.jobs(config, firstID: 1)
        #expect(jobs.allSatisfy { SleepPayload.milliseconds(in: $0.payload) == 1234 && $0.payload.count == 20 })
        #expect(SleepPayload.milliseconds(in: Data([1, 2])) == nil)
    }

    @Test func seededGeneratorIsSplitMix64() {
        // Reference values of SplitMix64 seeded with 0 (Vigna's published sequence).
        var rng = SeededGenerator(seed: 0)
        #expect(rng.next() == 0xE220_A839_7B1D_CDAF)
        #expect(rng.next() == 0x6E78_9E6A_A1B9_65F4)
    }
}
