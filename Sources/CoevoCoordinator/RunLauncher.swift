import CoevoCore
import CoevoStore
import Foundation
import Logging

/// Decides what a starting coordinator serves: the unfinished runs in its database if it
/// has any (a restart after a crash or Ctrl-C resumes them), otherwise a new run built
/// from the config.
public enum RunLauncher {
    public enum Plan: Sendable {
        case resumed([StoredRun])
        case created(StoredRun, jobs: Int)
    }

    public static func prepare(config: ExperimentConfig, configText: String, store: CoevoStore,
                               logger: Logger, now: Date = Date()) throws -> Plan {
        let unfinished = try store.unfinishedRuns()
        if !unfinished.isEmpty {
            logger.info("database \(store.path) has \(unfinished.count) unfinished run(s): resuming \(unfinished.map(\.id).joined(separator: ", "))")
            return .resumed(unfinished)
        }
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = TimeZone(identifier: "UTC")
        formatter.dateFormat = "yyyyMMdd-HHmmss"
        var id = "\(config.run.name)-\(formatter.string(from: now))"
        var suffix = 2
        while try store.run(id: id) != nil {
            id = "\(config.run.name)-\(formatter.string(from: now))-\(suffix)"
            suffix += 1
        }
        let run = StoredRun(id: id, name: config.run.name, seed: config.run.seed, config: configText)
        // A protocol run's jobs are made by its driver as the run goes.
        let jobs = config.isProtocolRun ? []
            : WorkloadPlan.jobs(for: config, run: RunID(id), firstID: try store.reserveJobIDs(config.workload.jobs).lowerBound)
        try store.createRun(run, jobs: jobs)
        if config.isProtocolRun {
            logger.info("created run \(id), seed \(config.run.seed)")
        } else {
            logger.info("created run \(id): \(jobs.count) \(config.workload.kind) jobs, seed \(config.run.seed)")
        }
        return .created(run, jobs: jobs.count)
    }
}
