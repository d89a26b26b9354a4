import CoevoCore
import Foundation
import GRDB

/// Write-behind for the hot path: mutations queue in memory and a dedicated thread commits
/// them in batches (one transaction per batch, at most `flushMilliseconds` late), so the
/// durability of every result does not cap dispatch throughput.
///
/// A lease that completes within the same batch is not written at all: its result row
/// records the worker and attempt, and a lease that never reached the disk is requeued on
/// resume just as a written one would be.
///
/// Contract: `enqueue` from any thread (one caller's mutations commit in the order it
/// enqueued them); `stop()` once, after the last `enqueue`.
public final class StoreWriter: @unchecked Sendable {
    private let pool: DatabasePool
    private let flushInterval: TimeInterval
    private let maxBatch = 16_384
    // Everything below is guarded by `condition`.
    private let condition = NSCondition()
    private var pending: [StoreMutation] = []
    private var enqueued: UInt64 = 0
    private var committed: UInt64 = 0
    private var flushRequested = false
    private var stopping = false
    private var stopped = false
    private var durableResultCount: UInt64 = 0
    private var rejectedResultCount: UInt64 = 0
    private var failureReason: String?
    private var errorHandler: (@Sendable (String) -> Void)?
    private var thread: Thread?

    init(pool: DatabasePool, flushMilliseconds: Int64) {
        self.pool = pool
        self.flushInterval = Double(flushMilliseconds) / 1000
        // The thread holds the writer until `stop()`: with an unowned reference a store
        // dropped before its thread ran (`coevo report` reads and exits) crashed the process.
        let thread = Thread { self.run() }
        thread.name = "coevo-store-writer"
        self.thread = thread
        thread.start()
    }

    /// Called (on the writer thread) with a description of every write that failed, e.g.
    /// a second result for one job, which the table refuses.
    public func onError(_ handler: @escaping @Sendable (String) -> Void) {
        condition.withLock { errorHandler = handler }
    }

    public func enqueue(_ mutation: StoreMutation) {
        condition.withLock {
            pending.append(mutation)
            enqueued += 1
            // Wake the writer when a batch starts (it then waits one flush interval for
            // company) and when a batch is full.
            if pending.count == 1 || pending.count >= maxBatch { condition.broadcast() }
        }
    }

    public func enqueue(contentsOf mutations: [StoreMutation]) {
        guard !mutations.isEmpty else { return }
        condition.withLock {
            let wasEmpty = pending.isEmpty
            pending.append(contentsOf: mutations)
            enqueued += UInt64(mutations.count)
            if wasEmpty || pending.count >= maxBatch { condition.broadcast() }
        }
    }

    /// Results committed so far.
    public var durableResults: UInt64 { condition.withLock { durableResultCount } }
    /// Writes queued and not yet committed.
    public var backlog: Int { condition.withLock { pending.count } }
    /// Results the database refused (a duplicate would land here; it never should).
    public var rejectedResults: UInt64 { condition.withLock { rejectedResultCount } }
    /// Why the store cannot be written, once a batch has failed every retry. Nothing is
    /// committed after that (the failed batch and everything behind it stay pending, in
    /// order), so a restarted coordinator resumes from what the database really holds.
    public var failure: String? { condition.withLock { failureReason } }

    /// How a batch that fails as a whole (the disk, a lock, a broken schema) is retried
    /// before the writer gives up: the waits between attempts, in seconds.
    static let retryWaits: [TimeInterval] = [0.05, 0.2, 0.5, 1.0]

    /// Blocks until everything enqueued before the call is committed. Call it off the
    /// cooperative pool's hot path (at the end of a run, at shutdown).
    public func flush() {
        condition.withLock {
            let target = enqueued
            flushRequested = true
            condition.broadcast()
            while committed < target && !stopped && failureReason == nil { condition.wait() }
        }
    }

    /// Commits what is pending and ends the writer thread.
    public func stop() {
        condition.withLock {
            stopping = true
            condition.broadcast()
            while !stopped { condition.wait() }
            thread = nil  // ends the thread <-> writer cycle
        }
    }

