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
    private var errorHandler: (@Sendable (String) -> Void)?
    private var thread: Thread?

    init(pool: DatabasePool, flushMilliseconds: Int64) {
        self.pool = pool
        self.flushInterval = Double(flushMilliseconds) / 1000
        let thread = Thread { [unowned self] in self.run() }
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
    /// Results the database refused (a duplicate would land here; it never should).
    public var rejectedResults: UInt64 { condition.withLock { rejectedResultCount } }

    /// Blocks until everything enqueued before the call is committed. Call it off the
    /// cooperative pool's hot path (at the end of a run, at shutdown).
    public func flush() {
        condition.withLock {
            let target = enqueued
            flushRequested = true
            condition.broadcast()
            while committed < target && !stopped { condition.wait() }
        }
    }

    /// Commits what is pending and ends the writer thread.
    public func stop() {
        condition.withLock {
            stopping = true
            condition.broadcast()
            while !stopped { condition.wait() }
        }
    }

    private func run() {
        condition.lock()
        while true {
            while pending.isEmpty && !stopping { condition.wait() }
            if pending.isEmpty && stopping { break }
            if pending.count < maxBatch && !flushRequested && !stopping {
                // Let the batch fill for up to one flush interval.
                _ = condition.wait(until: Date(timeIntervalSinceNow: flushInterval))
            }
            let batch = pending
            pending.removeAll(keepingCapacity: true)
            flushRequested = false
            let handler = errorHandler
            condition.unlock()
            let (results, rejected, errors) = commit(batch)
            for error in errors { handler?(error) }
            condition.lock()
            committed += UInt64(batch.count)
            durableResultCount += UInt64(results)
            rejectedResultCount += UInt64(rejected)
            condition.broadcast()
        }
        stopped = true
        condition.broadcast()
        condition.unlock()
    }

    /// Writes one batch in one transaction. Returns results committed, results refused,
    /// and error descriptions.
    private func commit(_ batch: [StoreMutation]) -> (Int, Int, [String]) {
        var completedInBatch = Set<JobID>()
        for case .result(let record) in batch { completedInBatch.insert(record.job) }
        var results = 0
        var rejected = 0
        var errors: [String] = []
        do {
            try pool.write { db in
                for mutation in batch {
                    do {
                        switch mutation {
                        case .submitted(let job):
                            try db.cachedStatement(sql: "INSERT INTO jobs (id, run_id, kind, payload, timeout_ms) VALUES (?, ?, ?, ?, ?)")
                                .execute(arguments: [Int64(bitPattern: job.id), job.run.rawValue, job.kind.rawValue, job.payload, job.timeoutMilliseconds])
                        case .leased(let job, let worker, let attempt, let at):
                            if completedInBatch.contains(job) { continue }
                            try db.cachedStatement(sql: "UPDATE jobs SET state = 'leased', attempts = ?, worker = ?, leased_at = ? WHERE id = ?")
                                .execute(arguments: [Int64(attempt), worker.rawValue, at, Int64(bitPattern: job)])
                        case .result(let r):
                            try db.cachedStatement(sql: """
                                INSERT INTO results (job_id, run_id, attempt, worker, status, output, error, duration_us, completed_at)
                                VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
                                """).execute(arguments: [
                                    Int64(bitPattern: r.job), r.run.rawValue, Int64(r.attempt), r.worker.rawValue,
                                    r.outcome.status.rawValue, r.outcome.output, r.outcome.error,
                                    Int64(bitPattern: r.outcome.durationMicroseconds), r.completedAt,
                                ])
                            results += 1
                        case .requeued(let job, let attempts):
                            try db.cachedStatement(sql: "UPDATE jobs SET state = 'queued', attempts = ?, worker = NULL WHERE id = ?")
                                .execute(arguments: [Int64(attempts), Int64(bitPattern: job)])
                        case .failed(let job, let attempts, let reason):
                            try db.cachedStatement(sql: "UPDATE jobs SET state = 'failed', attempts = ?, worker = NULL, failure = ? WHERE id = ?")
                                .execute(arguments: [Int64(attempts), reason, Int64(bitPattern: job)])
                        case .event(let e):
                            try db.cachedStatement(sql: "INSERT INTO events (at, run_id, kind, job_id, worker, detail) VALUES (?, ?, ?, ?, ?, ?)")
                                .execute(arguments: [e.at, e.run, e.kind.rawValue, e.job.map { Int64(bitPattern: $0) }, e.worker, e.detail])
                        case .runState(let run, let state, let at):
                            try db.cachedStatement(sql: "UPDATE runs SET state = ?, updated_at = ? WHERE id = ?")
                                .execute(arguments: [state.rawValue, at, run])
                        }
                    } catch let error as DatabaseError where error.resultCode == .SQLITE_CONSTRAINT {
                        // One refused row must not lose the rest of the batch.
                        if case .result(let r) = mutation {
                            rejected += 1
                            errors.append("store refused a second result for job \(r.job) (attempt \(r.attempt) from \(r.worker)): \(error.message ?? "constraint")")
                        } else {
                            errors.append("store refused a write: \(error)")
                        }
                    }
                }
            }
        } catch {
            errors.append("store batch of \(batch.count) writes failed: \(error)")
            results = 0
        }
        return (results, rejected, errors)
    }
}
