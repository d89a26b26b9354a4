import CoevoCoordinator
import CoevoCore
import Foundation

/// The HTML of a run's figures: the static report (`coevo report --html`) is one
/// self-contained page of these sections; the live dashboard swaps the same sections in
/// as the run goes. Elements carry `data-*` attributes with the figures they show.
public enum ReportPage {
    /// A whole page. `live` adds the script that keeps it current from the server.
    public static func document(title: String, summary: LiveSummary?, runs: [RunFigures], live: Bool) -> String {
        """
        <!doctype html>
        <html lang="en"><head><meta charset="utf-8"><title>\(HTML.escape(title))</title>
        <meta name="viewport" content="width=device-width, initial-scale=1">
        <style>\(style)</style></head>
        <body><header><h1>\(HTML.escape(title))</h1><span id="status">\(live ? "connecting…" : "report written \(HTML.escape(ISO8601DateFormatter().string(from: Date())))")</span></header>
        <section id="summary">\(summary.map(summarySection) ?? "")</section>
        \(live ? "" : comparisonSection(runs))
        <main id="runs">\(runSections(runs, summary: summary, live: live))</main>
        \(live ? "<script>\(liveScript)</script>" : "")
        </body></html>
        """
    }

    /// The figures several runs share, overlaid: each chart (title and x axis) two or more
    /// runs have becomes one chart with every run's series (e.g. two routing modes' accuracy
    /// per step). Empty for a single run.
    static func comparisonSection(_ runs: [RunFigures]) -> String {
        guard runs.count > 1 else { return "" }
        var keys: [String] = []
        var shared: [String: [(run: RunFigures, chart: RunFigures.Chart)]] = [:]
        for run in runs {
            for chart in run.charts {
                let key = chart.title + " per " + chart.x
                if shared[key] == nil { keys.append(key) }
                shared[key, default: []].append((run, chart))
            }
        }
        let overlaid = keys.compactMap { key -> RunFigures.Chart? in
            guard let charts = shared[key], charts.count > 1 else { return nil }
            var chart = charts[0].chart
            chart.title = "\(charts[0].chart.title), \(charts.count) runs"
            chart.series = charts.flatMap { entry in
                entry.chart.series.map { RunFigures.Series(name: "\(entry.run.id): \($0.name)", points: $0.points) }
            }
            chart.xSpan = charts.compactMap(\.chart.xSpan).max { ($0.last ?? 0) < ($1.last ?? 0) }
            chart.fromZero = charts.allSatisfy(\.chart.fromZero)
            return chart
        }
        guard !overlaid.isEmpty else { return "" }
        return "<section class=\"comparison\"><h2>\(runs.count) runs compared</h2><div class=\"charts\">"
            + overlaid.map { SVGChart.lines($0) }.joined() + "</div></section>"
    }

