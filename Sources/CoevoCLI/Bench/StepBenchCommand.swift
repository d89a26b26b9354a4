import ArgumentParser
import CoevoCore
import Foundation

/// `coevo bench step`: one chamber step at scale, in process.
struct StepBenchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "step",
        abstract: "Time chamber steps (team assembly, simulated turns, CODREAM, lifecycle) at a large population.")

    @Option(help: "Agents.") var agents = 10_000
    @Option(help: "Niches.") var niches = 64
    @Option(help: "Tasks per step.") var tasks = 1000
    @Option(help: "Steps to time (after one warm-up step).") var steps = 10

    func run() throws {
        var settings = ChamberSettings()
        settings.agents = agents
        settings.niches = niches
        settings.tasksPerStep = tasks
        settings.steps = steps + 1
        settings.evolution.lifecycle.maxPopulation = agents * 2
        settings.evolution.lifecycle.everyTasks = 1  // a lifecycle check every step
        let clock = ContinuousClock()
        let built = clock.now
        var engine = ChamberEngine(settings: settings)
        let setup = clock.now - built
        engine.runStepInProcess()  // warm-up
        var times: [Duration] = []
        var turns = 0
        var failures = 0
        for _ in 0..<steps {
            let t0 = clock.now
            let report = engine.runStepInProcess().report
            times.append(clock.now - t0)
            turns += report.agentTurns
            failures += report.codreamEvents
        }
        let ms = times.map { $0.microseconds / 1000 }.sorted()
        print("chamber step benchmark: \(agents) agents, \(niches) niches, \(tasks) tasks per step, lifecycle check every step")
        print(String(format: "population built in %.1f ms", setup.microseconds / 1000))
        print(String(format: "step time: median %.1f ms, max %.1f ms over %d steps (%.0f agent turns and %.0f CODREAM events a step, simulated in process)",
                     ms[ms.count / 2], ms.last!, steps, Double(turns) / Double(steps), Double(failures) / Double(steps)))
        print(String(format: "target < 50 ms per step: %@", ms[ms.count / 2] < 50 ? "met" : "NOT met"))
    }
}
