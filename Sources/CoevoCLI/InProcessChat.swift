import CoevoBackends
import CoevoCore
import Foundation

/// `llm.chat` jobs run in process, through the worker's own executor (its retries,
/// breaker and key policy), for the commands that talk to a model without a run
/// (`coevo calibrate`, `coevo ablate` on a model). At most `limit` are in flight;
/// `progress` hears how many are done after each.
func runChatJobs(_ jobs: [LLMJob], executor: LLMChatExecutor, limit: Int,
                 progress: (Int) -> Void = { _ in }) async -> [LLMJobOutput?] {
    let payloads = jobs.map { (try? JSONEncoder().encode($0)) ?? Data() }
    var outputs = [LLMJobOutput?](repeating: nil, count: jobs.count)
    await withTaskGroup(of: (Int, LLMJobOutput?).self) { group in
        var next = 0
        func launch() {
            let i = next, payload = payloads[i]
            next += 1
            group.addTask {
                let outcome = await executor.run(payload: payload)
                guard outcome.status == .succeeded else { return (i, nil) }
                return (i, try? JSONDecoder().decode(LLMJobOutput.self, from: outcome.output))
            }
        }
        while next < min(max(1, limit), jobs.count) { launch() }
        var done = 0
        for await (i, output) in group {
            outputs[i] = output
            done += 1
            progress(done)
            if next < jobs.count { launch() }
        }
    }
    return outputs
}
