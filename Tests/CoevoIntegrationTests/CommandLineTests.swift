import Foundation
import Testing

/// The `coevo` command as a user runs it.
extension ProcessTests {
@Suite struct CommandLineTests {
    /// Bad input tried: an unknown field, a wrong type, an impossible value, an unknown
    /// job kind, broken YAML, a missing file.
    @Test(arguments: [
        ("workers: {slotz: 3}", "workers.slotz"),
        ("workers: {slots: lots}", "workers.slots"),
        ("coordinator: {heartbeat_interval_ms: 0}", "coordinator.heartbeat_interval_ms"),
        ("workload: {kind: dance}", "workload.kind"),
        ("run: [oops", "YAML"),
    ])
    func aBrokenConfigExitsWithTwoAndNamesTheField(yaml: String, mention: String) async throws {
        let scratch = try Scratch("badconfig")
        defer { scratch.close() }
        let path = try scratch.write("bad.yaml", yaml)
        for (binary, args) in [("coevo", ["run", path]), ("coevo-coordinator", ["--config", path])] {
            let child = try Child(binary, args, in: scratch, name: binary)
            #expect(await child.waitForExit(timeout: 30) == 2)
            #expect(child.log.contains(mention), "\(binary) said: \(child.log)")
        }
        let missing = try Child("coevo", ["run", scratch.url("nope.yaml").path], in: scratch, name: "missing")
        #expect(await missing.waitForExit(timeout: 30) == 2)
        #expect(missing.log.contains("nope.yaml"))
    }

    /// Every command's help reads as paragraphs at 80 columns: a line of prose that the
    /// help wrapped again (an orphan of a word or two before the next source line) was the
    /// sign of a paragraph broken by hand. Each of `coevo`'s commands is asked.
    @Test func everyCommandsHelpWrapsIntoWholeLines() async throws {
        let scratch = try Scratch("help")
        defer { scratch.close() }
        let commands = [["run"], ["validate"], ["coordinator"], ["worker"], ["status"], ["report"], ["dashboard"], ["ablate"],
                        ["calibrate"], ["memory"], ["keys"], ["bench", "dispatch"], ["bench", "model"], ["bench", "scale"],
                        ["bench", "soak"], ["bench", "discovery"]]
        for command in commands {
            let child = try Child("coevo", command + ["--help"], in: scratch, name: command.joined(separator: "-"),
                                  environment: ["COLUMNS": "80"])
            #expect(await child.waitForExit(timeout: 30) == 0, "\(command): \(child.log)")
            let overview = child.log.components(separatedBy: "USAGE:")[0].components(separatedBy: "\n")
            // A short line followed by a line of prose: a paragraph wrapped twice.
            for (line, next) in zip(overview, overview.dropFirst())
            where !line.isEmpty && line.count < 25 && !next.isEmpty && !line.hasSuffix(":") && !line.hasPrefix(" ") && !next.hasPrefix(" ") {
                Issue.record("coevo \(command.joined(separator: " ")) --help has an orphan line '\(line)' before '\(next)'")
            }
        }
    }

