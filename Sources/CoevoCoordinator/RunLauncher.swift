import CoevoCore
import CoevoStore
import Foundation
import Logging

/// Decides what a starting coordinator serves: every unfinished run in its database (a
/// restart after a crash or Ctrl-C resumes them), and a new run built from the config
/// unless one of those is already the config's run (same `run.name`). A coordinator
/// started with another experiment's config on a database with an interrupted run
/// serves both, side by side, instead of ignoring the config it was given.
public enum RunLauncher {
    public struct Plan: Sendable {
        public var resumed: [StoredRun] = []
        public var created: StoredRun?
        /// Every run served, resumed first.
        public var runIDs: [String] { resumed.map(\.id) + (created.map { [$0.id] } ?? []) }
    }

    public static func prepare(config: ExperimentConfig, configText: String, store: CoevoStore,
                               logger: Logger, now: Date = Date()) throws -> Plan {
        var plan = Plan(resumed: try store.unfinishedRuns())
        if !plan.resumed.isEmpty {
            logger.info("database \(store.path) has \(plan.resumed.count) unfinished run(s): resuming \(plan.resumed.map(\.id).joined(separator: ", "))")
            if plan.resumed.contains(where: { $0.name == config.run.name }) { return plan }
            logger.info("none of them is run '\(config.run.name)' of the config: it starts beside them")
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
        // Every run's jobs are made by its driver as the run goes (a batch's a window ahead).
        try store.createRun(run, jobs: [], planned: config.isProtocolRun ? 0 : config.workload.jobs)
        if config.isProtocolRun {
            logger.info("created run \(id), seed \(config.run.seed)")
        } else {
            logger.info("created run \(id): \(config.workload.jobs) \(config.workload.kind) jobs, seed \(config.run.seed)")
        }
        plan.created = run
        return plan
    }
}
