import CoevoTestSupport
import Foundation
import Testing

extension ProcessTests {
    /// A run tells the truth at once: an endpoint that cannot answer is refused before
    /// anything is written, failures are counted and named, a finished run exits, and an
    /// outage does not stop the coordinator's clock. Every endpoint here is the fault
    /// server (Tests/CoevoBackendsTests/Fixtures/fault_server.py), a real HTTP server whose
    /// answers the URL's first path segment picks, or a port nothing listens on.
    @Suite struct RunTruthTests {
        /// A scratch with the fault server up, and a `coevo run` config of `jobs` chat calls to `url`.
        struct Setting {
            let scratch: Scratch
            let run: TestRun
            let server: Process
            let serverPort: Int

            init(_ name: String) throws {
                scratch = try Scratch(name)
                run = TestRun(scratch: scratch)
                (server, serverPort) = try TestSupport.startFaultServer()
            }

            func config(url: String, jobs: Int = 4, extra: String = "", kind: String = "llm.chat") throws -> String {
                try scratch.write("run.yaml", """
                    run: {name: truth, seed: 3}
                    coordinator: {bind: "\(run.endpoint)", database: \(run.database)}
                    workers: {count: 1, slots: 4}
                    endpoints: [{name: e, url: "\(url)", model: m, max_attempts: 1}]
                    workload: {kind: \(kind), jobs: \(jobs), endpoint: e, prompt: "say {i}"}
                    \(extra)
                    """)
            }

            /// `coevo run ARGUMENTS` with no local workers, stopped with SIGTERM once it waits
            /// for some: its run is stored, unfinished. Returns what it logged.
            func interruptedRun(_ arguments: [String]) async throws -> String {
                let idle = try Child("coevo", ["run"] + arguments, in: scratch, name: "idle")
                #expect(await eventually(timeout: 20) { idle.log.contains("no local workers") }, "\(idle.log)")
                idle.signal(SIGTERM)
                #expect(await idle.waitForExit(timeout: 20) == 0, "\(idle.log)")
                return idle.log
            }

            func runs() throws -> Int {
                FileManager.default.fileExists(atPath: run.database) ? try Database(run.database).int("SELECT COUNT(*) FROM runs") : 0
            }

            func close() {
                kill(server.processIdentifier, SIGKILL)
                server.waitUntilExit()
                scratch.close()
            }
        }

        /// Bad input: a port nothing listens on, and a URL whose path the server does not
        /// serve. Each is refused at once (exit 2) with the URL and the server's words, and
        /// no run is written. Before: about 30 minutes of "0% done, ETA unknown".
        @Test func anEndpointThatDoesNotAnswerIsRefusedBeforeAnythingIsWritten() async throws {
            let setting = try Setting("endpoint-check")
            defer { setting.close() }
            let closed = freePort()
            let cases = [("http://127.0.0.1:\(closed)", "POST http://127.0.0.1:\(closed)/v1/chat/completions: connection failed"),
                         ("http://127.0.0.1:\(setting.serverPort)/nosuch", "HTTP 404: no such scenario")]
            for (index, (url, words)) in cases.enumerated() {
                let coevo = try Child("coevo", ["run", try setting.config(url: url)], in: setting.scratch, name: "run-\(index)")
                #expect(await coevo.waitForExit(timeout: 30) == 2, "\(coevo.log)")
                #expect(coevo.log.contains(words), "\(coevo.log)")
                #expect(!coevo.log.contains("started 1 local worker"), "nothing started: \(coevo.log)")
                #expect(try setting.runs() == 0, "no run written for \(url)")
            }
        }

        /// Every call fails (HTTP 404 on each): the summary counts them as failed, names the
        /// first failure with its URL and the server's words, and the run exits non-zero.
        /// Before: "4 durable, 0 succeeded, 0 failed" and exit 0. A base URL written with a
        /// trailing /v1, as OpenAI's SDK writes it, calls the same paths as without.
        @Test func aRunWhoseCallsAllFailSaysSoAndExitsNonZero() async throws {
            let setting = try Setting("all-failed")
            defer { setting.close() }
            let base = "http://127.0.0.1:\(setting.serverPort)"
            let failing = try Child("coevo", ["run", try setting.config(url: base + "/nosuch/v1"), "--skip-endpoint-check"],
                                    in: setting.scratch, name: "failing")
            #expect(await failing.waitForExit(timeout: 60) == 1, "\(failing.log)")
            #expect(failing.log.contains("results    4 durable, 0 succeeded, 4 failed"), "\(failing.log)")
            #expect(failing.log.contains("1st fail   endpoint 'e' failed after 1 attempt(s): POST \(base)/nosuch/v1/chat/completions: HTTP 404: no such scenario"),
                    "\(failing.log)")
            #expect(failing.log.contains("every finished job of run truth-"), "\(failing.log)")
            #expect(failing.log.components(separatedBy: "further failures are counted").count == 2, "the first failure logged once: \(failing.log)")

