import CoevoCore
import Foundation
import CSQLiteConfig
import GRDB

/// The coordinator's durable memory: one SQLite file in WAL mode holding runs, jobs (with
/// their lease state), results, and an append-only event log.
///
/// Reads and set-up writes are synchronous; the hot path (leases, results, events) goes
/// through `writer`, which batches many mutations into one transaction.
public final class CoevoStore: Sendable {
    public let path: String
    let pool: DatabasePool
    public let writer: StoreWriter

    /// Opens (creating if needed) the database and brings its schema up to date.
    /// `flushMilliseconds` bounds how long a write waits in memory before it is committed.
    public init(path: String, flushMilliseconds: Int64 = 20) throws {
        _ = Self.processConfigured
        self.path = path
        let directory = URL(fileURLWithPath: path).deletingLastPathComponent().path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        var configuration = Configuration()
        configuration.prepareDatabase { db in
            // NORMAL in WAL mode survives a process crash (kill -9); only an OS crash can
            // lose the last commits. FULL would cost an fsync per batch.
            try db.execute(sql: "PRAGMA synchronous = NORMAL")
            // A writer batch (up to 16,384 jobs and their results) dirties several MB of
            // pages: in SQLite's default 2 MB cache they spilled to the WAL mid-transaction
            // and were read back. 32 MiB holds a batch; unused pages are never allocated.
            try db.execute(sql: "PRAGMA cache_size = -32768")
        }
        configuration.busyMode = .timeout(10)
        pool = try DatabasePool(path: path, configuration: configuration)
        try Self.migrator.migrate(pool)
        writer = StoreWriter(pool: pool, flushMilliseconds: flushMilliseconds)
    }

    /// SQLite's process-wide settings, made before the first connection opens (see
    /// CSQLiteConfig): no mutex per call and no global lock per allocation, which the store
    /// writer's one thread does not need (docs/ARCHITECTURE.md, "Measured choices").
    private static let processConfigured: Int32 = coevo_sqlite_configure_process()

