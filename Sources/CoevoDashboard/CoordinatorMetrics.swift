import CoevoCore
import CoevoCoordinator
import CoreMetrics
import Foundation
import Prometheus
import Synchronization

/// The coordinator's metrics, recorded through swift-metrics into a Prometheus registry
/// of its own (not the process-wide bootstrap, so two coordinators in one process, as in
/// the tests, keep theirs apart) and served at `/metrics`. Counters come from what each
/// input did to jobs (`JobActivity`); gauges from the once-a-second progress snapshot.
public final class CoordinatorMetrics: Sendable {
    public let registry = PrometheusCollectorRegistry()
    private let factory: PrometheusMetricsFactory
    private let counters = Mutex<[CounterKey: CoreMetrics.Counter]>([:])
    private let timers = Mutex<[[String]: CoreMetrics.Timer]>([:])

    struct CounterKey: Hashable {
        var name: String
        var labels: [String]
    }

    public init() {
        var factory = PrometheusMetricsFactory(registry: registry)
        let buckets: [Duration] = [
            .milliseconds(1), .milliseconds(5), .milliseconds(25), .milliseconds(100), .milliseconds(500),
            .seconds(1), .seconds(5), .seconds(15), .seconds(60), .seconds(300), .seconds(1200),
        ]
        factory.durationHistogramBuckets["coevo_job_duration_seconds"] = buckets
        factory.durationHistogramBuckets["coevo_lease_wait_seconds"] = buckets
        self.factory = factory
    }

    /// Chains onto `observer`: what it did before still happens.
    public func observing(_ observer: CoordinatorObserver) -> CoordinatorObserver {
        var chained = observer
        let previousActivity = observer.activity, previousProgress = observer.progress
        chained.activity = { [self] activity in
            previousActivity(activity)
            record(activity)
        }
        chained.progress = { [self] progress in
            previousProgress(progress)
            record(progress)
        }
        return chained
    }

    public func record(_ activity: JobActivity) {
        var counts: [CounterKey: Int64] = [:]
        for mark in activity.marks {
            let labels = [mark.kind.rawValue, mark.run.rawValue]
            switch mark.change {
            case .submitted: counts[CounterKey(name: "coevo_jobs_submitted_total", labels: labels), default: 0] += 1
            case .leased(let waited):
                counts[CounterKey(name: "coevo_jobs_leased_total", labels: labels), default: 0] += 1
                timer("coevo_lease_wait_seconds", kind: mark.kind.rawValue).recordNanoseconds(Int64(waited * 1e9))
            case .deferred: counts[CounterKey(name: "coevo_jobs_deferred_total", labels: labels), default: 0] += 1
            case .requeued: counts[CounterKey(name: "coevo_jobs_requeued_total", labels: labels), default: 0] += 1
            case .failed: counts[CounterKey(name: "coevo_jobs_failed_total", labels: labels), default: 0] += 1
            case .completed(let status, let seconds):
                counts[CounterKey(name: "coevo_jobs_completed_total", labels: labels + [status.rawValue]), default: 0] += 1
                timer("coevo_job_duration_seconds", kind: mark.kind.rawValue).recordNanoseconds(Int64(seconds * 1e9))
            }
        }
        for call in activity.calls {
            let labels = [call.endpoint, call.role, call.run?.rawValue ?? "-"]
            counts[CounterKey(name: "coevo_llm_calls_total", labels: labels), default: 0] += 1
            counts[CounterKey(name: "coevo_llm_tokens_total", labels: labels + ["prompt"]), default: 0] += Int64(call.promptTokens)
            counts[CounterKey(name: "coevo_llm_tokens_total", labels: labels + ["completion"]), default: 0] += Int64(call.completionTokens)
            FloatingPointCounter(label: "coevo_llm_cost_usd_total",
                                 dimensions: [("endpoint", labels[0]), ("role", labels[1]), ("run", labels[2])], factory: factory)
                .increment(by: call.usd)
        }
        for (key, count) in counts { counter(key).increment(by: count) }
    }

