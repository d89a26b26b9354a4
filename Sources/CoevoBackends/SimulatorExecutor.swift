import CoevoCore
import CoevoWire
import Foundation

/// Runs `sim.turn` jobs: one agent turn under the simulator's rules. Pure and fast, so it
/// answers inline on the worker's loop.
public struct SimulatorExecutor: JobExecutor {
    public init() {}
    public var kind: JobKind { .simTurn }

    public func runImmediately(payload: Data) -> JobOutcome? {
        do {
            let (request, parameters) = try SimTurnCodec.decodeRequest(payload)
            let result = SimulatedWorld.execute(request, parameters: parameters)
            return JobOutcome(status: .succeeded, output: SimTurnCodec.encode(result))
        } catch {
            return JobOutcome(status: .failed, error: "\(error)")
        }
    }

    public func run(payload: Data) async -> JobOutcome { runImmediately(payload: payload)! }
}