            try FileManager.default.removeItem(atPath: setting.run.database)
            let working = try Child("coevo", ["run", try setting.config(url: base + "/ok/v1/")], in: setting.scratch, name: "working")
            #expect(await working.waitForExit(timeout: 60) == 0, "\(working.log)")
            #expect(working.log.contains("results    4 durable, 4 succeeded, 0 failed"), "\(working.log)")
        }

        /// A client reading the dashboard's event stream does not keep a finished run's
        /// process alive. Before: it lived until the client left (here curl's 60 s limit).
        @Test func aFinishedRunExitsWithADashboardStreamOpen() async throws {
            let setting = try Setting("dashboard-exit")
            defer { setting.close() }
            let http = freePort()
            let config = try setting.run.config(kind: "sleep", jobs: 40, sleepMs: 100, workers: 1, slots: 2)
            let coevo = try Child("coevo", ["run", config, "--dashboard", "\(http)"], in: setting.scratch, name: "run")
            let summary = "http://127.0.0.1:\(http)/api/summary"
            #expect(await eventually(timeout: 30) { (try? DashboardTests.curl(summary).code) == 200 }, "\(coevo.log)")
            let stream = try Child("/usr/bin/curl", ["-sN", "-m", "60", "http://127.0.0.1:\(http)/api/stream"],
                                   in: setting.scratch, name: "stream")
            #expect(await coevo.waitForExit(timeout: 20) == 0, "the run did not exit with a stream open: \(coevo.log)")
            #expect(coevo.log.contains("run it-") && coevo.log.contains(": finished"), "\(coevo.log)")
            #expect(stream.log.contains("event: summary"), "the stream was served: \(stream.log)")
            // The run's wall time does not count a wait for the client.
            let wall = coevo.log.components(separatedBy: "wall time  ").last.flatMap { Double($0.prefix { $0 != " " }) }
            #expect((wall ?? 99) < 15, "\(coevo.log)")
        }

        /// Bad input: a dashboard port and a coordinator port something already listens on
        /// (the fault server's). Each is refused naming the port, before a run is written.
        /// Before: the dashboard's port was found out at the end (no summary, exit 1), and
        /// the coordinator's after a phantom "running" run was stored.
        @Test func aTakenPortIsRefusedBeforeAnythingIsWritten() async throws {
            let setting = try Setting("ports")
            defer { setting.close() }
            let taken = setting.serverPort
            let config = try setting.run.config(kind: "noop", jobs: 10, workers: 1)
            let dashboard = try Child("coevo", ["run", config, "--dashboard", "\(taken)"], in: setting.scratch, name: "dashboard")
            #expect(await dashboard.waitForExit(timeout: 30) == 1, "\(dashboard.log)")
            #expect(dashboard.log.contains("--dashboard 127.0.0.1:\(taken): Address already in use"), "\(dashboard.log)")
            #expect(try setting.runs() == 0)

            let busy = try setting.scratch.write("busy.yaml", """
                run: {name: busy}
                coordinator: {bind: "tcp://127.0.0.1:\(taken)", database: \(setting.run.database)}
                workload: {kind: noop, jobs: 10}
                """)
            for (binary, arguments) in [("coevo", ["run", busy]), ("coevo-coordinator", ["--config", busy])] {
                let child = try Child(binary, arguments, in: setting.scratch, name: binary)
                #expect(await child.waitForExit(timeout: 30) == 1, "\(child.log)")
                #expect(child.log.contains("cannot bind tcp://127.0.0.1:\(taken)"), "\(child.log)")
                #expect(try setting.runs() == 0, "\(binary) wrote no run")
            }
        }

        /// An endpoint that is down all through (nothing listens on its port) defers every
        /// call for the breaker's 30 s; the coordinator's tick goes on all the same:
        /// heartbeats reach the worker, which never finds the coordinator silent. Before:
        /// the deferral's wake replaced the tick, and the worker reconnected every 5 s.
        @Test func anEndpointOutageLeavesTheCoordinatorsClockRunning() async throws {
            let setting = try Setting("outage")
            defer { setting.close() }
            let down = "http://127.0.0.1:\(freePort())"
            let config = try setting.config(url: down, jobs: 8)
            let http = freePort()
            let coordinator = try Child("coevo-coordinator", ["--config", config, "--dashboard", "\(http)"], in: setting.scratch,
                                        name: "coordinator")
            let worker = try setting.run.worker("w-1", slots: 4)
            #expect(await eventually(timeout: 20) { coordinator.log.contains("deferred job") }, "\(setting.scratch.logs)")
            try await Task.sleep(for: .seconds(8))
            #expect(!worker.log.contains("coordinator silent"), "\(worker.log)")
            #expect(coordinator.log.contains("deferred job") && coordinator.log.contains("POST http://127.0.0.1:"), "the deferral names the URL: \(coordinator.log)")
            #expect(coordinator.isRunning && worker.isRunning)
            // The dashboard says what is wrong, with the URL, in Chromium as in its JSON.
            let page = try DashboardTests.chromium(["--timeout=3000", "--dump-dom", "http://127.0.0.1:\(http)/"])
            #expect(page.contains("class=\"run-problem\"") && page.contains("POST \(down)/v1/chat/completions"), "\(page.suffix(3000))")
            let summary = try DashboardTests.curl("http://127.0.0.1:\(http)/api/summary").body
            #expect(summary.contains("\"lastProblem\"") && summary.contains(down), "\(summary)")
        }
    
