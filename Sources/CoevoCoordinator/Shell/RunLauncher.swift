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

    /// What to do with an unfinished run of the config's name (W&B's resume allow/must/never).
    public enum Intent: Sendable, Equatable {
        /// Resume it when its config is the one given; refuse when the config changed.
        case auto
        /// Resume it on its stored config, whatever the config given says.
        case resume
        /// Set it aside (`abandoned`) and start a new run on the config given.
        case newRun
    }

    /// Why a run was not started; nothing was written.
    public struct Refusal: Error, CustomStringConvertible {
        public let description: String
    }

    /// Throws the `Refusal` that `prepare` would, writing nothing: for a caller with slow
    /// work to do (a model server to start) before it writes the run.
    public static func check(config: ExperimentConfig, configText: String, store: CoevoStore,
                             configGiven: Bool = true, intent: Intent = .auto) throws {
        _ = try decide(config: config, configText: configText, store: store, configGiven: configGiven, intent: intent)
    }

    /// What the store holds that decides a start: its unfinished runs, and whether only
    /// they are served (no config given, on a database that has runs). Throws the refusal.
    private static func decide(config: ExperimentConfig, configText: String, store: CoevoStore, configGiven: Bool,
                               intent: Intent) throws -> (unfinished: [StoredRun], resumeOnly: Bool) {
        let unfinished = try store.unfinishedRuns()
        if !configGiven, try store.runCount() > 0 {
            if unfinished.isEmpty {
                throw Refusal(description: "every run in \(store.path) is finished and no config was given, so nothing is served: read them with `coevo report \(store.path)`, or start a run with --config")
            }
            return (unfinished, true)
        }
        if intent == .auto, let old = unfinished.last(where: { $0.name == config.run.name }),
           let change = Self.change(from: old.config, to: configText) {
            throw Refusal(description: "run \(old.id) of '\(config.run.name)' is unfinished in \(store.path) and its config differs from the one given (\(change)); say which you mean: --resume continues it on its stored config, --new-run sets it aside and starts afresh on this one")
        }
        return (unfinished, false)
    }

    /// `configGiven`: false when the config is the embedded defaults because none was
    /// named; then a database that already holds runs is only resumed, never given a new one.
    public static func prepare(config: ExperimentConfig, configText: String, store: CoevoStore, logger: Logger,
                               configGiven: Bool = true, intent: Intent = .auto, now: Date = Date()) throws -> Plan {
        let (unfinished, resumeOnly) = try decide(config: config, configText: configText, store: store,
                                                  configGiven: configGiven, intent: intent)
        var plan = Plan(resumed: unfinished)
        let same = plan.resumed.filter { $0.name == config.run.name }
        if resumeOnly {
            logger.info("database \(store.path) has \(plan.resumed.count) unfinished run(s): resuming \(plan.resumed.map(\.id).joined(separator: ", ")) on their stored configs")
            return plan
        }
        if intent == .newRun, !same.isEmpty {
            for run in same { try store.abandon(run: run.id) }
            logger.notice("set aside unfinished run(s) \(same.map(\.id).joined(separator: ", ")) (abandoned: kept, never resumed); a new run of '\(config.run.name)' starts")
            plan.resumed.removeAll { $0.name == config.run.name }
        }
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

    /// The top-level sections whose settings differ between two config texts, or nil when
    /// they say the same (comments, layout and the local workers' count aside).
    static func change(from stored: String, to given: String) -> String? {
        guard var old = try? ConfigLoader.parse(stored, readingFiles: false) else { return "the stored config does not load here" }
        guard let new = try? ConfigLoader.parse(given, readingFiles: false) else { return "the config given does not load" }
        // How many local workers serve a run, and where it listens and is stored, do not
        // change the run.
        old.workers = new.workers
        old.coordinator.bind = new.coordinator.bind
        old.coordinator.database = new.coordinator.database
        guard old != new else { return nil }
        var sections: [String] = []
        if old.run != new.run { sections.append("run") }
        if old.coordinator != new.coordinator { sections.append("coordinator") }
        if old.workload != new.workload { sections.append("workload") }
        if old.endpoints != new.endpoints || old.pools != new.pools || old.modelServer != new.modelServer { sections.append("endpoints") }
        if old.budget != new.budget { sections.append("budget") }
        old.run = new.run; old.coordinator = new.coordinator; old.workload = new.workload
        old.endpoints = new.endpoints; old.pools = new.pools; old.modelServer = new.modelServer; old.budget = new.budget
        if old != new { sections.append("the experiment's settings") }
        return sections.isEmpty ? "settings differ" : "changed: " + sections.joined(separator: ", ")
    }
}