    static var migrator: DatabaseMigrator {
        var migrator = DatabaseMigrator()
        migrator.registerMigration("v1-runtime") { db in
            try db.execute(sql: """
                CREATE TABLE runs (
                    id TEXT PRIMARY KEY,
                    name TEXT NOT NULL,
                    seed INTEGER NOT NULL,
                    config TEXT NOT NULL,
                    state TEXT NOT NULL,
                    created_at REAL NOT NULL,
                    updated_at REAL NOT NULL
                );
                -- Dispatch state of every job. A job with a row in results is done, whatever
                -- its state says: completion writes only the result, which keeps the hot
                -- path at one insert per job (see the job_status view).
                CREATE TABLE jobs (
                    id INTEGER PRIMARY KEY,
                    run_id TEXT NOT NULL REFERENCES runs(id),
                    kind TEXT NOT NULL,
                    payload BLOB NOT NULL,
                    timeout_ms INTEGER NOT NULL,
                    state TEXT NOT NULL DEFAULT 'queued',   -- queued | leased | failed
                    attempts INTEGER NOT NULL DEFAULT 0,
                    worker TEXT,                            -- holder of the current lease
                    leased_at REAL,
                    failure TEXT
                );
                CREATE INDEX jobs_by_run ON jobs(run_id);
                CREATE TABLE results (
                    job_id INTEGER PRIMARY KEY REFERENCES jobs(id),  -- exactly once per job
                    run_id TEXT NOT NULL,
                    attempt INTEGER NOT NULL,
                    worker TEXT NOT NULL,
                    status TEXT NOT NULL,                   -- succeeded | failed | timed_out | unsupported
                    output BLOB NOT NULL,
                    error TEXT NOT NULL,
                    duration_us INTEGER NOT NULL,
                    completed_at REAL NOT NULL
                );
                CREATE INDEX results_by_run ON results(run_id);
                CREATE TABLE events (
                    seq INTEGER PRIMARY KEY AUTOINCREMENT,
                    at REAL NOT NULL,
                    run_id TEXT,
                    kind TEXT NOT NULL,
                    job_id INTEGER,
                    worker TEXT,
                    detail TEXT NOT NULL
                );
                CREATE VIEW job_status AS
                    SELECT j.id, j.run_id, j.kind, j.attempts,
                           CASE WHEN r.job_id IS NOT NULL THEN 'done' ELSE j.state END AS status,
                           r.status AS result_status, r.worker AS result_worker
                    FROM jobs j LEFT JOIN results r ON r.job_id = j.id;
                """)
        }
        // Job ids are reserved in blocks before they are handed out (see reserveJobIDs).
        migrator.registerMigration("v2-job-id-ceiling") { db in
            try db.execute(sql: "CREATE TABLE meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL)")
        }
        migrator.registerMigration("v3-shared-memory") { db in try SharedMemoryTables.create(in: db) }
        // The dashboard and the report read a run's events of one kind, often, during a run.
        migrator.registerMigration("v4-events-by-kind") { db in
            try db.execute(sql: "CREATE INDEX events_by_kind_run ON events(kind, run_id)")
        }
        // Every result is written on the hot path; an index of them by run cost a b-tree
        // insert per job for one report query, which reaches a run's results through
        // jobs_by_run and the results' primary key just as well.
        migrator.registerMigration("v5-no-results-by-run") { db in
            try db.execute(sql: "DROP INDEX results_by_run")
        }
        // A job named its run by the run's id, a text in its row, in its result's row and
        // in its jobs_by_run entry. Runs get an integer key that jobs refer to, and results
        // reach their run through their job (docs/ARCHITECTURE.md, "Measured choices").
        migrator.registerMigration("v6-run-keys") { db in
            try db.execute(sql: """
                DROP VIEW job_status;
                CREATE TABLE new_runs (
                    key INTEGER PRIMARY KEY,
                    id TEXT NOT NULL UNIQUE,
                    name TEXT NOT NULL,
                    seed INTEGER NOT NULL,
                    config TEXT NOT NULL,
                    state TEXT NOT NULL,
                    created_at REAL NOT NULL,
                    updated_at REAL NOT NULL
                );
                INSERT INTO new_runs (key, id, name, seed, config, state, created_at, updated_at)
                    SELECT rowid, id, name, seed, config, state, created_at, updated_at FROM runs;
                CREATE TABLE new_jobs (
                    id INTEGER PRIMARY KEY,
                    run_key INTEGER NOT NULL REFERENCES runs(key),
                    kind TEXT NOT NULL,
                    payload BLOB NOT NULL,
                    timeout_ms INTEGER NOT NULL,
                    state TEXT NOT NULL DEFAULT 'queued',
                    attempts INTEGER NOT NULL DEFAULT 0,
                    worker TEXT,
                    leased_at REAL,
                    failure TEXT
                );
                INSERT INTO new_jobs (id, run_key, kind, payload, timeout_ms, state, attempts, worker, leased_at, failure)
                    SELECT j.id, r.key, j.kind, j.payload, j.timeout_ms, j.state, j.attempts, j.worker, j.leased_at, j.failure
                    FROM jobs j JOIN new_runs r ON r.id = j.run_id;
                CREATE TABLE new_results (
                    job_id INTEGER PRIMARY KEY REFERENCES jobs(id),
                    attempt INTEGER NOT NULL,
                    worker TEXT NOT NULL,
                    status TEXT NOT NULL,
                    output BLOB NOT NULL,
                    error TEXT NOT NULL,
                    duration_us INTEGER NOT NULL,
                    completed_at REAL NOT NULL
                );
                INSERT INTO new_results (job_id, attempt, worker, status, output, error, duration_us, completed_at)
                    SELECT job_id, attempt, worker, status, output, error, duration_us, completed_at FROM results;
                DROP TABLE results;
                DROP TABLE jobs;
                DROP TABLE runs;
                ALTER TABLE new_runs RENAME TO runs;
                ALTER TABLE new_jobs RENAME TO jobs;
                ALTER TABLE new_results RENAME TO results;
                CREATE INDEX jobs_by_run ON jobs(run_key);
                -- The view keeps the run's id, as before.
                CREATE VIEW job_status AS
                    SELECT j.id, u.id AS run_id, j.kind, j.attempts,
                           CASE WHEN r.job_id IS NOT NULL THEN 'done' ELSE j.state END AS status,
                           r.status AS result_status, r.worker AS result_worker
                    FROM jobs j JOIN runs u ON u.key = j.run_key LEFT JOIN results r ON r.job_id = j.id;
                """)
        }
        // The CURVE key each worker id first registered with: an id stays its key's across
        // coordinator restarts, so another authorized key cannot take it while its owner
        // restarts along with the coordinator.
        migrator.registerMigration("v7-worker-claims") { db in
            try db.execute(sql: "CREATE TABLE worker_claims (worker TEXT PRIMARY KEY, key TEXT NOT NULL)")
        }
        // The key of the request a job carries (`Job.key`): a resume matches stored jobs
        // by it instead of decoding each payload. Rows from before have none.
        migrator.registerMigration("v8-job-keys") { db in
            try db.execute(sql: "ALTER TABLE jobs ADD COLUMN call_key TEXT")
        }
        // An attempt's git bundle was kept twice: in the step's result, which a resume
        // replays it from, and in its attempts row, which nothing read. The result keeps it.
        migrator.registerMigration("v9-attempt-bundles-once") { db in
            try db.execute(sql: "ALTER TABLE attempts DROP COLUMN bundle")
        }
        return migrator
    }

