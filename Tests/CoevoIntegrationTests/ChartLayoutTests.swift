import CoevoTestSupport
import Foundation
import Testing

extension ProcessTests {
    /// The report's charts laid out by headless Chromium at 1400 and 800 px: every chart
    /// inside the viewport, every title and label inside its chart (element boxes, not
    /// pixels), for a 60-step chamber (a lineage 4,120 px wide before) and a proposer/
    /// solver run whose category names are long ("order-of-operations" was cut).
    @Suite struct ChartLayoutTests {
        /// Appended to a copy of the report (the report itself runs no script): measures
        /// each chart and each of its texts and writes what sticks out into the page.
        static let measure = """
            <script>
            const width = document.documentElement.clientWidth, problems = [];
            const svgs = [...document.querySelectorAll('svg')];
            for (const svg of svgs) {
              const box = svg.getBoundingClientRect(), name = svg.getAttribute('aria-label');
              if (box.right > width + 0.5) problems.push(`${name}: right edge ${Math.round(box.right)} past ${width}`);
              for (const text of svg.querySelectorAll('text')) {
                const t = text.getBoundingClientRect();
                if (t.width === 0) continue;
                if (t.left < box.left - 1 || t.right > box.right + 1 || t.top < box.top - 1 || t.bottom > box.bottom + 1)
                  problems.push(`${name}: "${text.textContent}" outside its chart`);
              }
            }
            document.body.insertAdjacentHTML('beforeend', '<pre id="layout">' + JSON.stringify({width, charts: svgs.length, problems}) + '</pre>');
            </script>
            """

        @Test func everyChartFitsThePageAt1400And800Pixels() async throws {
            let scratch = try Scratch("layout")
            defer { scratch.close() }
            let (server, port) = try TestSupport.startFaultServer()
            defer { kill(server.processIdentifier, SIGKILL); server.waitUntilExit() }
            let run = TestRun(scratch: scratch)
            let configs = [
                try scratch.write("chamber.yaml", """
                    run: {name: layout-chamber, seed: 2}
                    coordinator: {bind: "tcp://127.0.0.1:*", database: \(run.database)}
                    workers: {count: 1, slots: 16}
                    chamber: {niches: 4, agents: 8, steps: 60, tasks_per_step: 16}
                    evolution: {lifecycle: {every_tasks: 10, max_population: 12}}
                    """),
                try scratch.write("ps.yaml", """
                    run: {name: layout-ps, seed: 4}
                    coordinator: {bind: "tcp://127.0.0.1:*", database: \(run.database)}
                    workers: {count: 1, slots: 8}
                    endpoints: [{name: scripted, url: "http://127.0.0.1:\(port)/scripted", model: m}]
                    proposer_solver: {rounds: 3, proposers: 2, solvers: 3, tasks_per_proposer: 2, attempts: 2, max_tokens: 48}
                    """),
            ]
            for (index, config) in configs.enumerated() {
                let coevo = try Child("coevo", ["run", config], in: scratch, name: "run-\(index)")
                #expect(await coevo.waitForExit(timeout: 120) == 0, "\(coevo.log)")
            }
            let report = scratch.url("report.html").path
            let (status, output) = try TestSupport.capture([try Binaries.path("coevo"), "report", run.database, "--html", report])
            try #require(status == 0, "\(output)")
            let measured = scratch.url("measured.html")
            try (try String(contentsOfFile: report, encoding: .utf8)).replacingOccurrences(of: "</body>", with: Self.measure + "</body>")
                .write(to: measured, atomically: true, encoding: .utf8)

            for width in [1400, 800] {
                let shot = scratch.url("report-\(width).png").path
                _ = try DashboardTests.chromium(["--window-size=\(width),3000", "--screenshot=\(shot)", "file://" + report])
                #expect(((try? Data(contentsOf: URL(fileURLWithPath: shot)))?.count ?? 0) > 20_000, "a real screenshot at \(width) px")
                let dom = try DashboardTests.chromium(["--window-size=\(width),3000", "--dump-dom", measured.absoluteString])
                let json = try #require(dom.firstMatch(of: /<pre id="layout">(\{[^<]*)<\/pre>/)?.1, "no measurement in \(dom.suffix(500))")
                let text = String(json).replacingOccurrences(of: "&quot;", with: "\"").replacingOccurrences(of: "&lt;", with: "<")
                    .replacingOccurrences(of: "&gt;", with: ">").replacingOccurrences(of: "&amp;", with: "&")
                let layout = try #require(try? JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any], "not JSON: \(text)")
                #expect((layout["charts"] as? Int ?? 0) >= 10, "\(layout)")
                #expect((layout["problems"] as? [String]) == [], "at \(width) px: \(layout)")
            }
        }

