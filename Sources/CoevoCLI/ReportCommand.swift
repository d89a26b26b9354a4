import ArgumentParser
import CoevoDashboard
import CoevoStore
import Foundation

/// `coevo report`: what a run's database holds, read after the fact (a run started by
/// `coevo-coordinator` on a cluster, or one stopped and not yet resumed): the summary
/// `coevo run` prints, what the operators did, and any event kind in full.
public struct ReportCommand: ParsableCommand {
    /// Writes `files` (name, text) into `directory`, made if need be; `what` names them.
    private func write(_ files: [(String, String)], into directory: String, what: String) throws {
        do {
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
            for (name, text) in files {
                try text.write(toFile: (directory as NSString).appendingPathComponent(name), atomically: true, encoding: .utf8)
            }
        } catch {
            throw UserFacingError("cannot write the \(what) into \(directory): \(error.localizedDescription)")
        }
        print("wrote \(files.count) \(what) into \(directory)")
    }

    public static let configuration = CommandConfiguration(
        commandName: "report",
        abstract: "Summarise the runs in a coevo database, or print their events of a kind.",
        discussion: """
            Examples:
              coevo report runs/quickstart.sqlite
              coevo report Configs/quickstart.yaml --events '*_reflect'
              coevo report runs/red-blue.sqlite --run red-blue-20261122-211332 --events rb_round
              coevo report runs/discovery.sqlite --html report.html
              coevo report runs/asymmetric.sqlite runs/symmetric.sqlite --html compare.html
              coevo report runs/quickstart.sqlite --csv tables/
              coevo dashboard runs/quickstart.sqlite     (the live dashboard, over a finished run)

            --html writes one self-contained page (inline SVG charts, no scripts, nothing \
            fetched) with what the live dashboard shows of each run: the per-round figures, \
            niche competence, lineage, insight flow, and a discovery pool's attempts; with \
            more than one run, the charts they share overlaid at the top.
            """)

    @Argument(help: "The run database (coordinator.database), or a config that names it; with --html, two or more are compared (their runs' shared charts overlaid).")
    var sources: [String]

    @Option(name: .customLong("run"), help: "Only this run (default: every run in the database).")
    var runID: String?

    @Option(name: .long, help: ArgumentHelp("Write the runs' figures as one self-contained HTML page to this file.", valueName: "FILE"))
    var html: String?

    @Option(name: .long, help: ArgumentHelp("Also write each chart, heatmap and lineage tree as an SVG file into this directory.",
                                            valueName: "DIR"))
    var plots: String?

    @Option(name: .long, help: ArgumentHelp("Also write each chart's data as a CSV file (series, x, y) into this directory.",
                                            valueName: "DIR"))
    var csv: String?

    @Option(name: .long, help: "Attempts the --html leaderboard lists per discovery run.")
    var top: Int = 20

    @Option(name: .long, help: "Print the events whose kind matches this glob (e.g. '*_codream', 'heartbeat_failure') instead of the summary.")
    var events: String?

    public init() {}

    public func validate() throws {
        if sources.isEmpty { throw ValidationError("name a run database (or a config that names it)") }
    }

    public func run() throws {
        let stores = try sources.map(openDatabase)
        defer { stores.forEach { $0.writer.stop() } }
        var selected: [(store: CoevoStore, runs: [StoredRun])] = []
        for store in stores {
            var runs = try store.runs()
            if let runID { runs = runs.filter { $0.id == runID } }
            selected.append((store, runs))
        }
        if let runID, selected.allSatisfy({ $0.runs.isEmpty }) {
            let held = try stores.flatMap { try $0.runs().map(\.id) }
            throw UserFacingError("no run '\(runID)' in \(sources.joined(separator: ", ")); they hold: \(held.joined(separator: ", "))")
        }
        guard selected.contains(where: { !$0.runs.isEmpty }) else {
            print("\(stores.map(\.path).joined(separator: ", ")) hold(s) no runs yet")
            return
        }
        if html != nil || plots != nil || csv != nil {
            guard top >= 1 else { throw UserFacingError("--top takes a whole number of 1 or more; got \(top)") }
            let figures = try selected.flatMap { store, runs in
                try runs.compactMap { try RunFigures.read($0.id, from: store, leaderboardSize: top) }
            }
            // One file per chart: an SVG plot, a CSV of its data (a row per point), named alike.
            if let plots { try write(figures.flatMap(ReportPage.plots), into: plots, what: "SVG plot(s)") }
            if let csv { try write(figures.flatMap(ReportPage.tables), into: csv, what: "CSV table(s)") }
            guard let html else { return }
            let names = stores.map { URL(fileURLWithPath: $0.path).lastPathComponent }.joined(separator: ", ")
            let page = ReportPage.document(title: "coevo report: \(names)", summary: nil, runs: figures, live: false)
            do {
                try page.write(toFile: html, atomically: true, encoding: .utf8)
            } catch {
                throw UserFacingError("cannot write \(html): \(error.localizedDescription)")
            }
            print("wrote \(html): \(figures.count) run(s), \(figures.reduce(0) { $0 + $1.charts.count }) chart(s), \(page.utf8.count / 1024) KiB")
            return
        }
        for (store, runs) in selected {
            if let events {
                let wanted = Set(runs.map(\.id))
                let matching = try store.events(kindMatching: events).filter { $0.run.map(wanted.contains) ?? false }
                for event in matching {
                    let detail = event.kind == .protocolSummary ? summaryLines(event.detail).joined(separator: "\n") : event.detail
                    print("\(event.run ?? "-")  \(event.kind)  \(detail.replacingOccurrences(of: "\n", with: "\n    "))")
                }
                if matching.isEmpty { print("no events of a kind matching '\(events)' in \(store.path)") }
                continue
            }
            for stored in runs {
                var lines = ["run \(stored.id) (\(stored.name), seed \(stored.seed)): \(stored.state.rawValue)"]
                lines += try runSummary(store: store, run: stored.id, counts: try store.counts(ofRun: stored.id))
                let counts = try store.eventCounts(ofRun: stored.id).sorted { $0.key < $1.key }
                lines.append("  events     " + counts.map { "\($0.value) \($0.key)" }.joined(separator: ", "))
                print(lines.joined(separator: "\n"))
            }
        }
    }
}
