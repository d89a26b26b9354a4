import CoevoCore
@testable import CoevoStore
import Foundation
import GRDB
import Testing

/// A real SQLite file in a temporary directory for each test.
@Suite struct CoevoStoreTests {
    let directory = FileManager.default.temporaryDirectory.appendingPathComponent("coevo-store-\(UUID().uuidString)")
    var path: String { directory.appendingPathComponent("db.sqlite").path }

    func jobs(_ count: Int, run: String = "r1", first: JobID = 1) -> [Job] {
        (0..<count).map { Job(id: first + JobID($0), run: RunID(run), kind: .noop, payload: Data([UInt8($0 & 0xff)]), timeoutMilliseconds: 1000) }
    }

    func result(_ job: JobID, attempt: UInt32 = 1, worker: WorkerID = "w1") -> StoreMutation {
        .result(ResultRecord(job: job, attempt: attempt, worker: worker,
                             outcome: JobOutcome(status: .succeeded, output: Data([UInt8(job & 0xff)])), completedAt: 0))
    }

    @Test func resultsBecomeDurableAndResumeSeesTheRest() throws {
        let store = try CoevoStore(path: path)
        try store.createRun(StoredRun(id: "r1", name: "n", seed: 1, config: "{}"), jobs: jobs(10))
        #expect(try store.reserveJobIDs(5) == 11..<16)
        store.writer.enqueue(.leased(1, worker: "w1", attempt: 1, at: 0))
        store.writer.enqueue(.leased(2, worker: "w1", attempt: 1, at: 0))
        store.writer.enqueue(result(1))
        store.writer.enqueue(.failed(3, attempts: 3, reason: "lease lost"))
        store.writer.enqueue(.leased(4, worker: "w2", attempt: 1, at: 0))
        store.writer.enqueue(.requeued(4, attempts: 1))
        store.writer.flush()
        #expect(store.writer.durableResults == 1)

        // A second store on the same file is what a restarted coordinator sees.
        let reopened = try CoevoStore(path: path)
        let state = try reopened.jobs(ofRun: "r1")
        #expect(state.succeeded == [1])
        #expect(state.failed == [3])
        #expect(state.unfinished.map(\.job.id) == [2, 4, 5, 6, 7, 8, 9, 10])
        #expect(state.unfinished.first { $0.job.id == 4 }?.attempts == 1)
        #expect(state.unfinished.first { $0.job.id == 2 }?.attempts == 1)
        let counts = try reopened.counts(ofRun: "r1")
        #expect(counts == { var c = CoevoStore.RunCounts(); c.jobs = 10; c.results = 1; c.succeeded = 1; c.failed = 1; c.firstFailure = "lease lost"; return c }())
        #expect(try reopened.unfinishedRuns().map(\.id) == ["r1"])
        reopened.writer.enqueue(.runState("r1", .finished, at: 1))
        reopened.writer.flush()
        #expect(try reopened.unfinishedRuns().isEmpty)
        store.writer.stop()
        reopened.writer.stop()
    }

    @Test func aSecondResultForAJobIsRefusedAndTheRestOfTheBatchLands() throws {
        let store = try CoevoStore(path: path)
        let errors = Errors()
        store.writer.onError { errors.append($0) }
        try store.createRun(StoredRun(id: "r1", name: "n", seed: 1, config: "{}"), jobs: jobs(3))
        store.writer.enqueue(contentsOf: [result(1), result(1, attempt: 2, worker: "w2"), result(2)])
        store.writer.flush()
        #expect(store.writer.durableResults == 2)
        #expect(store.writer.rejectedResults == 1)
        #expect(errors.all.count == 1)
        #expect(errors.all.first?.contains("second result for job 1") == true)
        #expect(try store.counts(ofRun: "r1").results == 2)
        store.writer.stop()
    }

