import CoevoCore
import Foundation
import Testing

extension ProcessTests {
    /// The chamber protocol through a real coordinator and two worker processes.
    @Suite struct ChamberRunTests {
        @Test func aChamberRunOverWorkersEvolvesExactlyAsInProcess() async throws {
            let scratch = try Scratch("chamber")
            defer { scratch.close() }
            let run = TestRun(scratch: scratch)
            let config = try scratch.write("chamber.yaml", """
                run: {name: chamber-it, seed: 11}
                coordinator: {bind: \(run.endpoint), database: \(run.database), min_workers: 2}
                chamber: {niches: 4, agents: 8, steps: 6, tasks_per_step: 16}
                evolution: {lifecycle: {every_tasks: 10, max_population: 12}}
                """)
            // min_workers: the run takes a fraction of a second, so without it the first
            // worker to connect could take every turn before the second joins.
            let coordinator = try run.coordinator(config: config)
            _ = try (0..<2).map { try run.worker("w-\($0)", slots: 64) }
            #expect(await coordinator.waitForExit(timeout: 90) == 0, "\(scratch.logs)")

            var settings = ChamberSettings()
            settings.seed = 11
            settings.niches = 4
            settings.agents = 8
            settings.steps = 6
            settings.tasksPerStep = 16
            settings.evolution.lifecycle.everyTasks = 10
            settings.evolution.lifecycle.maxPopulation = 12
            var local = ChamberEngine(settings: settings)
            var said: [ProtocolEvent] = []
            while !local.isFinished { said += local.runStepInProcess().events }

            let db = try Database(run.database)
            let stored = try db.strings("SELECT detail FROM events WHERE kind = 'chamber_step' ORDER BY seq")
                .map { try JSONDecoder().decode(StepReport.self, from: Data($0.utf8)) }
            #expect(stored == local.reports)
            let turns = local.reports.reduce(0) { $0 + $1.agentTurns }
            #expect(try db.int("SELECT COUNT(*) FROM results WHERE status = 'succeeded'") == turns)
            #expect(try db.int("SELECT COUNT(DISTINCT worker) FROM results") == 2)
            #expect(try db.strings("SELECT state FROM runs") == ["finished"])
            let lifecycle = try db.int("SELECT COUNT(*) FROM events WHERE kind IN ('chamber_fork', 'chamber_merge', 'chamber_prune', 'chamber_seed')")
            #expect(lifecycle == said.filter { EventKind.chamberLifecycle.contains($0.kind) }.count)
        }
    
        @Test func aKilledCoordinatorResumesAChamberRunExactlyWhereItWas() async throws {
            let scratch = try Scratch("chamberkill")
            defer { scratch.close() }
            let run = TestRun(scratch: scratch)
            let config = try scratch.write("chamber.yaml", """
                run: {name: chamber-kill, seed: 23}
                coordinator: {bind: \(run.endpoint), database: \(run.database)}
                chamber: {niches: 6, agents: 10, steps: 40, tasks_per_step: 48}
                """)
            let first = try run.coordinator(config: config, name: "coordinator-1")
            let workers = try (0..<2).map { try run.worker("w-\($0)", slots: 64) }
            func stepsLogged() -> Int {
                (try? Database(run.database).int("SELECT COUNT(*) FROM events WHERE kind = 'chamber_step'")) ?? 0
            }
            #expect(await eventually(timeout: 60) { stepsLogged() >= 5 }, "\(scratch.logs)")
            first.signal(SIGKILL)
            #expect(await first.waitForExit(timeout: 5) != nil)
            #expect(stepsLogged() < 40, "the run ended before the kill; make it longer")

            let second = try run.coordinator(config: config, name: "coordinator-2")
            #expect(await second.waitForExit(timeout: 120) == 0, "\(scratch.logs)")
            #expect(second.log.contains("resumed by replaying"))

            var settings = ChamberSettings()
            settings.seed = 23
            settings.niches = 6
            settings.agents = 10
            settings.steps = 40
            settings.tasksPerStep = 48
            var local = ChamberEngine(settings: settings)
            while !local.isFinished { local.runStepInProcess() }
            let db = try Database(run.database)
            let stored = try db.strings("SELECT detail FROM events WHERE kind = 'chamber_step' ORDER BY seq")
                .map { try JSONDecoder().decode(StepReport.self, from: Data($0.utf8)) }
            #expect(stored == local.reports)
            #expect(try db.int("SELECT COUNT(*) FROM runs") == 1)
            #expect(try db.int("SELECT COUNT(*) FROM results") == local.reports.reduce(0) { $0 + $1.agentTurns })
            let alive = workers.allSatisfy { $0.isRunning }
            #expect(alive)
        }
}
}
