import Foundation

/// Turns a config's `workload` section into the jobs of a new run: deterministic for a
/// seed, so two runs of one config hold byte-identical jobs.
public enum WorkloadPlan {
    public static func jobs(for config: ExperimentConfig, run: RunID, firstID: JobID) -> [Job] {
        var rng = SeededGenerator(seed: config.run.seed)
        let workload = config.workload
        let timeout = config.coordinator.jobTimeoutMilliseconds
        return (0..<workload.jobs).map { index in
            let payload: Data
            switch workload.kind {
            case .sleep:
                payload = SleepPayload.encode(milliseconds: workload.sleepMilliseconds,
                                              padding: max(0, workload.payloadBytes - 8))
            case .llm:
                let endpoint = config.endpoints.first { $0.name == workload.endpoint }!  // validated
                let job = LLMJob(endpoint: endpoint, system: workload.system,
                                 prompt: workload.prompt.replacingOccurrences(of: "{i}", with: "\(index)"),
                                 maxTokens: workload.maxTokens, temperature: workload.temperature)
                payload = (try? JSONEncoder().encode(job)) ?? Data()
            case .agentCommand:
                payload = Data()  // refused by validate(): protocols make these jobs
            default:  // noop, the only other kind validate() lets through
                payload = Data((0..<workload.payloadBytes).map { _ in UInt8.random(in: 0...255, using: &rng) })
            }
            return Job(id: firstID + JobID(index), run: run, kind: workload.kind, payload: payload,
                       timeoutMilliseconds: timeout)
        }
    }
}