    // MARK: Runs

    /// A run's key (jobs refer to it) from its id, the one argument.
    static let runKeySQL = "SELECT key FROM runs WHERE id = ?"

    /// A run's key; nil when the store has no such run.
    static func key(ofRun run: String, in db: GRDB.Database) throws -> Int64? {
        try Int64.fetchOne(db, sql: runKeySQL, arguments: [run])
    }

    /// Stores a new run and the jobs made so far (all of this run) in one transaction; its
    /// `run_created` event says `planned` jobs (the jobs given if nil).
    public func createRun(_ run: StoredRun, jobs: [Job], planned: Int? = nil) throws {
        let now = Date().timeIntervalSince1970
        try pool.write { db in
            try db.execute(
                sql: "INSERT INTO runs (id, name, seed, config, state, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
                arguments: [run.id, run.name, Int64(bitPattern: run.seed), run.config, run.state.rawValue, now, now])
            let key = db.lastInsertedRowID
            let insert = try db.makeStatement(
                sql: "INSERT INTO jobs (id, run_key, kind, payload, timeout_ms) VALUES (?, ?, ?, ?, ?)")
            for job in jobs {
                try insert.execute(arguments: [
                    Int64(bitPattern: job.id), key, job.kind.rawValue, job.storedPayload ?? job.payload, job.timeoutMilliseconds,
                ])
            }
            try db.execute(
                sql: "INSERT INTO events (at, run_id, kind, detail) VALUES (?, ?, ?, ?)",
                arguments: [now, run.id, EventKind.runCreated.rawValue, "\(planned ?? jobs.count) jobs"])
        }
    }

    public func run(id: String) throws -> StoredRun? {
        try pool.read { db in
            try Row.fetchOne(db, sql: "SELECT * FROM runs WHERE id = ?", arguments: [id]).map(Self.storedRun)
        }
    }

    /// Every run in the database, oldest first.
    public func runs() throws -> [StoredRun] {
        try pool.read { db in
            try Row.fetchAll(db, sql: "SELECT * FROM runs ORDER BY created_at, id").map(Self.storedRun)
        }
    }

    /// Runs that were started and never finished: what a restarted coordinator resumes.
    public func unfinishedRuns() throws -> [StoredRun] {
        try pool.read { db in
            try Row.fetchAll(db, sql: "SELECT * FROM runs WHERE state NOT IN ('finished', 'abandoned') ORDER BY created_at")
                .map(Self.storedRun)
        }
    }