    public func record(_ progress: CoordinatorProgress) {
        gauge("coevo_queue_depth").record(progress.queued)
        gauge("coevo_jobs_leased").record(progress.leased)
        gauge("coevo_workers").record(progress.workers)
        gauge("coevo_worker_slots").record(progress.slots.values.reduce(0) { $0 + $1.total })
        gauge("coevo_results_applied").record(Int64(progress.resultsApplied))
        gauge("coevo_results_durable").record(Int64(progress.resultsDurable))
        let budget = progress.budget
        if let maxTokens = budget.maxTokens { gauge("coevo_budget_left", [("resource", "tokens")]).record(max(0, maxTokens - budget.tokens)) }
        if let maxCalls = budget.maxCalls { gauge("coevo_budget_left", [("resource", "calls")]).record(max(0, maxCalls - budget.calls)) }
        if let maxUSD = budget.maxUSD { gauge("coevo_budget_left", [("resource", "usd")]).record(max(0, maxUSD - budget.usd)) }
        for (run, counts) in progress.runs {
            let labels = [("run", run.rawValue)]
            gauge("coevo_run_jobs_expected", labels).record(counts.expected)
            gauge("coevo_run_jobs_succeeded", labels).record(counts.completed)
            gauge("coevo_run_jobs_failed", labels).record(counts.failed)
            if let stage = progress.stages[run] {
                gauge("coevo_run_round", labels).record(stage.current)
                gauge("coevo_run_rounds_finished", labels).record(stage.finished)
                gauge("coevo_run_rounds_planned", labels).record(stage.total)
            }
        }
    }

    /// The Prometheus text exposition, each metric with its `# HELP` line (swift-metrics,
    /// through which the metrics are made, carries no help text).
    public func exposition() -> String {
        registry.emitToString().split(separator: "\n", omittingEmptySubsequences: false).map { line in
            guard line.hasPrefix("# TYPE "), let name = line.dropFirst(7).split(separator: " ").first,
                  let help = Self.help[String(name)] else { return String(line) }
            return "# HELP \(name) \(help)\n\(line)"
        }.joined(separator: "\n")
    }

    /// What each metric counts, as `# HELP` says it.
    static let help: [String: String] = [
        "coevo_jobs_submitted_total": "Jobs made, by kind and run.",
        "coevo_jobs_leased_total": "Leases handed to workers (a job leased again counts again).",
        "coevo_jobs_deferred_total": "Jobs a worker handed back for later (its endpoint down).",
        "coevo_jobs_requeued_total": "Jobs queued again after a lost lease or a timeout.",
        "coevo_jobs_failed_total": "Jobs that spent their attempts without a result.",
        "coevo_jobs_completed_total": "Results applied, by the result's status (succeeded, failed).",
        "coevo_job_duration_seconds": "Time from lease to result, by kind.",
        "coevo_lease_wait_seconds": "Time a job waited in the queue before its lease, by kind.",
        "coevo_llm_calls_total": "Model calls, by endpoint, role and run.",
        "coevo_llm_tokens_total": "Model tokens, by endpoint, role, run and direction (prompt, completion).",
        "coevo_llm_cost_usd_total": "Model cost in US dollars at the endpoint's configured prices.",
        "coevo_queue_depth": "Jobs queued now.",
        "coevo_jobs_leased": "Jobs leased now.",
        "coevo_workers": "Workers connected now.",
        "coevo_worker_slots": "Slots of the connected workers.",
        "coevo_results_applied": "Results applied since the coordinator started.",
        "coevo_results_durable": "Results committed to the database since the coordinator started.",
        "coevo_budget_left": "What is left of the run budget, by resource (tokens, calls, usd).",
        "coevo_run_jobs_expected": "Jobs a run will have in all where known, else made so far.",
        "coevo_run_jobs_succeeded": "A run's jobs whose result succeeded.",
        "coevo_run_jobs_failed": "A run's jobs that finished without success (a failed result, or attempts spent).",
        "coevo_run_round": "A run's round (or chamber step) under way.",
        "coevo_run_rounds_finished": "A run's rounds finished.",
        "coevo_run_rounds_planned": "A run's rounds in all.",
    ]

    private func counter(_ key: CounterKey) -> CoreMetrics.Counter {
        counters.withLock { cache in
            if let counter = cache[key] { return counter }
            let names = key.name.hasPrefix("coevo_llm") ? ["endpoint", "role", "run", "direction"] : ["kind", "run", "status"]
            let counter = CoreMetrics.Counter(label: key.name, dimensions: Array(zip(names, key.labels)), factory: factory)
            cache[key] = counter
            return counter
        }
    }

    private func timer(_ name: String, kind: String) -> CoreMetrics.Timer {
        timers.withLock { cache in
            if let timer = cache[[name, kind]] { return timer }
            let timer = CoreMetrics.Timer(label: name, dimensions: [("kind", kind)], factory: factory)
            cache[[name, kind]] = timer
            return timer
        }
    }

    private func gauge(_ name: String, _ labels: [(String, String)] = []) -> CoreMetrics.Gauge {
        CoreMetrics.Gauge(label: name, dimensions: labels, factory: factory)
    }
}