        /// A run of the embedded defaults (no config) stopped before it finished resumes
        /// with the same command, and `coevo-coordinator --database OLD` without a config
        /// writes no new run into a database whose runs finished. Before: "its stored config
        /// does not load here" (exit 0), and a fresh 20,000-job run in the old database.
        @Test func aRunOfTheEmbeddedDefaultsResumesAndAnOldDatabaseGetsNoNewRun() async throws {
            let setting = try Setting("defaults")
            defer { setting.close() }
            let database = setting.run.database
            let place = ["--database", database, "--bind", "tcp://127.0.0.1:*"]
            let idle = try await setting.interruptedRun(["--workers", "0"] + place)
            #expect(idle.contains(": interrupted"), "\(idle)")

            let resumed = try Child("coevo", ["run"] + place, in: setting.scratch, name: "resumed")
            #expect(await resumed.waitForExit(timeout: 60) == 0, "\(resumed.log)")
            #expect(resumed.log.contains("resuming") && resumed.log.contains("20000 durable, 20000 succeeded"), "\(resumed.log)")
            #expect(try setting.runs() == 1)

            let reader = try Child("coevo-coordinator", place, in: setting.scratch, name: "reader")
            #expect(await reader.waitForExit(timeout: 20) == 2, "\(reader.log)")
            #expect(reader.log.contains("every run in \(database) is finished"), "\(reader.log)")
            #expect(try setting.runs() == 1, "no new run was written")
        }

        /// An edited config while its run is unfinished is refused with the choice named
        /// (exit 2, nothing written); --new-run sets the old run aside and starts afresh.
        /// Before: the edit was silently ignored and the old run resumed.
        @Test func anEditedConfigIsNotSilentlyIgnoredOnResume() async throws {
            let setting = try Setting("edited")
            defer { setting.close() }
            let config = try setting.run.config(kind: "noop", jobs: 30, workers: 0)
            _ = try await setting.interruptedRun([config])

            let edited = try setting.run.config(kind: "noop", jobs: 40, workers: 1)
            let refused = try Child("coevo", ["run", edited], in: setting.scratch, name: "refused")
            #expect(await refused.waitForExit(timeout: 20) == 2, "\(refused.log)")
            #expect(refused.log.contains("changed: workload") && refused.log.contains("--new-run"), "\(refused.log)")
            #expect(!refused.log.contains("started 1 local worker"), "\(refused.log)")

            let fresh = try Child("coevo", ["run", edited, "--new-run"], in: setting.scratch, name: "fresh")
            #expect(await fresh.waitForExit(timeout: 60) == 0, "\(fresh.log)")
            #expect(fresh.log.contains("40 durable, 40 succeeded"), "\(fresh.log)")
            let states = try Database(setting.run.database).strings("SELECT state FROM runs ORDER BY created_at")
            #expect(states == ["abandoned", "finished"])
        }

        /// Bad input: a log level that is none, by flag and by environment. Before: both ran at info.
        @Test func aLogLevelThatIsNoneIsRefused() async throws {
            let setting = try Setting("loglevel")
            defer { setting.close() }
            let config = try setting.run.config(kind: "noop", jobs: 5, workers: 1)
            let flag = try Child("coevo", ["run", config, "--log-level", "loud"], in: setting.scratch, name: "flag")
            #expect(await flag.waitForExit(timeout: 20) == 64, "\(flag.log)")
            #expect(flag.log.contains("--log-level 'loud' is not a level: use one of trace, debug, info"), "\(flag.log)")
            let variable = try Child("coevo", ["run", config], in: setting.scratch, name: "env", environment: ["COEVO_LOG_LEVEL": "loud"])
            #expect(await variable.waitForExit(timeout: 20) == 64, "\(variable.log)")
            #expect(variable.log.contains("COEVO_LOG_LEVEL 'loud' is not a level"), "\(variable.log)")
            let both = try Child("coevo", ["run", config, "-v", "-q"], in: setting.scratch, name: "both")
            #expect(await both.waitForExit(timeout: 20) == 64, "\(both.log)")
            #expect(try setting.runs() == 0)
            // -q keeps the summary and drops the info lines.
            let quiet = try Child("coevo", ["run", config, "-q"], in: setting.scratch, name: "quiet")
            #expect(await quiet.waitForExit(timeout: 30) == 0, "\(quiet.log)")
            #expect(quiet.log.contains("results    5 durable, 5 succeeded") && !quiet.log.contains(" info "), "\(quiet.log)")
        }

