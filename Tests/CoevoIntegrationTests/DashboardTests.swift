import CoevoTestSupport
import Foundation
import Testing

extension ProcessTests {
    /// The dashboard, /metrics and the HTML report against a real chamber run: a real
    /// coordinator and worker, headless Chromium reading the pages, a real Prometheus
    /// server scraping the coordinator. Expected figures are read from the database.
    @Suite struct DashboardTests {
        /// A chamber run on the simulator, served with the dashboard on, and left up
        /// after it finishes (no --exit-when-done) so the pages can be read.
        struct Served {
            let scratch: Scratch
            let run: TestRun
            let http: Int
            let coordinator: Child
            let worker: Child
            var base: String { "http://127.0.0.1:\(http)" }

            init(_ name: String, dashboard: (Int) -> String = { "127.0.0.1:\($0)" }, token: String? = nil) async throws {
                scratch = try Scratch(name)
                run = TestRun(scratch: scratch)
                http = freePort()
                let config = try scratch.write("chamber.yaml", """
                    run: {name: dash, seed: 5}
                    coordinator: {bind: \(run.endpoint), database: \(run.database)}
                    chamber: {niches: 4, agents: 8, steps: 12, tasks_per_step: 16}
                    evolution: {lifecycle: {every_tasks: 10, max_population: 12}}
                    """)
                coordinator = try Child("coevo-coordinator", ["--config", config, "--dashboard", dashboard(http)]
                                        + (token.map { ["--dashboard-token", $0] } ?? []), in: scratch, name: "coordinator")
                worker = try run.worker("w-1", slots: 16)
                let database = run.database
                let finished = await eventually(timeout: 60) {
                    (try? Database(database).strings("SELECT state FROM runs")) == ["finished"]
                }
                try #require(finished, "the run did not finish: \(scratch.logs)")
                // The summary comes with the coordinator's once-a-second progress snapshot.
                let url = "http://127.0.0.1:\(http)/api/summary"
                let summarised = await eventually(timeout: 10) { (try? DashboardTests.curl(url).code) == 200 }
                try #require(summarised, "no summary at \(url): \(scratch.logs)")
            }

            /// The last population snapshot's first active agent with an attempt on a
            /// niche: (agent, niche, competence as the page prints it).
            func heatCell() throws -> (agent: String, niche: String, value: String) {
                let detail = try #require(try Database(run.database).strings(
                    "SELECT detail FROM events WHERE kind = 'population' ORDER BY seq DESC LIMIT 1").first)
                let snapshot = try #require(try JSONSerialization.jsonObject(with: Data(detail.utf8)) as? [String: Any])
                let niches = try #require(snapshot["niches"] as? [String])
                for member in try #require(snapshot["members"] as? [[String: Any]]) where member["status"] as? String == "active" {
                    let attempts = try #require(member["attempts"] as? [Int])
                    let competence = try #require(member["competence"] as? [Double])
                    if let niche = attempts.firstIndex(where: { $0 > 0 }) {
                        return (try #require(member["id"] as? String), niches[niche], String(format: "%.2f", competence[niche]))
                    }
                }
                throw HarnessError("no active agent with an attempt in \(detail)")
            }