    /// The writer inserts job and result rows 64 to a statement: a refused row inside a
    /// full chunk must cost that row only, and rows arriving interleaved (a lease after
    /// its job's row, results between job rows) must land as if written one by one.
    @Test func bulkRowsLandWholeAroundARefusedRowAndKeepEmptyValuesEmpty() throws {
        let store = try CoevoStore(path: path)
        let errors = Errors()
        store.writer.onError { errors.append($0) }
        try store.createRun(StoredRun(id: "r1", name: "n", seed: 1, config: "{}"), jobs: [])
        var batch: [StoreMutation] = []
        for job in jobs(150) {
            batch.append(job.id % 2 == 0 ? .leasedFirst(job, worker: "w1", attempt: 1, at: 5) : .submitted(job))
            if job.id % 3 == 0 { batch.append(result(job.id)) }
        }
        batch.append(.leased(149, worker: "w2", attempt: 1, at: 6))
        // Jobs 1-29 and their 9 results come first: this goes before job 30's row and result.
        if case .leasedFirst(let job, _, _, _) = batch[38] { #expect(job.id == 30) } else { Issue.record("batch[38]") }
        batch.insert(result(30, attempt: 2, worker: "w9"), at: 38)
        batch.append(.result(ResultRecord(job: 151, attempt: 1, worker: "w1",
                                          outcome: JobOutcome(status: .failed, output: Data(), error: ""), completedAt: 1)))
        batch.append(.submitted(jobs(1, first: 151)[0]))
        store.writer.enqueue(contentsOf: batch)
        store.writer.flush()

        #expect(store.writer.durableResults == 51)  // 50 multiples of 3, and job 151
        #expect(store.writer.rejectedResults == 1)
        #expect(errors.all.count == 1)
        #expect(errors.all.first?.contains("second result for job 30") == true)
        let state = try store.jobs(ofRun: "r1")
        #expect(state.succeeded.count + state.failed.count == 51)
        #expect(state.unfinished.count == 100)
        #expect(state.unfinished.first { $0.job.id == 149 }?.attempts == 1)
        try DatabaseQueue(path: path).read { db in
            // The first result for job 30 in the batch won: the one from w9.
            #expect(try String.fetchOne(db, sql: "SELECT worker FROM results WHERE job_id = 30") == "w9")
            #expect(try String.fetchOne(db, sql: "SELECT worker FROM jobs WHERE id = 149") == "w2")
            #expect(try String.fetchOne(db, sql: "SELECT state FROM jobs WHERE id = 2") == "leased")
            #expect(try String.fetchOne(db, sql: "SELECT state FROM jobs WHERE id = 1") == "queued")
            #expect(try Data.fetchOne(db, sql: "SELECT payload FROM jobs WHERE id = 7") == Data([6]))
            let empty = try Row.fetchOne(db, sql: "SELECT output, error, typeof(output), typeof(error) FROM results WHERE job_id = 151")!
            #expect(empty[2] as String == "blob")
            #expect(empty[3] as String == "text")
            #expect((empty[0] as Data).isEmpty && (empty[1] as String).isEmpty)
        }
        store.writer.stop()
    }

    @Test func eventsAreAppendedInOrder() throws {
        let store = try CoevoStore(path: path)
        for i in 0..<5 { store.writer.enqueue(.event(EventRecord(at: Double(i), kind: .workerJoined, job: JobID(i), detail: "#\(i)"))) }
        store.writer.enqueue(.event(EventRecord(at: 9, kind: .workerLeft)))
        store.writer.flush()
        #expect(try store.events(kind: .workerJoined).map(\.detail) == ["#0", "#1", "#2", "#3", "#4"])
        #expect(try store.events(kind: .workerLeft).count == 1)
        store.writer.stop()
    }

    /// Reserved ids are never handed out again: not by a second reservation, not after a
    /// reopen (a restarted coordinator), not when jobs with lower ids are stored later.
    @Test func reservedJobIdsAreNeverGivenTwice() throws {
        let store = try CoevoStore(path: path)
        #expect(try store.reserveJobIDs(100) == 1..<101)
        #expect(try store.reserveJobIDs(10) == 101..<111)
        try store.raiseJobIDCeiling(to: 50)  // never lowers
        #expect(try store.reserveJobIDs(1) == 111..<112)
        try store.raiseJobIDCeiling(to: 500)
        try store.createRun(StoredRun(id: "r1", name: "n", seed: 1, config: "{}"), jobs: jobs(3, first: 600))
        let reopened = try CoevoStore(path: path)
        #expect(try reopened.reserveJobIDs(2) == 603..<605, "above both the ceiling and the largest stored id")
        store.writer.stop()
        reopened.writer.stop()
    }

    /// Bad input: the database loses a table under the writer (any write of the batch
    /// fails as a whole, as on a full disk). The batch is retried, then the writer gives
    /// up loudly: nothing of that batch or after it is committed, flush does not hang,
    /// and the failure is there for the coordinator to stop on.
    @Test func aBatchThatKeepsFailingStopsTheWriterLoudlyAndCommitsNothingAfterIt() throws {
        let store = try CoevoStore(path: path)
        let errors = Errors()
        store.writer.onError { errors.append($0) }
        try store.createRun(StoredRun(id: "r1", name: "n", seed: 1, config: "{}"), jobs: jobs(3))
        store.writer.enqueue(result(1))
        store.writer.flush()
        #expect(store.writer.durableResults == 1 && store.writer.failure == nil)

        try DatabaseQueue(path: path).write { try $0.execute(sql: "DROP TABLE events") }
        store.writer.enqueue(contentsOf: [result(2), .event(EventRecord(at: 1, run: "r1", kind: .jobFailed))])
        store.writer.flush()
        #expect(store.writer.failure?.contains("no such table: events") == true)
        #expect(errors.all.filter { $0.contains("retrying") }.count == 4)
        #expect(errors.all.last?.contains("giving up") == true)
        store.writer.enqueue(result(3))
        store.writer.flush()
        store.writer.stop()
        // Neither result 2 (rolled back with its batch) nor 3 (behind it) was written.
        #expect(try CoevoStore(path: path).counts(ofRun: "r1").results == 1)
        #expect(store.writer.durableResults == 1)
    }

    /// Bad input: jobs of a run the store has never heard of (a driver's bug, a run id
    /// mistyped) in the middle of a batch. Their rows are refused by name; the rest of the
    /// batch, jobs and results of the known run on either side, lands.
    @Test func jobsOfAnUnknownRunAreRefusedAndTheRestOfTheBatchLands() throws {
        let store = try CoevoStore(path: path)
        let errors = Errors()
        store.writer.onError { errors.append($0) }
        try store.createRun(StoredRun(id: "r1", name: "n", seed: 1, config: "{}"), jobs: [])
        var batch = jobs(4).map { StoreMutation.submitted($0) }
        batch.insert(contentsOf: jobs(2, run: "nowhere", first: 10).map { .submitted($0) }, at: 2)
        batch.append(result(1))
        batch.append(.leasedFirst(jobs(1, first: 5)[0], worker: "w1", attempt: 1, at: 0))
        store.writer.enqueue(contentsOf: batch)
        store.writer.flush()
        #expect(errors.all.sorted() == ["store refused job 10's row: the store has no run nowhere",
                                        "store refused job 11's row: the store has no run nowhere"])
        let state = try store.jobs(ofRun: "r1")
        #expect(state.succeeded == [1])
        #expect(state.unfinished.map(\.job.id) == [2, 3, 4, 5])
        #expect(try store.jobs(ofRun: "nowhere").unfinished.isEmpty)
        store.writer.stop()
    }

    /// A database written before runs had keys (schema v5: every job and result row named
    /// its run by id) opens with everything where it was: each run's jobs, their
    /// results and states, the counts, the job_status view; new writes after it land too.
    @Test func aDatabaseFromBeforeRunKeysKeepsEveryRunsJobsAndResults() throws {
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let old = try DatabaseQueue(path: path)
        try CoevoStore.migrator.migrate(old, upTo: "v5-no-results-by-run")
        try old.write { db in
            for (id, created) in [("zeta-20261203-101010", 1.0), ("alpha-20261203-101011", 2.0)] {
                try db.execute(sql: "INSERT INTO runs (id, name, seed, config, state, created_at, updated_at) VALUES (?, 'n', 7, '{}', 'running', ?, ?)",
                               arguments: [id, created, created])
            }
            // Jobs 1-6 of zeta, 7-9 of alpha; results for 2, 4 and 8; job 5 failed, job 6 leased.
            for id in 1...9 {
                try db.execute(sql: "INSERT INTO jobs (id, run_id, kind, payload, timeout_ms, state, attempts, worker, failure) VALUES (?, ?, ?, ?, 1000, ?, ?, ?, ?)",
                               arguments: [id, id <= 6 ? "zeta-20261203-101010" : "alpha-20261203-101011", id % 2 == 0 ? "noop" : "sleep",
                                           Data([UInt8(id)]), id == 5 ? "failed" : id == 6 ? "leased" : "queued",
                                           id == 5 ? 3 : id == 6 ? 1 : 0, id == 6 ? "w2" : nil, id == 5 ? "lease lost" : nil])
            }
            for id in [2, 4, 8] {
                try db.execute(sql: "INSERT INTO results (job_id, run_id, attempt, worker, status, output, error, duration_us, completed_at) VALUES (?, ?, 1, 'w1', ?, ?, '', 5, ?)",
                               arguments: [id, id <= 6 ? "zeta-20261203-101010" : "alpha-20261203-101011", id == 4 ? "failed" : "succeeded",
                                           Data([UInt8(id), 0]), Double(id)])
            }
        }
        try old.close()

        let store = try CoevoStore(path: path)
        let zeta = try store.jobs(ofRun: "zeta-20261203-101010")
        // Job 4's result failed: it is finished, and counted as failed, not succeeded.
        #expect(zeta.succeeded == [2] && zeta.failed == [4, 5])
        let counts = try store.counts(ofRun: "zeta-20261203-101010")
        #expect([counts.results, counts.succeeded, counts.failed] as [Int] == [2, 1, 2], "a failed result and a job without one")
        #expect(zeta.unfinished.map(\.job.id) == [1, 3, 6])
        #expect(zeta.unfinished.map(\.attempts) == [0, 0, 1])
        #expect(zeta.unfinished.allSatisfy { $0.job.run == "zeta-20261203-101010" && $0.job.payload == Data([UInt8($0.job.id)]) })
        let alpha = try store.storedJobs(ofRun: "alpha-20261203-101011")
        #expect(alpha.map(\.job.id) == [7, 8, 9])
        #expect(alpha[1].outcome == JobOutcome(status: .succeeded, output: Data([8, 0])) && alpha[1].completedAt == 8)
        #expect(try store.counts(ofRun: "zeta-20261203-101010")
            == { var c = CoevoStore.RunCounts(); c.jobs = 6; c.results = 2; c.succeeded = 1; c.failed = 2; c.firstFailure = "failed"; return c }())
        #expect(try store.jobKinds(ofRun: "alpha-20261203-101011") == ["sleep": 2, "noop": 1])
        #expect(try store.runs().map(\.id) == ["zeta-20261203-101010", "alpha-20261203-101011"])

        store.writer.enqueue(.submitted(Job(id: 10, run: "alpha-20261203-101011", kind: .noop, payload: Data([10]), timeoutMilliseconds: 1000)))
        store.writer.enqueue(result(10))
        store.writer.flush()
        #expect(try store.counts(ofRun: "alpha-20261203-101011").results == 2)
        let (statuses, brokenReferences, resultColumns) = try DatabaseQueue(path: path).read { db in
            (try String.fetchAll(db, sql: "SELECT run_id || ':' || id || ':' || status FROM job_status WHERE id IN (2, 5, 6, 10) ORDER BY id"),
             try Row.fetchAll(db, sql: "PRAGMA foreign_key_check").count,
             try String.fetchAll(db, sql: "SELECT name FROM pragma_table_info('results')"))
        }
        #expect(statuses == ["zeta-20261203-101010:2:done", "zeta-20261203-101010:5:failed", "zeta-20261203-101010:6:leased",
                             "alpha-20261203-101011:10:done"])
        #expect(brokenReferences == 0)
        #expect(resultColumns.count == 8 && !resultColumns.contains("run_id"))
        store.writer.stop()
    }

    /// A database from when an attempt's bundle was also kept in its attempts row (schema
    /// v8) keeps every attempt, and new attempts land, without the copy.
    @Test func aDatabaseWithBundlesInItsAttemptsKeepsTheAttempts() throws {
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let old = try DatabaseQueue(path: path)
        try CoevoStore.migrator.migrate(old, upTo: "v8-job-keys")
        try old.write { db in
            try db.execute(sql: "INSERT INTO runs (id, name, seed, config, state, created_at, updated_at) VALUES ('d', 'd', 7, '{}', 'running', 1, 1)")
            try db.execute(sql: """
                INSERT INTO attempts (run_id, key, round, agent, commit_sha, parent_sha, score, status, pool_best, feedback, message, bundle)
                VALUES ('d', 'r1.step.a1', 1, 'a1', 'c1', NULL, 0.5, 'improved', 1, 'ok', 'first', x'0102')
                """)
        }
        try old.close()

        let store = try CoevoStore(path: path)
        let first = Attempt(key: "r1.step.a1", round: 1, agent: "a1", commit: "c1", parent: nil, score: 0.5, status: .improved,
                            poolBest: true, feedback: "ok", message: "first")
        #expect(try store.attempts(ofRun: "d") == [first])
        let second = Attempt(key: "r2.step.a1", round: 2, agent: "a1", commit: "c2", parent: "c1", score: nil, status: .crashed,
                             poolBest: false, feedback: "", message: "second")
        store.writer.enqueue(.memory(.attempt(second), run: "d"))
        store.writer.flush()
        #expect(try store.attempts(ofRun: "d") == [first, second])
        let columns = try DatabaseQueue(path: path).read { db in try String.fetchAll(db, sql: "SELECT name FROM pragma_table_info('attempts')") }
        #expect(!columns.contains("bundle") && columns.count == 11, "\(columns)")
        store.writer.stop()
    }
}

final class Errors: @unchecked Sendable {
    private let lock = NSLock()
    private var items: [String] = []
    func append(_ s: String) { lock.withLock { items.append(s) } }
    var all: [String] { lock.withLock { items } }
}