        /// `coevo validate` says what `coevo run` would, running and writing nothing. Bad
        /// input: an endpoint path the server does not serve, a field that is no field.
        @Test func validateChecksAConfigItsEndpointsAndItsDatabaseWithoutRunning() async throws {
            let setting = try Setting("validate")
            defer { setting.close() }
            let base = "http://127.0.0.1:\(setting.serverPort)"
            let good = try Child("coevo", ["validate", try setting.config(url: base + "/ok")], in: setting.scratch, name: "good")
            #expect(await good.waitForExit(timeout: 30) == 0, "\(good.log)")
            #expect(good.log.contains("a batch of 4 llm.chat jobs") && good.log.contains("model 'm'): answered")
                    && good.log.contains("coevo run would create it"), "\(good.log)")
            let bad = try Child("coevo", ["validate", try setting.config(url: base + "/nosuch")], in: setting.scratch, name: "bad")
            #expect(await bad.waitForExit(timeout: 30) == 2, "\(bad.log)")
            #expect(bad.log.contains("POST \(base)/nosuch/v1/chat/completions: HTTP 404"), "\(bad.log)")
            let broken = try Child("coevo", ["validate", try setting.config(url: base + "/ok", extra: "budget: {max_calls: -1}")],
                                   in: setting.scratch, name: "broken")
            #expect(await broken.waitForExit(timeout: 30) == 2, "\(broken.log)")
            #expect(broken.log.contains("budget"), "\(broken.log)")
            #expect(!FileManager.default.fileExists(atPath: setting.run.database), "nothing written")
        }

        /// The progress display on an 80-column terminal (tmux, read with capture-pane): one
        /// copy of the block at any time, its lines cut to the width, and cut again when the
        /// window narrows. Before: every redraw of a wrapped line left a stale copy behind
        /// (8 copies in 8 s here, 262 in 5 minutes of red-blue).
        @Test func theProgressBlockLeavesNoDebrisOnANarrowTerminal() async throws {
            let setting = try Setting("tmux")
            defer { setting.close() }
            let config = try setting.scratch.write("long.yaml", """
                run: {name: a-rather-long-run-name-to-make-the-progress-line-wider-than-eighty}
                coordinator: {bind: "\(setting.run.endpoint)", database: \(setting.run.database)}
                workers: {count: 2, slots: 4}
                workload: {kind: sleep, jobs: 3000, sleep_ms: 50}
                """)
            let socket = "coevo-\(getpid())"
            func tmux(_ arguments: [String]) throws -> String {
                let (status, output) = try TestSupport.capture(["tmux", "-L", socket] + arguments)
                guard status == 0 else { throw HarnessError("tmux \(arguments) exited \(status): \(output)") }
                return output
            }
            defer { _ = try? tmux(["kill-server"]) }
            // By system(3), not Foundation's Process: waiting on the tmux client there lasted
            // as long as the session (the server it forks holds a descriptor Process waits on).
            let command = "tmux -L \(socket) new-session -d -x 80 -y 24 -s run '\(try Binaries.path("coevo")) run \(config); sleep 60' </dev/null >/dev/null 2>&1"
            #expect(system(command) == 0, "tmux did not start: \(command)")
            try await Task.sleep(for: .seconds(8))
            let pane = try tmux(["capture-pane", "-p", "-S", "-500", "-t", "run"])
            #expect(pane.components(separatedBy: "slot(s);").count - 1 == 1, "one block, no stale copies:\n\(pane)")
            let run = try #require(pane.split(separator: "\n").last { $0.hasPrefix("run a-rather-long") }, "\(pane)")
            #expect(run.count <= 79 && run.hasSuffix("…"), "cut to the width: \(run)")

            _ = try tmux(["resize-window", "-t", "run", "-x", "60"])
            try await Task.sleep(for: .seconds(2))
            let narrow = try tmux(["capture-pane", "-p", "-t", "run"])
            let last = try #require(narrow.split(separator: "\n").last { $0.hasPrefix("run a-rather-long") }, "\(narrow)")
            #expect(last.count <= 59, "cut again after SIGWINCH: \(last)")
        }
    }
}