        /// A finished database, looked at after the fact: `coevo dashboard DB` serves the same
        /// pages (read in Chromium) and stops on SIGTERM, and `coevo report --csv` writes each
        /// chart's data, the chamber's accuracy per step equal to the database's. Bad input
        /// tried: a dashboard port already taken.
        @Test func aFinishedDatabaseIsServedAndItsChartsWrittenAsCSV() async throws {
            let scratch = try Scratch("finished")
            defer { scratch.close() }
            let run = TestRun(scratch: scratch)
            let config = try scratch.write("chamber.yaml", """
                run: {name: finished, seed: 3}
                coordinator: {bind: "tcp://127.0.0.1:*", database: \(run.database)}
                workers: {count: 1, slots: 16}
                chamber: {niches: 4, agents: 8, steps: 12, tasks_per_step: 16}
                """)
            let coevo = try Child("coevo", ["run", config], in: scratch, name: "run")
            #expect(await coevo.waitForExit(timeout: 120) == 0, "\(coevo.log)")
            let db = try Database(run.database)
            let id = try #require(try db.strings("SELECT id FROM runs").first)

            let tables = scratch.url("tables").path
            let (status, output) = try TestSupport.capture([try Binaries.path("coevo"), "report", run.database, "--csv", tables])
            #expect(status == 0, "\(output)")
            let accuracy = try String(contentsOfFile: tables + "/\(id)-accuracy.csv", encoding: .utf8)
            // Accuracy is successes over tasks, as the step's event stores them.
            let stored = try db.strings("""
                SELECT CAST(json_extract(detail, '$.successes') AS REAL) / json_extract(detail, '$.tasks')
                FROM events WHERE kind = 'chamber_step' ORDER BY seq
                """)
            let rows = accuracy.split(separator: "\n").dropFirst().map { $0.split(separator: ",") }
            #expect(accuracy.hasPrefix("series,step,value\n") && rows.count == 12, "\(accuracy)")
            #expect(zip(rows, stored).allSatisfy { abs(Double($0[2])! - Double($1)!) < 1e-12 }, "\(accuracy) vs \(stored)")

            let http = freePort()
            let served = try Child("coevo", ["dashboard", run.database, "--port", "\(http)"], in: scratch, name: "dashboard")
            #expect(await eventually(timeout: 20) { (try? DashboardTests.curl("http://127.0.0.1:\(http)/api/runs").code) == 200 }, "\(served.log)")
            let page = try DashboardTests.chromium(["--timeout=3000", "--dump-dom", "http://127.0.0.1:\(http)/"])
            #expect(page.contains("data-run=\"\(id)\"") && page.contains("aria-label=\"Accuracy\""), "\(page.suffix(2000))")
            let taken = try Child("coevo", ["dashboard", run.database, "--port", "\(http)"], in: scratch, name: "taken")
            #expect(await taken.waitForExit(timeout: 20) == 1 && taken.log.contains("Address already in use"), "\(taken.log)")
            served.signal(SIGTERM)
            #expect(await served.waitForExit(timeout: 20) == 0, "\(served.log)")

            // A second database, the same chamber with symmetric routing: the report of both
            // overlays their accuracy per step, each run's points those of its database.
            let other = scratch.url("symmetric.sqlite").path
            let symmetric = try scratch.write("symmetric.yaml", """
                run: {name: finished-symmetric, seed: 3}
                coordinator: {bind: "tcp://127.0.0.1:*", database: \(other)}
                workers: {count: 1, slots: 16}
                chamber: {niches: 4, agents: 8, steps: 12, tasks_per_step: 16}
                evolution: {codream: {routing: symmetric}}
                """)
            let second = try Child("coevo", ["run", symmetric], in: scratch, name: "run-symmetric")
            #expect(await second.waitForExit(timeout: 120) == 0, "\(second.log)")
            let otherID = try #require(try Database(other).strings("SELECT id FROM runs").first)
            let compared = scratch.url("compare.html").path
            let made = try TestSupport.capture([try Binaries.path("coevo"), "report", run.database, other, "--html", compared])
            #expect(made.status == 0, "\(made.output)")
            let dom = try DashboardTests.chromium(["--dump-dom", "file://" + compared])
            let chart = try #require(dom.range(of: "aria-label=\"Accuracy, 2 runs\"").map { String(dom[$0.lowerBound...].prefix(20_000)) },
                                     "no overlaid accuracy chart")
            let chartEnd = chart.range(of: "</svg>").map { String(chart[..<$0.lowerBound]) } ?? chart
            #expect(chartEnd.components(separatedBy: "<polyline").count - 1 == 2, "one line per run")
            for (runID, database) in [(id, run.database), (otherID, other)] {
                let first = try Database(database).strings("""
                    SELECT printf('%.3f', CAST(json_extract(detail, '$.successes') AS REAL) / json_extract(detail, '$.tasks'))
                    FROM events WHERE kind = 'chamber_step' ORDER BY seq LIMIT 1
                    """)[0]
                #expect(chartEnd.contains("<title>\(runID): accuracy 1: \(first)</title>"), "\(runID) step 1 at \(first)")
            }
        }
    }
}