    /// Workers, throughput, each run's round and phase with its time left, cost and budget.
    public static func summarySection(_ summary: LiveSummary) -> String {
        var html = "<h2>Coordinator</h2><dl class=\"figures\">"
        html += figure("workers", "\(summary.workers.count)", "workers")
        html += figure("slots", "\(summary.slots)", "slots")
        html += figure("queued", "\(summary.queued)", "queued")
        html += figure("leased", "\(summary.leased)", "leased")
        let rate = LiveSummary.rateParts(summary.jobsPerSecond)
        html += figure("rate", rate.figure, rate.unit)
        // Applied now, in the coordinator's memory; a run's section counts what the
        // database holds, a moment behind: the labels say which.
        html += figure("results", "\(summary.resultsApplied)", "results applied")
        html += figure("tokens", "\(summary.tokens)", "tokens")
        html += figure("cost", String(format: "$%.4f", summary.usd), "cost")
        if let maxTokens = summary.maxTokens { html += figure("tokens-left", "\(max(0, maxTokens - summary.tokens))", "tokens left") }
        if let maxUSD = summary.maxUSD { html += figure("usd-left", String(format: "$%.4f", max(0, maxUSD - summary.usd)), "budget left") }
        html += "</dl><table class=\"runs\"><tr><th>run</th><th>stage</th><th>done</th><th>jobs</th><th>failed</th><th>ETA</th></tr>"
        for run in summary.runs {
            let stage = run.stage.map { "\($0.unit) \($0.current)/\($0.total) · \($0.phase)" } ?? "batch"
            html += "<tr class=\"run-progress\" data-run=\"\(HTML.escape(run.id))\" data-round=\"\(run.stage?.current ?? 0)\" data-rounds=\"\(run.stage?.total ?? 0)\""
                + " data-succeeded=\"\(run.completed)\" data-failed=\"\(run.failed)\">"
            html += "<td>\(HTML.escape(run.id))</td><td>\(HTML.escape(stage))</td>"
            html += "<td><progress max=\"1\" value=\"\(run.fraction)\"></progress> \(run.percentDone)%</td>"
            html += "<td>\(run.completed + run.failed)/\(run.expected)</td><td>\(run.failed)</td>"
            html += "<td>\(run.secondsLeft.map { LiveSummary.duration($0) } ?? "–")</td></tr>"
            if let problem = run.lastProblem {
                html += "<tr class=\"run-problem\"><td></td><td colspan=\"5\">last problem: \(HTML.escape(problem))</td></tr>"
            }
        }
        html += "</table><details><summary>workers</summary><table><tr><th>worker</th><th>slots</th><th>leased</th></tr>"
        for worker in summary.workers {
            html += "<tr class=\"worker\" data-worker=\"\(HTML.escape(worker.id))\"><td>\(HTML.escape(worker.id))</td><td>\(worker.slots)</td><td>\(worker.leased)</td></tr>"
        }
        return html + "</table></details>"
    }

    /// The runs' sections under a summary. A run the live summary counts has its counts
    /// there only: the summary's figures are the coordinator's at one moment, and a second
    /// set read from the database a moment apart would disagree with them.
    public static func runSections(_ runs: [RunFigures], summary: LiveSummary?, live: Bool) -> String {
        let counted = Set(summary?.runs.map(\.id) ?? [])
        return runs.map { runSection($0, live: live, counts: !counted.contains($0.id)) }.joined()
    }