    private func run() {
        condition.lock()
        while true {
            while (pending.isEmpty || failureReason != nil) && !stopping { condition.wait() }
            if (pending.isEmpty || failureReason != nil) && stopping { break }
            if pending.count < maxBatch && !flushRequested && !stopping {
                // Let the batch fill for up to one flush interval.
                _ = condition.wait(until: Date(timeIntervalSinceNow: flushInterval))
            }
            let batch = pending
            pending.removeAll(keepingCapacity: true)
            flushRequested = false
            let handler = errorHandler
            condition.unlock()
            let (results, rejected, errors, failed) = commitRetrying(batch)
            for error in errors { handler?(error) }
            condition.lock()
            if let failed {
                failureReason = failed
                pending.insert(contentsOf: batch, at: 0)
                condition.broadcast()
                continue
            }
            committed += UInt64(batch.count)
            durableResultCount += UInt64(results)
            rejectedResultCount += UInt64(rejected)
            condition.broadcast()
        }
        stopped = true
        condition.broadcast()
        condition.unlock()
    }

    /// Writes one batch, retrying a transaction that fails as a whole. Returns results
    /// committed, results refused, error descriptions, and why the batch could not be
    /// written at all (nil once it is).
    private func commitRetrying(_ batch: [StoreMutation]) -> (Int, Int, [String], String?) {
        var reported: [String] = []
        var retries = 0
        while true {
            do {
                let (results, rejected, errors) = try commit(batch)
                return (results, rejected, reported + errors, nil)
            } catch {
                let why = "store batch of \(batch.count) writes failed: \(error)"
                guard retries < Self.retryWaits.count else {
                    return (0, 0, reported + [why + "; giving up: nothing more is written"], why)
                }
                let wait = Self.retryWaits[retries]
                retries += 1
                reported.append(why + "; retrying in \(Int(wait * 1000)) ms")
                Thread.sleep(forTimeInterval: wait)
            }
        }
    }

    /// A job's first row, whichever mutation carries it, with its run's key.
    private struct JobRow {
        enum State {
            case queued
            case leased(worker: WorkerID, attempt: UInt32, at: Double)
        }
        var job: Job
        var state: State
        var runKey: Int64 = 0
    }

    /// The key of each run jobs were written for (runs are never deleted), and the last
    /// one found: a batch's jobs are mostly of one run. Used on the writer thread only.
    private var runKeys: [RunID: Int64] = [:]
    private var lastRunKey: (run: RunID, key: Int64)?

    /// `run`'s key in the runs table; nil when the store has no such run.
    private func runKey(_ run: RunID, in db: Database) throws -> Int64? {
        if let last = lastRunKey, last.run == run { return last.key }
        if let key = runKeys[run] {
            lastRunKey = (run, key)
            return key
        }
        guard let key = try CoevoStore.key(ofRun: run.rawValue, in: db) else { return nil }
        runKeys[run] = key
        lastRunKey = (run, key)
        return key
    }

    private static let jobRows = BatchInsert<JobRow>(
        "INSERT INTO jobs (id, run_key, kind, payload, timeout_ms, state, attempts, worker, leased_at, call_key)", columns: 10
    ) { binder, first, row in
        let job = row.job
        binder.bind(first, Int64(bitPattern: job.id))
        binder.bind(first + 1, row.runKey)
        binder.bind(first + 2, job.kind.rawValue)
        binder.bind(first + 3, job.storedPayload ?? job.payload)
        binder.bind(first + 4, job.timeoutMilliseconds)
        switch row.state {
        case .queued:
            binder.bind(first + 5, "queued")
            binder.bind(first + 6, Int64(0))
            // worker and leased_at stay NULL (unbound)
        case .leased(let worker, let attempt, let at):
            binder.bind(first + 5, "leased")
            binder.bind(first + 6, Int64(attempt))
            binder.bind(first + 7, worker.rawValue)
            binder.bind(first + 8, at)
        }
        if let key = job.key { binder.bind(first + 9, key) }  // NULL for a batch's jobs
    }

    private static let resultRows = BatchInsert<ResultRecord>(
        "INSERT INTO results (job_id, attempt, worker, status, output, error, duration_us, completed_at)", columns: 8
    ) { binder, first, r in
        binder.bind(first, Int64(bitPattern: r.job))
        binder.bind(first + 1, Int64(r.attempt))
        binder.bind(first + 2, r.worker.rawValue)
        binder.bind(first + 3, r.outcome.status.rawValue)
        binder.bind(first + 4, r.outcome.output)
        binder.bind(first + 5, r.outcome.error)
        binder.bind(first + 6, Int64(bitPattern: r.outcome.durationMicroseconds))
        binder.bind(first + 7, r.completedAt)
    }

