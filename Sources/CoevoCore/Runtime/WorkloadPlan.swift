import Foundation

/// Turns a config's `workload` section into the jobs of a run, one index at a time: job
/// `index` is a function of the seed and the index alone, so a run made as it goes (and
/// resumed part way) holds the same jobs as one made at once.
public enum WorkloadPlan {
    public static func job(_ index: Int, for config: ExperimentConfig, run: RunID, id: JobID) -> Job {
        let workload = config.workload
        let payload: Data
        switch workload.kind {
        case .sleep:
            payload = SleepPayload.encode(milliseconds: workload.sleepMilliseconds, padding: max(0, workload.payloadBytes - 8))
        case .llm:
            let endpoint = config.endpoints.first { $0.name == workload.endpoint }!  // validated
            let job = LLMJob(endpoint: endpoint, system: workload.system,
                             prompt: workload.prompt.replacingOccurrences(of: "{i}", with: "\(index)"),
                             maxTokens: workload.maxTokens, temperature: workload.temperature)
            payload = (try? JSONEncoder().encode(job)) ?? Data()
        default:  // noop, the only other kind validate() lets through
            // A stream per job (SplitMix64 seeds spread by the golden ratio).
            var rng = SeededGenerator(seed: config.run.seed ^ (UInt64(index) &* 0x9E37_79B9_7F4A_7C15))
            payload = Data((0..<workload.payloadBytes).map { _ in UInt8.random(in: 0...255, using: &rng) })
        }
        return Job(id: id, run: run, kind: workload.kind, payload: payload, timeoutMilliseconds: config.coordinator.jobTimeoutMilliseconds)
    }
}