    /// Sets an unfinished run aside for good (see `StoredRun.State.abandoned`).
    public func abandon(run id: String) throws {
        try pool.write { db in
            try db.execute(sql: "UPDATE runs SET state = 'abandoned', updated_at = ? WHERE id = ? AND state != 'finished'",
                           arguments: [Date().timeIntervalSince1970, id])
        }
    }

    /// How many runs the database holds, finished or not.
    public func runCount() throws -> Int {
        try pool.read { db in try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM runs") ?? 0 }
    }

    private static func storedRun(_ row: Row) -> StoredRun {
        StoredRun(
            id: row["id"], name: row["name"], seed: UInt64(bitPattern: row["seed"]),
            config: row["config"], state: StoredRun.State(rawValue: row["state"]) ?? .interrupted, createdAt: row["created_at"])
    }

    /// The id the next new job gets.
    /// Reserves `count` fresh job ids, durably, before any of them is handed out. A
    /// coordinator leases jobs before the write-behind commits them, so after a crash the
    /// largest stored id says nothing about the ids the lost process gave out; the ceiling
    /// does, and new ids always start above it. So no id is ever given to two jobs, and a
    /// worker still running a job of the lost process never sees its id again.
    /// Worker id -> the CURVE public key (Z85) it first registered with.
    public func workerClaims() throws -> [String: String] {
        try pool.read { db in
            Dictionary(try Row.fetchAll(db, sql: "SELECT worker, key FROM worker_claims").map { ($0["worker"] as String, $0["key"] as String) },
                       uniquingKeysWith: { first, _ in first })
        }
    }

    public func reserveJobIDs(_ count: Int) throws -> Range<JobID> {
        try pool.write { db in
            let ceiling = try Int64.fetchOne(db, sql: "SELECT value FROM meta WHERE key = 'job_id_ceiling'") ?? 1
            let stored = try Int64.fetchOne(db, sql: "SELECT COALESCE(MAX(id), 0) + 1 FROM jobs") ?? 1
            let first = max(ceiling, stored)
            try Self.setJobIDCeiling(first + Int64(max(0, count)), in: db)
            return JobID(first)..<JobID(first + Int64(max(0, count)))
        }
    }

    /// Raises the reserved ceiling to at least `ceiling` (ids below it may be handed out).
    public func raiseJobIDCeiling(to ceiling: JobID) throws {
        try pool.write { db in try Self.setJobIDCeiling(Int64(ceiling), in: db) }
    }

    private static func setJobIDCeiling(_ value: Int64, in db: GRDB.Database) throws {
        try db.execute(sql: """
            INSERT INTO meta (key, value) VALUES ('job_id_ceiling', ?)
            ON CONFLICT(key) DO UPDATE SET value = MAX(value, excluded.value)
            """, arguments: [value])
    }

    // MARK: Resume

    /// What a restarted coordinator needs of a run: unfinished jobs with their attempts so
    /// far (leased ones come back as queued), and the ids of finished ones.
    public struct RunJobs: Sendable {
        public var unfinished: [(job: Job, attempts: UInt32)] = []
        /// Jobs with a succeeded result.
        public var succeeded: [JobID] = []
        /// Jobs with a result that did not succeed, or none after their last attempt.
        public var failed: [JobID] = []

        public init(unfinished: [(job: Job, attempts: UInt32)] = [], succeeded: [JobID] = [], failed: [JobID] = []) {
            self.unfinished = unfinished
            self.succeeded = succeeded
            self.failed = failed
        }
    }

    public func jobs(ofRun run: String) throws -> RunJobs {
        try pool.read { db in
            var out = RunJobs()
            let rows = try Row.fetchCursor(db, sql: """
                SELECT j.id, j.kind, j.payload, j.timeout_ms, j.call_key, j.state, j.attempts, r.job_id IS NOT NULL AS done,
                       COALESCE(r.status = 'succeeded', 0) AS succeeded
                FROM jobs j LEFT JOIN results r ON r.job_id = j.id
                WHERE j.run_key = (\(Self.runKeySQL)) ORDER BY j.id
                """, arguments: [run])
            while let row = try rows.next() {
                let id = JobID(bitPattern: row["id"] as Int64)
                if row["succeeded"] as Bool {
                    out.succeeded.append(id)
                } else if row["done"] as Bool || (row["state"] as String) == "failed" {
                    out.failed.append(id)
                } else {
                    let job = Job(id: id, run: RunID(run), kind: JobKind(rawValue: row["kind"]), payload: row["payload"],
                                  timeoutMilliseconds: row["timeout_ms"], key: row["call_key"])
                    out.unfinished.append((job, UInt32(row["attempts"] as Int64)))
                }
            }
            return out
        }
    }

    /// Every job of a run with its result if it has one, in id order: what a protocol
    /// driver replays to rebuild its state after a restart.
    public struct StoredJob: Sendable {
        public var job: Job
        public var attempts: UInt32
        public var outcome: JobOutcome?
        public var failed: Bool
        /// When its result was applied (seconds since 1970); nil without a result.
        public var completedAt: Double?

        public init(job: Job, attempts: UInt32, outcome: JobOutcome?, failed: Bool, completedAt: Double? = nil) {
            self.job = job
            self.attempts = attempts
            self.outcome = outcome
            self.failed = failed
            self.completedAt = completedAt
        }
    }

    public func storedJobs(ofRun run: String) throws -> [StoredJob] {
        try pool.read { db in
            var out: [StoredJob] = []
            let rows = try Row.fetchCursor(db, sql: """
                SELECT j.id, j.kind, j.payload, j.timeout_ms, j.call_key, j.state, j.attempts, r.status, r.output, r.error, r.completed_at
                FROM jobs j LEFT JOIN results r ON r.job_id = j.id
                WHERE j.run_key = (\(Self.runKeySQL)) ORDER BY j.id
                """, arguments: [run])
            while let row = try rows.next() {
                let job = Job(id: JobID(bitPattern: row["id"] as Int64), run: RunID(run), kind: JobKind(rawValue: row["kind"]),
                              payload: row["payload"], timeoutMilliseconds: row["timeout_ms"], key: row["call_key"])
                let outcome = (row["status"] as String?).map { status in
                    JobOutcome(status: JobOutcome.Status(rawValue: status) ?? .failed, output: row["output"], error: row["error"])
                }
                out.append(StoredJob(job: job, attempts: UInt32(row["attempts"] as Int64), outcome: outcome,
                                     failed: outcome == nil && (row["state"] as String) == "failed", completedAt: row["completed_at"]))
            }
            return out
        }
    }

    /// How many events of each kind a run has logged.
    public func eventCounts(ofRun run: String) throws -> [EventKind: Int] {
        Dictionary(uniqueKeysWithValues: try kindCounts(in: "events WHERE run_id = ?", run: run).map { (EventKind(rawValue: $0.key), $0.value) })
    }

    /// A run's jobs by kind.
    public func jobKinds(ofRun run: String) throws -> [String: Int] {
        try kindCounts(in: "jobs WHERE run_key = (\(Self.runKeySQL))", run: run)
    }

    /// How long each result of a job of `kind` took its worker, in microseconds (every run).
    public func resultDurations(kind: JobKind) throws -> [Int] {
        try pool.read { db in
            try Int.fetchAll(db, sql: "SELECT r.duration_us FROM results r JOIN jobs j ON j.id = r.job_id WHERE j.kind = ?",
                             arguments: [kind.rawValue])
        }
    }

    /// A run's rows (`rows`: a table and a condition on the run), counted by their `kind`.
    private func kindCounts(in rows: String, run: String) throws -> [String: Int] {
        try pool.read { db in
            var counts: [String: Int] = [:]
            for row in try Row.fetchAll(db, sql: "SELECT kind, COUNT(*) AS n FROM \(rows) GROUP BY kind", arguments: [run]) {
                counts[row["kind"]] = row["n"]
            }
            return counts
        }
    }
}