    /// One run: its counts (unless `counts` is false: a live summary shows them),
    /// charts, heatmaps, lineage, insight flow and discovery memory. `live`: served by the
    /// dashboard, which links the run's agents' words.
    public static func runSection(_ run: RunFigures, live: Bool = false, counts: Bool = true) -> String {
        var html = "<section class=\"run\" data-run=\"\(HTML.escape(run.id))\"><h2>\(HTML.escape(run.id))</h2>"
        // Served live, a run with model calls links its agents' words: the whole run from
        // here, one agent's from its heatmap row and its lineage node.
        let words = live && run.hasWords
        html += "<p>\(HTML.escape(run.name)), seed \(run.seed), \(HTML.escape(run.state)).\(words ? " " + wordsLink(run.id) : "")</p>"
        if counts {
            html += "<dl class=\"figures\">"
            html += figure("jobs", "\(run.jobs)", "jobs") + figure("run-results", "\(run.results)", "results stored")
            html += figure("succeeded", "\(run.succeeded)", "succeeded") + figure("failed", "\(run.failed)", "failed")
            html += "</dl>"
        }
        if !run.charts.isEmpty {
            html += "<div class=\"charts\">" + run.charts.map { SVGChart.lines($0) }.joined() + "</div>"
        }
        if !run.heatmaps.isEmpty {
            html += "<h3>Niche competence</h3><div class=\"charts\">"
            html += run.heatmaps.map { map in
                SVGChart.matrix(title: map.title, rows: map.rows, columns: map.columns, values: map.values, cellClass: "heat-cell",
                                rowLink: words ? { wordsURL(run.id, agent: $0, role: map.pool) } : nil)
            }.joined()
            html += "</div>"
        }
        if !run.lineage.isEmpty {
            html += "<h3>Lineage</h3><div class=\"charts\">"
            html += Dictionary(grouping: run.lineage, by: \.pool).sorted { $0.key < $1.key }.map { pool, nodes in
                // A discovery pool's lineage is of commits, not agents.
                SVGChart.lineage(nodes, link: words && pool != "attempts" ? { wordsURL(run.id, agent: $0.id, role: pool) } : nil)
            }.joined()
            html += "</div>"
        }
        if !run.flows.isEmpty {
            html += "<h3>Insight flow</h3><div class=\"charts\">"
            for (pool, flows) in Dictionary(grouping: run.flows, by: \.pool).sorted(by: { $0.key < $1.key }) {
                // The busiest senders and receivers: a large pool's full matrix is unreadable.
                let from = busiest(flows, \.from), to = busiest(flows, \.to)
                var values = Array(repeating: Array(repeating: Double?.none, count: to.count), count: from.count)
                for flow in flows {
                    guard let row = from.firstIndex(of: flow.from), let column = to.firstIndex(of: flow.to) else { continue }
                    values[row][column] = Double(flow.insights)
                }
                let shown = Set(from).count < Set(flows.map(\.from)).count || Set(to).count < Set(flows.map(\.to)).count
                html += SVGChart.matrix(title: "\(pool): insights from (row) to (column)\(shown ? ", the \(flowLimit) busiest" : "")",
                                        rows: from, columns: to, values: values, cellClass: "flow-cell", scaleToMax: true)
            }
            html += "</div>"
        }
        if !run.leaderboard.isEmpty {
            html += "<h3>Attempts leaderboard</h3><table class=\"leaderboard\"><tr><th>#</th><th>score</th><th>agent</th><th>round</th><th>commit</th><th>status</th><th>message</th></tr>"
            for (rank, attempt) in run.leaderboard.enumerated() {
                html += "<tr class=\"attempt\" data-commit=\"\(attempt.commit)\" data-score=\"\(attempt.score.map { String($0) } ?? "")\">"
                html += "<td>\(rank + 1)</td><td>\(attempt.score.map { String(format: "%.6g", $0) } ?? "–")</td><td>\(words ? "<a class=\"words\" href=\"\(HTML.escape(wordsURL(run.id, agent: attempt.agent, round: attempt.round)))\">\(HTML.escape(attempt.agent))</a>" : HTML.escape(attempt.agent))</td>"
                html += "<td>\(attempt.round)</td><td><code>\(attempt.commit.prefix(10))</code></td><td>\(attempt.status.rawValue)\(attempt.poolBest ? " ★" : "")</td>"
                html += "<td>\(HTML.escape(String(attempt.message.prefix(120))))</td></tr>"
            }
            html += "</table>"
        }
        if !run.notes.isEmpty {
            html += "<h3>Notes (\(run.notes.count))</h3>" + run.notes.suffix(20).reversed().map {
                "<details class=\"note\"><summary>\(HTML.escape($0.agent)), round \($0.round)</summary><pre>\(HTML.escape($0.body))</pre></details>"
            }.joined()
        }
        if !run.skills.isEmpty {
            html += "<h3>Skills (\(run.skills.count))</h3>" + run.skills.map {
                "<details class=\"skill\"><summary>\(HTML.escape($0.name)) v\($0.version): \(HTML.escape($0.description))</summary><pre>\(HTML.escape($0.body))</pre></details>"
            }.joined()
        }
        return html + "</section>"
    }

    /// Each chart, heatmap and lineage tree of a run as a standalone SVG file: name -> text.
    /// A file name for a run's chart: the run and the title, lowercased, dashes between.
    static func fileName(_ run: String, _ title: String) -> String {
        String((run + "-" + title).lowercased().map { $0.isLetter || $0.isNumber ? $0 : "-" }).split(separator: "-").joined(separator: "-")
    }

    /// Each line chart's data as CSV (`series,x,y`), named as its SVG plot is, and each
    /// heatmap's (`agent,niche,value`, blank where no attempt).
    public static func tables(_ run: RunFigures) -> [(name: String, csv: String)] {
        func field(_ text: String) -> String {
            text.contains(where: { ",\"\n".contains($0) }) ? "\"" + text.replacingOccurrences(of: "\"", with: "\"\"") + "\"" : text
        }
        let charts = run.charts.map { chart in
            (fileName(run.id, chart.title) + ".csv", "series,\(field(chart.x)),value\n" + chart.series.flatMap { series in
                series.points.map { "\(field(series.name)),\(SVGChart.number($0[0])),\($0[1])\n" }
            }.joined())
        }
        let heatmaps = run.heatmaps.map { map in
            (fileName(run.id, map.title) + ".csv", "agent,niche,competence\n" + map.rows.enumerated().flatMap { r, row in
                map.columns.enumerated().map { c, column in "\(field(row)),\(field(column)),\(map.values[r][c].map { String($0) } ?? "")\n" }
            }.joined())
        }
        return charts + heatmaps
    }

    public static func plots(_ run: RunFigures) -> [(name: String, svg: String)] {
        func file(_ title: String) -> String { fileName(run.id, title) + ".svg" }
        var files = run.charts.map { (file($0.title), SVGChart.lines($0)) }
        files += run.heatmaps.map { (file($0.title), SVGChart.matrix(title: $0.title, rows: $0.rows, columns: $0.columns, values: $0.values, cellClass: "heat-cell")) }
        files += Dictionary(grouping: run.lineage, by: \.pool).sorted { $0.key < $1.key }.map { (file("\($0.key) lineage"), SVGChart.lineage($0.value)) }
        // Standalone files carry the page's text styles.
        let style = "<style>.title{font:600 12px sans-serif}.tick{font:10px sans-serif;fill:#555}.cell{font:9px sans-serif}</style>"
        return files.filter { !$0.1.isEmpty }.map { name, svg in
            var svg = svg
            if let open = svg.firstIndex(of: ">") { svg.insert(contentsOf: style, at: svg.index(after: open)) }
            return (name, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n" + svg + "\n")
        }
    }

    static let flowLimit = 16

    /// The agents that sent (or received) the most insights, most first.
    static func busiest(_ flows: [RunFigures.Flow], _ side: KeyPath<RunFigures.Flow, String>) -> [String] {
        var totals: [String: Int] = [:]
        for flow in flows { totals[flow[keyPath: side], default: 0] += flow.insights }
        return totals.sorted { $0.value != $1.value ? $0.value > $1.value : $0.key < $1.key }.prefix(flowLimit).map(\.key)
    }

    private static func figure(_ key: String, _ value: String, _ label: String) -> String {
        "<div><dt>\(label)</dt><dd data-figure=\"\(key)\">\(HTML.escape(value))</dd></div>"
    }

    static let style = """
        body{font:14px/1.4 system-ui,sans-serif;margin:0 1.5em 2em;color:#222}header{display:flex;gap:1em;align-items:baseline}
        h1{font-size:1.4em}h2{font-size:1.2em;border-bottom:1px solid #ddd}h3{font-size:1em;margin-top:1.2em}
        dl.figures{display:flex;flex-wrap:wrap;gap:1.2em}dl.figures div{min-width:5em}dt{color:#666;font-size:.85em}dd{margin:0;font-size:1.3em;font-weight:600}
        table{border-collapse:collapse;margin:.5em 0}td,th{padding:2px 8px;border-bottom:1px solid #eee;text-align:left}
        .charts{display:flex;flex-wrap:wrap;gap:1em;overflow-x:auto}svg{max-width:100%;height:auto}svg .title{font-weight:600;font-size:12px}svg .tick{font-size:10px;fill:#555}svg .cell{font-size:9px;fill:#111}
        pre{white-space:pre-wrap;background:#f6f6f6;padding:.5em}#status{color:#666}
        """

    /// Server-sent events bring the summary every second; the run sections are fetched
    /// again when results have landed since the last fetch, at most every 5 s. The token the page was opened
    /// with goes along with each request.
    static let liveScript = """
        const token = new URLSearchParams(location.search).get('token');
        const q = token ? ('?token=' + encodeURIComponent(token)) : '';
        let shown = -1, busy = false, last = 0;
        // At most every 5 s: the sections are read from the database, the summary is not.
        async function refreshRuns(version) {
          if (busy || version === shown || Date.now() - last < 5000) return;
          busy = true;
          last = Date.now();
          try { const r = await fetch('/fragment/runs' + q); if (r.ok) { document.getElementById('runs').innerHTML = await r.text(); shown = version; } }
          finally { busy = false; }
        }
        const source = new EventSource('/api/stream' + q);
        source.addEventListener('summary', (e) => {
          const data = JSON.parse(e.data);
          document.getElementById('summary').innerHTML = data.html;
          document.getElementById('status').textContent = 'live, updated ' + new Date().toLocaleTimeString();
          refreshRuns(data.version);
        });
        source.onerror = () => { document.getElementById('status').textContent = 'disconnected; retrying…'; };
        """
}
