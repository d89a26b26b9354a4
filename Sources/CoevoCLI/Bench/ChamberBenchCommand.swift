import ArgumentParser
import Foundation

/// `coevo bench chamber`: the chamber on the simulator through the coordinator and
/// worker processes: agent jobs (sim.turn) per second, every result durable.
struct ChamberBenchCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "chamber",
        abstract: "Agent jobs/s of a simulated chamber through the coordinator and worker processes.")

    @Option(help: "Agents.") var agents = 1000
    @Option(help: "Niches.") var niches = 16
    @Option(help: "Tasks per step.") var tasks = 2000
    @Option(help: "Steps.") var steps = 5
    @Option(help: "Worker processes.") var workers = 2
    @Option(help: "Slots per worker.") var slots = 1024
    @OptionGroup var logging: LoggingOptions

    func run() async throws {
        let (measurement, directory) = try CoevoDispatchMeasurement.inScratchDirectory(logging: logging)
        defer { try? FileManager.default.removeItem(at: directory) }
        let (rate, jobs) = try await measurement.chamber(agents: agents, niches: niches, tasksPerStep: tasks, steps: steps,
                                                         workers: workers, slots: slots)
        print("chamber benchmark: \(agents) agents, \(niches) niches, \(steps) steps of \(tasks) tasks, \(workers) worker processes x \(slots) slots")
        print(String(format: "%d agent jobs (sim.turn), durable: %.0f agent jobs/s (target >= 20000: %@)",
                     jobs, rate, rate >= 20_000 ? "met" : "NOT met"))
    }
}
