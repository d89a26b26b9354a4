import CoevoCore
import Foundation
import CSQLiteConfig
import GRDB

/// What reports and the dashboard read of a run: its counts and its events.
extension CoevoStore {
    // MARK: Reports

    public struct RunCounts: Hashable, Sendable {
        public var jobs = 0
        public var results = 0
        public var succeeded = 0
        public var failed = 0
        /// What the first failure said (a failed result's error, or why a job gave up).
        public var firstFailure: String?
        public init() {}
    }

    public func counts(ofRun run: String) throws -> RunCounts {
        try pool.read { db in
            var counts = RunCounts()
            guard let key = try Self.key(ofRun: run, in: db) else { return counts }
            counts.jobs = try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM jobs WHERE run_key = ?", arguments: [key]) ?? 0
            let row = try Row.fetchOne(db, sql: """
                SELECT COUNT(*) AS results, COALESCE(SUM(r.status = 'succeeded'), 0) AS succeeded
                FROM jobs j JOIN results r ON r.job_id = j.id WHERE j.run_key = ?
                """, arguments: [key])
            counts.results = row?["results"] ?? 0
            counts.succeeded = row?["succeeded"] ?? 0
            // A failed result and a job that spent its attempts without one both failed.
            let exhausted = try Int.fetchOne(
                db, sql: "SELECT COUNT(*) FROM jobs j WHERE run_key = ? AND state = 'failed' AND NOT EXISTS (SELECT 1 FROM results r WHERE r.job_id = j.id)",
                arguments: [key]) ?? 0
            counts.failed = counts.results - counts.succeeded + exhausted
            if counts.failed > 0 {
                counts.firstFailure = try String.fetchOne(db, sql: """
                    SELECT why FROM (
                        SELECT CASE r.error WHEN '' THEN r.status ELSE r.error END AS why, r.completed_at AS at
                        FROM jobs j JOIN results r ON r.job_id = j.id
                        WHERE j.run_key = ? AND r.status != 'succeeded'
                        UNION ALL
                        SELECT COALESCE(j.failure, 'attempts spent'), j.leased_at FROM jobs j
                        WHERE j.run_key = ? AND j.state = 'failed' AND NOT EXISTS (SELECT 1 FROM results r WHERE r.job_id = j.id))
                    ORDER BY at IS NULL, at LIMIT 1
                    """, arguments: [key, key])
            }
            return counts
        }
    }

    /// Event log lines of a kind, oldest first (tests and reports).
    public func events(kind: EventKind) throws -> [EventRecord] {
        try events(where: "kind = ?", kind.rawValue)
    }

    /// Event log lines whose kind matches a glob (`*_reflect`, `ps_round`), oldest first.
    public func events(kindMatching glob: String) throws -> [EventRecord] {
        try events(where: "kind GLOB ?", glob)
    }

    /// One run's reports of a type, oldest first, each decoded as its type stores it; an
    /// event whose detail is not one (a database from before the type's stored form)
    /// is skipped.
    public func reports<Report: EventReport>(_ type: Report.Type, run: String) throws -> [Report] {
        try events(kind: Report.event, run: run).compactMap { Report(json: $0.detail) }
    }

    /// One run's event log lines of a kind, oldest first (the dashboard and the report).
    public func events(kind: EventKind, run: String) throws -> [EventRecord] {
        try events(where: "kind = ? AND run_id = ?", kind.rawValue, run)
    }

    private func events(where condition: String, _ values: String...) throws -> [EventRecord] {
        try pool.read { db in
            try Row.fetchAll(db, sql: "SELECT * FROM events WHERE \(condition) ORDER BY seq", arguments: StatementArguments(values)).map { row in
                EventRecord(at: row["at"], run: row["run_id"], kind: EventKind(rawValue: row["kind"]),
                            job: (row["job_id"] as Int64?).map { JobID(bitPattern: $0) },
                            worker: row["worker"], detail: row["detail"])
            }
        }
    }
}