            func close() { scratch.close() }
        }

        static func chromium(_ arguments: [String]) throws -> String {
            let (status, output) = try TestSupport.capture(
                ["timeout", "60", "chromium", "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                 "--no-first-run", "--user-data-dir=\(NSTemporaryDirectory())coevo-chromium-\(getpid())"] + arguments)
            guard status == 0 else { throw HarnessError("chromium \(arguments) exited \(status): \(output.suffix(2000))") }
            return output
        }

        static func curl(_ url: String, headers: [String] = []) throws -> (code: Int, body: String) {
            let (status, output) = try TestSupport.capture(["curl", "-s", "-m", "10", "-w", "\n%{http_code}"]
                                                           + headers.flatMap { ["-H", $0] } + [url])
            guard status == 0, let newline = output.lastIndex(of: "\n"), let code = Int(output[output.index(after: newline)...]) else {
                throw HarnessError("curl \(url) failed (\(status)): \(output)")
            }
            return (code, String(output[..<newline]))
        }

        @Test func theDashboardInChromiumShowsTheRunsRealFigures() async throws {
            let served = try await Served("dashboard")
            defer { served.close() }
            let cell = try served.heatCell()
            let db = try Database(served.run.database)
            let agent = try #require(try db.strings("SELECT detail FROM events WHERE kind = 'population' ORDER BY seq DESC LIMIT 1").first)
            let steps = try db.int("SELECT COUNT(*) FROM events WHERE kind = 'chamber_step'")
            #expect(steps == 12)

            let shot = served.scratch.url("dashboard.png").path
            _ = try Self.chromium(["--window-size=1400,2400", "--screenshot=\(shot)", "--timeout=4000", served.base + "/"])
            let png = try Data(contentsOf: URL(fileURLWithPath: shot))
            #expect(png.count > 20_000 && png.starts(with: [0x89, 0x50, 0x4E, 0x47]), "a real screenshot, \(png.count) bytes")

            let dom = try Self.chromium(["--timeout=4000", "--dump-dom", served.base + "/"])
            #expect(dom.contains("data-figure=\"workers\">1<"), "one worker connected")
            #expect(dom.contains("data-round=\"12\" data-rounds=\"12\""), "the run's last step of its total")
            // The run's counts are the live summary's, once: not a second set from the
            // database a moment apart in the run's own section.
            let results = try db.int("SELECT COUNT(*) FROM results")
            let failed = try db.int("SELECT COUNT(*) FROM results WHERE status != 'succeeded'")
            #expect(dom.contains("data-succeeded=\"\(results - failed)\" data-failed=\"\(failed)\""), "the summary counts \(results) results")
            #expect(!dom.contains("data-figure=\"run-results\""), "no second count in the run's section")
            #expect(dom.contains("class=\"heat-cell\" data-row=\"\(cell.agent)\" data-column=\"\(cell.niche)\" data-value=\"\(cell.value)\""),
                    "heatmap cell \(cell)")
            let someAgent = try #require(agent.range(of: #""id":"[^"]+""#, options: .regularExpression).map { String(agent[$0].dropFirst(6).dropLast()) })
            #expect(dom.contains("class=\"lineage-node\" data-agent=\"\(someAgent)\""), "lineage node \(someAgent)")
            #expect(dom.contains("class=\"flow-cell\""), "insight flow drawn")
            // The page's script replaced the status once the first server-sent summary came.
            #expect(dom.contains("live, updated"), "the live stream reached the page")
        }

        /// A real Prometheus (Debian's package) scraping one coordinator's /metrics every
        /// second, with the labels and bearer token given; stopped when the scratch closes.
        struct Prometheus {
            let port = freePort()
            let log: URL
            let process = Process()

            init(_ scratch: Scratch, target: Int, labels: String = "{}", token: String? = nil) throws {
                let config = try scratch.write("prometheus.yml", """
                    global: {scrape_interval: 1s, evaluation_interval: 1s}
                    scrape_configs:
                      - job_name: coevo
                        \(token.map { "authorization: {credentials: \($0)}" } ?? "")
                        static_configs: [{targets: ['127.0.0.1:\(target)'], labels: \(labels)}]
                    """)
                process.executableURL = URL(fileURLWithPath: "/usr/bin/prometheus")
                process.arguments = ["--config.file=\(config)", "--storage.tsdb.path=\(scratch.url("tsdb").path)",
                                     "--web.listen-address=127.0.0.1:\(port)"]
                log = scratch.url("prometheus.log")
                FileManager.default.createFile(atPath: log.path, contents: nil)
                process.standardOutput = try FileHandle(forWritingTo: log)
                process.standardError = process.standardOutput
                try process.run()
            }

            func stop() { process.terminate(); process.waitUntilExit() }

            /// Waits until the instant query's single value reads `expected`; returns the
            /// last answer.
            func answers(_ query: String, _ expected: String) async -> (Bool, String) {
                let escaped = query.addingPercentEncoding(withAllowedCharacters: .alphanumerics)!
                let url = "http://127.0.0.1:\(port)/api/v1/query?query=\(escaped)"
                var answer = ""
                let matched = await eventually(timeout: 45) {
                    answer = (try? DashboardTests.curl(url).body) ?? ""
                    return answer.contains("\"\(expected)\"]")
                }
                return (matched, answer + "; prometheus log: " + ((try? String(contentsOf: log, encoding: .utf8))?.suffix(1500) ?? ""))
            }
        }

        @Test func aRealPrometheusScrapesTheCoordinatorsCompletedJobs() async throws {
            let served = try await Served("prometheus")
            defer { served.close() }
            let completed = try Database(served.run.database).int("SELECT COUNT(*) FROM results")
            let prometheus = try Prometheus(served.scratch, target: served.http)
            defer { prometheus.stop() }
            let (scraped, answer) = await prometheus.answers("sum(coevo_jobs_completed_total)", "\(completed)")
            #expect(scraped, "PromQL answered \(answer) for \(completed) completed jobs")
            // Every metric says what it counts, and only counters end in _total.
            let lines = try Self.curl(served.base + "/metrics").body.split(separator: "\n").map(String.init)
            let types = lines.indices.filter { lines[$0].hasPrefix("# TYPE ") }
            #expect(types.count > 10 && types.allSatisfy { $0 > 0 && lines[$0 - 1].hasPrefix("# HELP ") }, "\(lines.prefix(40))")
            let gauges = types.map { lines[$0] }.filter { $0.hasSuffix(" gauge") }
            #expect(!gauges.isEmpty && !gauges.contains { $0.contains("_total ") }, "\(gauges)")
        }

        /// The autoscaler's rule (Deploy/kubernetes/autoscaler.yaml) is PromQL that
        /// prometheus-adapter fills in; filled in as the adapter would for an HPA in
        /// namespace `coevo`, against a coordinator holding 300 jobs and no worker, it must
        /// read 300: the figure the HPA divides by its 64 jobs per worker. The coordinator
        /// binds its dashboard as the manifest runs it (0.0.0.0, with a token), and
        /// Prometheus sends the token as the documented scrape job does (from loopback
        /// the dashboard would let it in without).
        @Test func theAutoscalersRuleReadsTheQueueDepthThroughARealPrometheus() async throws {
            let manifest = try String(contentsOf: TestSupport.root.appendingPathComponent("Deploy/kubernetes/autoscaler.yaml"),
                                      encoding: .utf8)
            let rule = try #require(manifest.firstMatch(of: /metricsQuery: '([^']+)'/)?.1)
            let series = try #require(manifest.firstMatch(of: /seriesQuery: '([a-z_]+)\{/)?.1)
            let query = String(rule).replacingOccurrences(of: "<<.Series>>", with: String(series))
                .replacingOccurrences(of: "<<.LabelMatchers>>", with: "namespace=\"coevo\"")

            let scratch = try Scratch("autoscaler")
            defer { scratch.close() }
            let run = TestRun(scratch: scratch)
            let http = freePort()
            let config = try scratch.write("queue.yaml", """
                run: {name: queued, seed: 1}
                coordinator: {bind: \(run.endpoint), database: \(run.database)}
                workload: {kind: noop, jobs: 300}
                """)
            _ = try Child("coevo-coordinator", ["--config", config, "--dashboard", "0.0.0.0:\(http)", "--dashboard-token", "t0ken"],
                          in: scratch, name: "coordinator")
            let prometheus = try Prometheus(scratch, target: http, labels: "{namespace: coevo}", token: "t0ken")
            defer { prometheus.stop() }
            let (read, answer) = await prometheus.answers(query, "300")
            #expect(read, "\(query) answered \(answer); coordinator: \(scratch.logs)")
        }

        @Test func theHTMLReportInChromiumShowsTheSameFigures() async throws {
            let served = try await Served("report")
            defer { served.close() }
            let cell = try served.heatCell()
            let file = served.scratch.url("report.html").path
            let plots = served.scratch.url("plots").path
            let (status, output) = try TestSupport.capture([try Binaries.path("coevo"), "report", served.run.database, "--html", file,
                                                            "--plots", plots])
            #expect(status == 0, "\(output)")
            // Each chart also as a standalone SVG file that an XML parser reads.
            let svgs = try FileManager.default.contentsOfDirectory(atPath: plots).filter { $0.hasSuffix(".svg") }.sorted()
            #expect(svgs.contains { $0.hasSuffix("-accuracy.svg") } && svgs.contains { $0.hasSuffix("-agent-lineage.svg") }, "\(svgs)")
            let parsed = try TestSupport.capture(["python3", "-c", "import sys, xml.dom.minidom as m; [m.parse(p) for p in sys.argv[1:]]"]
                                                 + svgs.map { plots + "/" + $0 })
            #expect(parsed.status == 0, "\(parsed.output)")
            let text = try String(contentsOfFile: file, encoding: .utf8)
            #expect(!text.contains("<script"), "the report runs no script")
            #expect(!text.contains("http://") || !text.contains("src=\"http"), "and fetches nothing")
            let dom = try Self.chromium(["--dump-dom", "file://" + file])
            #expect(dom.contains("class=\"heat-cell\" data-row=\"\(cell.agent)\" data-column=\"\(cell.niche)\" data-value=\"\(cell.value)\""))
            #expect(dom.contains("aria-label=\"Accuracy\""), "the accuracy chart")
            // The live one also links the run's agents' words (served by the dashboard only).
            let live = try Self.curl(served.base + "/fragment/runs").body
                .replacing(#/ <a class="words-link" href="[^"]*">[^<]*</a>/#, with: "")
            // The dashboard's run section and the report's are drawn by the same code from the
            // same rows; the live one leaves the run's counts to the live summary.
            let section = { (page: String) -> Substring? in
                page.range(of: "<section class=\"run\"").map { page[$0.lowerBound...] }?.prefix(4000)
            }
            let counts = #/<dl class="figures">.*?</dl>/#
            #expect(section(text)?.contains(counts) == true && section(live)?.contains(counts) == false)
            #expect(section(live) != nil && section(live) == section(text.replacing(counts, with: "")))
        }

        /// Bad input tried: a request from another machine without the token, with a
        /// wrong one, a non-numeric and an out-of-range `top`, an unknown run, and a
        /// dashboard opened to the network with no token at all.
        @Test func theDashboardRefusesStrangersWithoutTheTokenAndBadParameters() async throws {
            let (_, addresses) = try TestSupport.capture(["hostname", "-I"])
            let outside = try #require(addresses.split(separator: " ").map(String.init)
                .first { $0.contains(".") && !$0.hasPrefix("127.") }, "this test needs a non-loopback IPv4 address: \(addresses)")
            let served = try await Served("token", dashboard: { "0.0.0.0:\($0)" }, token: "s3cret")
            defer { served.close() }
            let remote = "http://\(outside):\(served.http)"
            #expect(try Self.curl(remote + "/api/summary").code == 401)
            #expect(try Self.curl(remote + "/api/summary", headers: ["Authorization: Bearer wrong"]).code == 401)
            #expect(try Self.curl(remote + "/metrics?token=nope").code == 401)
            #expect(try Self.curl(remote + "/api/summary", headers: ["Authorization: Bearer s3cret"]).code == 200)
            #expect(try Self.curl(remote + "/?token=s3cret").code == 200)
            #expect(try Self.curl(served.base + "/api/summary").code == 200, "loopback needs no token")

            let bad = try Self.curl(served.base + "/fragment/runs?top=abc")
            #expect(bad.code == 400 && bad.body.contains("top"))
            #expect(try Self.curl(served.base + "/api/runs/dash-x?top=0").code == 400)
            #expect(try Self.curl(served.base + "/api/runs/no-such-run").code == 404)
            #expect(served.coordinator.isRunning, "bad requests leave the coordinator serving")

            let open = try TestSupport.capture([try Binaries.path("coevo-coordinator"), "--config", served.scratch.url("chamber.yaml").path,
                                                "--dashboard", "0.0.0.0:\(freePort())"])
            #expect(open.status != 0 && open.output.contains("--dashboard-token"), "\(open.output)")
        }
    }
}