    /// Writes one batch in one transaction; throws when the transaction fails as a whole.
    /// Returns results committed, results refused, and the rows refused one by one.
    ///
    /// Within the transaction the writes go in three groups: every job's first row, then
    /// the other writes in order, then the results. Each job's own writes keep their order
    /// (its row is always its first write; a result needs that row), and the two large
    /// groups go many rows per statement.
    private func commit(_ batch: [StoreMutation]) throws -> (Int, Int, [String]) {
        var completedInBatch = Set<JobID>()
        var jobRows: [JobRow] = []
        var resultRows: [ResultRecord] = []
        var others: [StoreMutation] = []
        for mutation in batch {
            switch mutation {
            case .submitted(let job): jobRows.append(JobRow(job: job, state: .queued))
            case .leasedFirst(let job, let worker, let attempt, let at):
                jobRows.append(JobRow(job: job, state: .leased(worker: worker, attempt: attempt, at: at)))
            case .result(let record):
                completedInBatch.insert(record.job)
                resultRows.append(record)
            default: others.append(mutation)
            }
        }
        var results = 0
        var rejected = 0
        var errors: [String] = []
        try pool.write { db in
                jobRows = try jobRows.compactMap { row in
                    guard let key = try runKey(row.job.run, in: db) else {
                        errors.append("store refused job \(row.job.id)'s row: the store has no run \(row.job.run)")
                        return nil
                    }
                    var keyed = row
                    keyed.runKey = key
                    return keyed
                }
                for refusal in try Self.jobRows.insert(jobRows, in: db) {
                    errors.append("store refused job \(refusal.row.job.id)'s row: \(refusal.message)")
                }
                for mutation in others {
                    do {
                        switch mutation {
                        case .submitted, .leasedFirst, .result:
                            continue  // written in bulk, above and below
                        case .leased(let job, let worker, let attempt, let at):
                            if completedInBatch.contains(job) { continue }
                            try db.cachedStatement(sql: "UPDATE jobs SET state = 'leased', attempts = ?, worker = ?, leased_at = ? WHERE id = ?")
                                .execute(arguments: [Int64(attempt), worker.rawValue, at, Int64(bitPattern: job)])
                        case .requeued(let job, let attempts):
                            try db.cachedStatement(sql: "UPDATE jobs SET state = 'queued', attempts = ?, worker = NULL WHERE id = ?")
                                .execute(arguments: [Int64(attempts), Int64(bitPattern: job)])
                        case .failed(let job, let attempts, let reason):
                            try db.cachedStatement(sql: "UPDATE jobs SET state = 'failed', attempts = ?, worker = NULL, failure = ? WHERE id = ?")
                                .execute(arguments: [Int64(attempts), reason, Int64(bitPattern: job)])
                        case .event(let e):
                            try db.cachedStatement(sql: "INSERT INTO events (at, run_id, kind, job_id, worker, detail) VALUES (?, ?, ?, ?, ?, ?)")
                                .execute(arguments: [e.at, e.run, e.kind.rawValue, e.job.map { Int64(bitPattern: $0) }, e.worker, e.detail])
                        case .memory(let record, let run):
                            try SharedMemoryTables.insert(record, run: run, in: db)
                        case .runState(let run, let state, let at):
                            try db.cachedStatement(sql: "UPDATE runs SET state = ?, updated_at = ? WHERE id = ?")
                                .execute(arguments: [state.rawValue, at, run])
                        case .workerClaimed(let worker, let key):
                            try db.cachedStatement(sql: "INSERT OR IGNORE INTO worker_claims (worker, key) VALUES (?, ?)")
                                .execute(arguments: [worker.rawValue, key])
                        case .workerClaimsReleased(let workers):
                            for worker in workers {
                                try db.cachedStatement(sql: "DELETE FROM worker_claims WHERE worker = ?").execute(arguments: [worker.rawValue])
                            }
                        }
                    } catch let error as DatabaseError where error.resultCode == .SQLITE_CONSTRAINT {
                        // One refused row must not lose the rest of the batch.
                        errors.append("store refused a write: \(error)")
                    }
                }
                let refused = try Self.resultRows.insert(resultRows, in: db)
                for refusal in refused {
                    let r = refusal.row
                    errors.append("store refused a second result for job \(r.job) (attempt \(r.attempt) from \(r.worker)): \(refusal.message)")
                }
                results = resultRows.count - refused.count
                rejected = refused.count
        }
        return (results, rejected, errors)
    }
}
