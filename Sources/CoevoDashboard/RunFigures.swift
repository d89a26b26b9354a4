import CoevoCoordinator
import CoevoCore
import CoevoStore
import Foundation

/// What the dashboard and the report show of one run, read from its database: the
/// per-round figures as charts, each pool's niche-by-agent competence, its lineage, where
/// CODREAM sent insights, and a discovery pool's attempts, notes and skills. Every figure
/// is decoded from the typed events and tables the engines wrote; nothing is parsed
/// back out of a log line.
public struct RunFigures: Codable, Sendable {
    public struct Series: Codable, Sendable {
        public var name: String
        /// (x, y) pairs: x is the round, step or evaluation.
        public var points: [[Double]]
    }

    public struct Chart: Codable, Sendable {
        public var title: String
        public var x: String
        public var series: [Series]
        /// Rates and counts start their axis at 0; a score axis fits its values, so that
        /// a best going from 1.876 to 2.065 is not a flat line.
        public var fromZero = true
        /// The x values the axis spans at least: the run's planned rounds or steps, so
        /// that a run's first round is not one point on a 1..2 axis.
        public var xSpan: [Double]?
    }

    /// Rows are agents, columns niches; nil where the agent has no attempt on the niche.
    public struct Heatmap: Codable, Sendable {
        /// The pool (role) whose agents are the rows.
        public var pool: String
        public var title: String
        public var rows: [String]
        public var columns: [String]
        public var values: [[Double?]]
    }

    public struct LineageNode: Codable, Sendable {
        public var pool: String
        public var id: String
        public var parents: [String]
        public var origin: String
        public var born: Int
        public var status: String
    }

    /// Insights one agent's failures gave another, summed over the run.
    public struct Flow: Codable, Sendable {
        public var pool: String
        public var from: String
        public var to: String
        public var insights: Int
        public var events: Int
    }

    public var id: String
    public var name: String
    public var seed: UInt64
    public var state: String
    public var jobs: Int
    public var results: Int
    public var succeeded: Int
    public var failed: Int
    public var charts: [Chart] = []
    public var heatmaps: [Heatmap] = []
    public var lineage: [LineageNode] = []
    public var flows: [Flow] = []
    /// A discovery pool's graded attempts, best first.
    public var leaderboard: [Attempt] = []
    public var notes: [Note] = []
    /// The latest version of each skill.
    public var skills: [Skill] = []
    /// The run made model calls, whose words the dashboard shows.
    public var hasWords = false

    /// Reads run `id` from `store`; nil when the database has no such run.
    public static func read(_ id: String, from store: CoevoStore, leaderboardSize: Int = 20) throws -> RunFigures? {
        guard let run = try store.run(id: id) else { return nil }
        let counts = try store.counts(ofRun: id)
        var figures = RunFigures(id: id, name: run.name, seed: run.seed, state: run.state.rawValue, jobs: counts.jobs,
                                 results: counts.results, succeeded: counts.succeeded, failed: counts.failed)
        let kinds = try store.jobKinds(ofRun: id)
        figures.hasWords = kinds[JobKind.llm.rawValue] != nil || kinds[JobKind.discoveryStep.rawValue] != nil
        figures.charts += try proposerSolverCharts(store.reports(ProposerSolverRoundReport.self, run: id))
        figures.charts += try redBlueCharts(store.reports(RedBlueRoundReport.self, run: id))
        figures.charts += try chamberCharts(store.reports(StepReport.self, run: id))
        // The run's own config says how many rounds or steps it plans (files it names need not be here).
        let record = RunRecord(run)
        if let planned = record.plannedRounds {
            for index in figures.charts.indices { figures.charts[index].xSpan = [1, Double(planned)] }
        }
        let snapshots = try store.reports(PopulationSnapshot.self, run: id)
        figures.heatmaps = latestPerPool(snapshots).map(heatmap)
        figures.lineage = latestPerPool(snapshots).flatMap { snapshot in
            snapshot.members.map {
                LineageNode(pool: snapshot.role, id: $0.id, parents: $0.parents, origin: $0.origin, born: $0.born, status: $0.status)
            }
        }
        figures.flows = flows(try store.reports(InsightFlow.self, run: id))
        let attempts = try store.attempts(ofRun: id)
        if !attempts.isEmpty {
            figures.charts += discoveryCharts(attempts)
            // A discovery pool's lineage is its commits: each attempt from the one it started at.
            figures.lineage += attempts.map {
                LineageNode(pool: "attempts", id: String($0.commit.prefix(7)), parents: $0.parent.map { [String($0.prefix(7))] } ?? [],
                            origin: $0.agent, born: $0.round, status: $0.status.rawValue)
            }
            let direction = record.direction
            figures.leaderboard = Array(leaderboard(attempts, direction: direction).prefix(leaderboardSize))
            figures.notes = try store.notes(ofRun: id)
            figures.skills = Dictionary(grouping: try store.skills(ofRun: id), by: \.name).values
                .compactMap { $0.max { $0.version < $1.version } }.sorted { $0.name < $1.name }
        }
        return figures
    }

    // MARK: Charts per experiment

