import CoevoCore
import CoevoStore

/// Makes a run's event records for a driver. A replayed run's engine says again what
/// it said in its earlier lives; `record` skips, per kind, as many lines as the store
/// already holds, so each is logged once across lives (the replay is deterministic, so
/// the skipped lines are exactly the stored ones). `note` always logs: it reports what
/// happened to a job in this life.
struct EventLog {
    let run: RunID
    private var alreadyLogged: [EventKind: Int]

    init(run: RunID, alreadyLogged: [EventKind: Int]) {
        self.run = run
        self.alreadyLogged = alreadyLogged
    }

    /// The engine's line, unless an earlier life of the run already logged it.
    mutating func record(_ kind: EventKind, _ detail: String, at: Double) -> [EventRecord] {
        if let seen = alreadyLogged[kind], seen > 0 {
            alreadyLogged[kind] = seen - 1
            return []
        }
        return [EventRecord(at: at, run: run.rawValue, kind: kind, detail: detail)]
    }

    func note(_ kind: EventKind, job: JobID, _ detail: String, at: Double) -> EventRecord {
        EventRecord(at: at, run: run.rawValue, kind: kind, job: job, detail: detail)
    }
}