    @Test func runShowsProgressDrainsOnSigtermAndResumes() async throws {
        let scratch = try Scratch("run")
        defer { scratch.close() }
        let run = TestRun(scratch: scratch)
        let config = try run.config(kind: "sleep", jobs: 2000, sleepMs: 20, workers: 2, slots: 8)

        let first = try Child("coevo", ["run", config], in: scratch, name: "run-1")
        #expect(await eventually(timeout: 30) { Database.resultCount(run.database) >= 150 }, "\(scratch.logs)")
        let status = try Child("coevo", ["status", "--connect", run.endpoint], in: scratch, name: "status")
        #expect(await status.waitForExit(timeout: 15) == 0, "\(status.log)")
        #expect(status.log.contains("local-0") && status.log.contains("local-1"))
        // One run, with its share of the jobs done.
        #expect(status.log.components(separatedBy: "\nrun it-").count == 2 && status.log.contains("% done"), "\(status.log)")
        #expect(status.log.contains("2 worker(s), 16 slot(s)"), "\(status.log)")
        // --json is plain JSON: numbers are numbers (protobuf's mapping wrote 64-bit ones as strings).
        let json = try Child("coevo", ["status", "--connect", run.endpoint, "--json"], in: scratch, name: "status-json")
        #expect(await json.waitForExit(timeout: 15) == 0, "\(json.log)")
        let object = try #require(try JSONSerialization.jsonObject(with: Data(json.log.utf8)) as? [String: Any], "\(json.log)")
        #expect((object["workers"] as? [[String: Any]])?.map { $0["slots"] as? Int } == [8, 8], "\(json.log)")
        #expect(((object["runs"] as? [[String: Any]])?.first?["expected"] as? Int) == 2000, "\(json.log)")
        #expect(object["resultsDurable"] is Int && object["coordinator"] as? String == run.endpoint, "\(json.log)")

        #expect(await eventually(timeout: 10) { first.log.contains("progress:") }, "no progress line\n\(first.log)")

        first.signal(SIGTERM)
        #expect(await first.waitForExit(timeout: 30) == 0, "\(first.log)")
        #expect(first.log.contains("interrupted") && first.log.contains("resume"))
        let db = try Database(run.database)
        let partial = try db.int("SELECT COUNT(*) FROM results")
        #expect(partial < 2000)
        // A drain takes every lease back with its result: nothing is lost or cut short.
        #expect(try db.int("SELECT COUNT(*) FROM events WHERE kind = 'lease_lost'") == 0)

        let second = try Child("coevo", ["run", config], in: scratch, name: "run-2")
        #expect(await second.waitForExit(timeout: 90) == 0, "\(second.log)")
        #expect(second.log.contains("finished"))
        #expect(try db.int("SELECT COUNT(*) FROM runs") == 1)
        #expect(try db.int("SELECT COUNT(*) FROM results") == 2000)
        #expect(try db.int("SELECT COUNT(DISTINCT job_id) FROM results") == 2000)
    }

    /// min_workers above the local workers: `coevo run` says so, leases nothing, and
    /// starts once remote workers make up the number.
    @Test func runWaitsForMinWorkersAndSaysWhy() async throws {
        let scratch = try Scratch("minworkers")
        defer { scratch.close() }
        let run = TestRun(scratch: scratch)
        let config = try run.config(kind: "noop", jobs: 500, workers: 1, minWorkers: 3)
        let coevo = try Child("coevo", ["run", config], in: scratch, name: "run")
        #expect(await eventually(timeout: 30) { coevo.log.contains("waiting for 2 more worker(s)") }, "\(coevo.log)")
        #expect(coevo.log.contains("coordinator.min_workers is 3 but 1 local worker(s) run"))
        try await Task.sleep(for: .seconds(1))
        #expect(Database.resultCount(run.database) == 0, "nothing is leased before the third worker joins")
        _ = try run.worker("remote-1", slots: 8)
        _ = try run.worker("remote-2", slots: 8)
        #expect(await coevo.waitForExit(timeout: 60) == 0, "\(scratch.logs)")
        #expect(try Database(run.database).int("SELECT COUNT(*) FROM results") == 500)
    }

    /// `coevo report` reads a finished run back from its database. Bad input tried: a
    /// database that does not exist, a run id it does not hold.
    @Test func reportReadsARunBackFromItsDatabase() async throws {
        let scratch = try Scratch("report")
        defer { scratch.close() }
        let run = TestRun(scratch: scratch)
        let config = try run.config(kind: "noop", jobs: 300, workers: 1)
        let coevo = try Child("coevo", ["run", config], in: scratch, name: "run")
        #expect(await coevo.waitForExit(timeout: 60) == 0, "\(coevo.log)")
        let id = try #require(try Database(run.database).strings("SELECT id FROM runs").first)

        let report = try Child("coevo", ["report", config], in: scratch, name: "report")
        #expect(await report.waitForExit(timeout: 30) == 0, "\(report.log)")
        #expect(report.log.contains("run \(id) (it, seed 7): finished"))
        #expect(report.log.contains("jobs       300 (noop)") && report.log.contains("results    300 durable, 300 succeeded, 0 failed"))
        #expect(report.log.contains("1 run_created") && report.log.contains("1 run_finished"))

        let events = try Child("coevo", ["report", run.database, "--run", id, "--events", "run_*"], in: scratch, name: "events")
        #expect(await events.waitForExit(timeout: 30) == 0, "\(events.log)")
        #expect(events.log.contains("\(id)  run_created  300 jobs") && events.log.contains("\(id)  run_finished"))

        let missing = try Child("coevo", ["report", scratch.url("nope.sqlite").path], in: scratch, name: "missing")
        #expect(await missing.waitForExit(timeout: 30) == 1)
        #expect(missing.log.contains("no database at") && missing.log.contains("nope.sqlite"))
        #expect(!FileManager.default.fileExists(atPath: scratch.url("nope.sqlite").path), "report creates nothing")
        let unknown = try Child("coevo", ["report", run.database, "--run", "r-404"], in: scratch, name: "unknown")
        #expect(await unknown.waitForExit(timeout: 30) == 1)
        #expect(unknown.log.contains("no run 'r-404'") && unknown.log.contains(id))
    }