    static func proposerSolverCharts(_ rounds: [ProposerSolverRoundReport]) -> [Chart] {
        guard !rounds.isEmpty else { return [] }
        func line(_ name: String, _ value: (ProposerSolverRoundReport) -> Double) -> Series {
            Series(name: name, points: rounds.map { [Double($0.round), value($0)] })
        }
        return [
            Chart(title: "Solve rate", x: "round", series: [line("solve rate") { $0.solveRate }]),
            Chart(title: "Rewards", x: "round", series: [line("proposer reward") { $0.meanProposerReward }]),
            Chart(title: "Insights routed", x: "round", series: [line("insights") { Double($0.insightsRouted) },
                                                                 line("lineage events") { Double($0.lifecycleEvents) }]),
        ]
    }

    static func redBlueCharts(_ rounds: [RedBlueRoundReport]) -> [Chart] {
        guard !rounds.isEmpty else { return [] }
        func line(_ name: String, _ value: (RedBlueRoundReport) -> Double) -> Series {
            Series(name: name, points: rounds.map { [Double($0.round), value($0)] })
        }
        return [
            Chart(title: "Bypass", x: "round", series: [line("bypass rate") { $0.bypassRate },
                                                        line("archive bypass rate") { $0.archiveBypassRate }]),
            Chart(title: "False refusals", x: "round", series: [line("false refusal rate") { $0.falseRefusalRate },
                                                                line("benign helpful rate") { $0.benignHelpfulRate }]),
            Chart(title: "Rewards", x: "round", series: [line("attacker reward") { $0.meanAttackerReward },
                                                         line("defender reward") { $0.meanDefenderReward }]),
            Chart(title: "Insights routed", x: "round", series: [line("insights") { Double($0.insightsRouted) },
                                                                 line("lineage events") { Double($0.lifecycleEvents) }]),
        ]
    }

    static func chamberCharts(_ steps: [StepReport]) -> [Chart] {
        guard !steps.isEmpty else { return [] }
        func line(_ name: String, _ value: (StepReport) -> Double) -> Series {
            Series(name: name, points: steps.map { [Double($0.step), value($0)] })
        }
        return [
            Chart(title: "Accuracy", x: "step", series: [line("accuracy") { $0.accuracy }]),
            Chart(title: "Population", x: "step", series: [line("agents") { Double($0.population) },
                                                           line("niche leaders") { Double($0.specialists) },
                                                           line("stable specialists") { Double($0.stableSpecialists) }]),
            Chart(title: "Insights routed", x: "step", series: [line("insights") { Double($0.insightsRouted) }]),
        ]
    }

    /// The pool's best after each evaluation (the attempts that set it are flagged as
    /// they were graded), and each graded attempt's score.
    static func discoveryCharts(_ attempts: [Attempt]) -> [Chart] {
        var best: Double?
        var bestLine: [[Double]] = []
        var scored: [[Double]] = []
        for (index, attempt) in attempts.enumerated() {
            let x = Double(index + 1)
            if attempt.poolBest, let score = attempt.score { best = score }
            if let score = attempt.score { scored.append([x, score]) }
            if let best { bestLine.append([x, best]) }
        }
        return [Chart(title: "Best score over evaluations", x: "evaluation", series: [Series(name: "pool best", points: bestLine)],
                      fromZero: false),
                Chart(title: "Attempt scores", x: "evaluation", series: [Series(name: "attempt score", points: scored)], fromZero: false)]
    }

    /// Graded attempts, best first; among equal scores the earlier attempt first.
    static func leaderboard(_ attempts: [Attempt], direction: DiscoverySettings.Direction) -> [Attempt] {
        attempts.enumerated().filter { $0.element.score != nil }.sorted { a, b in
            let (x, y) = (a.element.score!, b.element.score!)
            return x != y ? direction.better(x, than: y) : a.offset < b.offset
        }.map(\.element)
    }

    // MARK: Pools

    static func latestPerPool(_ snapshots: [PopulationSnapshot]) -> [PopulationSnapshot] {
        var latest: [String: PopulationSnapshot] = [:]
        var order: [String] = []
        for snapshot in snapshots {
            if latest[snapshot.role] == nil { order.append(snapshot.role) }
            latest[snapshot.role] = snapshot
        }
        return order.map { latest[$0]! }
    }

    static func heatmap(_ snapshot: PopulationSnapshot) -> Heatmap {
        let active = snapshot.members.filter { $0.status == "active" }
        let shown = snapshot.omitted.map { "; the best \(snapshot.members.count) of \(snapshot.members.count + $0) agents" } ?? ""
        return Heatmap(pool: snapshot.role, title: "\(snapshot.role) competence by niche (\(snapshot.round)\(shown))", rows: active.map(\.id),
                       columns: snapshot.niches,
                       values: active.map { member in
                           zip(member.competence, member.attempts).map { $1 > 0 ? $0 : nil }
                       })
    }

    static func flows(_ events: [InsightFlow]) -> [Flow] {
        struct Key: Hashable { var pool, from, to: String }
        var sums: [Key: Flow] = [:]
        var order: [Key] = []
        for event in events {
            for recipient in event.to {
                let key = Key(pool: event.role, from: event.from, to: recipient)
                if sums[key] == nil {
                    order.append(key)
                    sums[key] = Flow(pool: event.role, from: event.from, to: recipient, insights: 0, events: 0)
                }
                sums[key]!.insights += event.insights
                sums[key]!.events += 1
            }
        }
        return order.map { sums[$0]! }
    }
}
