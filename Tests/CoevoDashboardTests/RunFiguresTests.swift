@testable import CoevoDashboard
import CoevoCore
import Foundation
import Testing

/// The figures the dashboard and the report draw, from typed rows worked out by hand.
@Suite struct RunFiguresTests {
    static func attempt(_ key: String, _ score: Double?, best: Bool = false) -> Attempt {
        Attempt(key: key, round: 1, agent: "a", commit: key, parent: nil, score: score, status: score == nil ? .crashed : .improved,
                poolBest: best, feedback: "", message: key)
    }

    @Test func theBestScoreLineStepsAtEachNewPoolBestAndSkipsUnscoredAttempts() {
        let attempts = [Self.attempt("1", 0.5, best: true), Self.attempt("2", nil), Self.attempt("3", 0.4),
                        Self.attempt("4", 0.9, best: true)]
        let charts = RunFigures.discoveryCharts(attempts)
        #expect(charts[0].series[0].points == [[1, 0.5], [2, 0.5], [3, 0.5], [4, 0.9]])
        #expect(charts[1].series[0].points == [[1, 0.5], [3, 0.4], [4, 0.9]])
        #expect(!charts[0].fromZero)
    }

    /// After round 1 of 3 the axis spans the planned rounds: before, one point on a 1..2 axis.
    @Test func aRunsFirstRoundIsDrawnOnTheAxisOfItsPlannedRounds() {
        var chart = RunFigures.Chart(title: "Solve rate", x: "round", series: [RunFigures.Series(name: "solve rate", points: [[1, 0.25]])])
        #expect(SVGChart.lines(chart).contains(">2</text>"), "without a plan the axis is 1..2")
        chart.xSpan = [1, 3]
        let svg = SVGChart.lines(chart)
        #expect(svg.contains("text-anchor=\"end\" class=\"tick\">3</text>") && !svg.contains(">2</text>"), "\(svg)")
    }

    @Test func theLeaderboardRanksByTheTasksDirectionAndLeavesOutCrashes() {
        let attempts = [Self.attempt("1", 3), Self.attempt("2", nil), Self.attempt("3", 1), Self.attempt("4", 2), Self.attempt("5", 1)]
        #expect(RunFigures.leaderboard(attempts, direction: .maximize).map(\.key) == ["1", "4", "3", "5"])
        #expect(RunFigures.leaderboard(attempts, direction: .minimize).map(\.key) == ["3", "5", "4", "1"])
    }

    @Test func insightFlowsAreSummedPerSenderAndRecipient() {
        let events = [
            InsightFlow(round: 1, role: "solver", niche: "add", from: "s1", to: ["s2", "s3"], insights: 2),
            InsightFlow(round: 2, role: "solver", niche: "mul", from: "s1", to: ["s2"], insights: 1),
            InsightFlow(round: 2, role: "proposer", niche: "mul", from: "s1", to: ["s2"], insights: 4),
        ]
        let flows = RunFigures.flows(events).map { "\($0.pool) \($0.from)>\($0.to) \($0.insights)/\($0.events)" }
        #expect(flows == ["solver s1>s2 3/2", "solver s1>s3 2/1", "proposer s1>s2 4/1"])
    }

    @Test func theHeatmapShowsActiveAgentsAndNoFigureWhereThereWasNoAttempt() throws {
        var population = Population(nicheCount: 2)
        for _ in 0..<2 {
            _ = population.add(role: "solver", pool: "p", lineage: .init(parents: [], operator: .initial, reason: "", step: 0), systemPrompt: "")
        }
        population.record(0, niche: 1, success: true, alpha: 0.5)
        let snapshot = PopulationSnapshot(population, role: "solver", niches: ["add", "mul"], round: 3)
        let map = RunFigures.heatmap(snapshot)
        #expect(map.rows == ["a1", "a2"] && map.columns == ["add", "mul"])
        #expect(map.values[0][0] == nil && map.values[1] == [nil, nil])
        let value = try #require(map.values[0][1])
        #expect(value == (population.stats(0, 1).competence * 1000).rounded() / 1000)
        let svg = SVGChart.matrix(title: map.title, rows: map.rows, columns: map.columns, values: map.values, cellClass: "heat-cell")
        #expect(svg.contains("data-row=\"a1\" data-column=\"mul\" data-value=\"\(String(format: "%.2f", value))\""))
        #expect(svg.contains("data-row=\"a2\" data-column=\"add\" data-value=\"\""))
    }

    @Test func textFromAgentsIsEscapedInThePage() {
        var figures = RunFigures(id: "r<1>", name: "n", seed: 1, state: "finished", jobs: 0, results: 0, succeeded: 0, failed: 0)
        figures.notes = [Note(key: "k", agent: "<script>alert(1)</script>", round: 1, body: "a & b")]
        let html = ReportPage.runSection(figures)
        #expect(!html.contains("<script>") && html.contains("&lt;script&gt;") && html.contains("a &amp; b") && html.contains("r&lt;1&gt;"))
    }
}

/// Bad input tried: a port that is not a number, out of range, too many colons, and a
/// dashboard open to the network without a token.
@Suite struct DashboardSettingsTests {
    @Test func addressesParseAndAnOpenDashboardNeedsAToken() throws {
        #expect(try DashboardSettings.parse("8080", token: nil).host == "127.0.0.1")
        #expect(try DashboardSettings.parse("0.0.0.0:9", token: "t").port == 9)
        for bad in ["x", "70000", "a:b:1", "host:"] {
            #expect(throws: DashboardError.self) { try DashboardSettings.parse(bad, token: nil) }
        }
        #expect(throws: DashboardError.self) { try DashboardSettings.parse("0.0.0.0:8080", token: nil) }
        #expect(throws: DashboardError.self) { try DashboardSettings.parse("0.0.0.0:8080", token: "") }
    }

    @Test func tokensCompareWhole() {
        #expect(TokenCheck.same("s3cret", "s3cret"))
        #expect(!TokenCheck.same("s3cre", "s3cret") && !TokenCheck.same("s3creT", "s3cret") && !TokenCheck.same("", "s3cret"))
    }
}