    /// Bad input: a worker id too long to fit the routing id `<id>/<session>` (255 bytes).
    @Test func aWorkerIdThatCannotBeARoutingIdIsRefused() async throws {
        let scratch = try Scratch("longid")
        defer { scratch.close() }
        let worker = try Child("coevo-worker", ["--id", String(repeating: "w", count: 239)], in: scratch, name: "worker")
        #expect(await worker.waitForExit(timeout: 15) == 64)
        #expect(worker.log.contains("--id must be 1 to 238 bytes (got 239)"), "\(worker.log)")
    }

    @Test func statusSaysWhenNobodyAnswers() async throws {
        let scratch = try Scratch("nostatus")
        defer { scratch.close() }
        let status = try Child("coevo", ["status", "--connect", "tcp://127.0.0.1:\(freePort())", "--timeout-ms", "300"],
                               in: scratch, name: "status")
        #expect(await status.waitForExit(timeout: 15) == 1)
        #expect(status.log.contains("no coordinator answered"))
    }

    /// A bind address with a wildcard port (`tcp://127.0.0.1:*`): the local workers
    /// connect to the port the coordinator got, not to the wildcard.
    @Test func coevoRunOnAWildcardPortGivesItsWorkersThePortItGot() async throws {
        let scratch = try Scratch("wildcard")
        defer { scratch.close() }
        let database = scratch.url("run.sqlite").path
        let config = try scratch.write("wildcard.yaml", """
            run: {name: wildcard, seed: 1}
            coordinator: {bind: "tcp://127.0.0.1:*", database: \(database)}
            workers: {count: 2, slots: 8}
            workload: {kind: noop, jobs: 300}
            """)
        let run = try Child("coevo", ["run", config], in: scratch, name: "run")
        #expect(await run.waitForExit(timeout: 60) == 0, "\(run.log)")
        #expect(try Database(database).int("SELECT COUNT(*) FROM results WHERE status = 'succeeded'") == 300, "\(run.log)")
    }

    /// `coevo bench scale` at a small size: every worker of the swarm processes joins
    /// (the run starts only when all have), every job is durable (the command fails
    /// otherwise), and the idle window counts about one heartbeat per worker per second.
    @Test func theScaleBenchmarkHoldsItsWorkersAndCountsTheirHeartbeats() async throws {
        let scratch = try Scratch("scale")
        defer { scratch.close() }
        let bench = try Child("coevo", ["bench", "scale", "--workers", "3,40", "--processes", "2", "--jobs", "2000",
                                        "--idle-seconds", "3"], in: scratch, name: "bench")
        #expect(await bench.waitForExit(timeout: 120) == 0, "\(bench.log)")
        let rows = bench.log.split(separator: "\n").map { $0.split(separator: " ") }.filter { $0.count == 8 && Int($0[0]) != nil }
        #expect(rows.map { $0[0] } == ["3", "40"], "\(bench.log)")
        if rows.count == 2 {
            let heartbeats = Double(rows[1][4]) ?? 0
            #expect((30...50).contains(heartbeats), "40 workers at 1 heartbeat/s: \(heartbeats)/s")
            #expect(rows.allSatisfy { $0[7] == "0" }, "no worker lost: \(bench.log)")
        }
    }
}
}
