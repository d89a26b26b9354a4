/// What the chamber's engine does differently on each backend, as one value: where a
/// task comes from, what a turn shows of an agent's insights, what a niche is called and
/// how a reflection's line reads. The engine asks it and never the backend's name; the
/// coordinator's `ChamberTurnJobs` is its counterpart for jobs.
public protocol ChamberBackend: Sendable {
    /// Task `id` on `niche`.
    func task(id: Int, niche: Int, seed: UInt64, world: SimulatedWorld) -> SimulatedTask
    /// The insight texts a turn puts before its agent.
    func shownInsights(_ held: [Insight]) -> [String]
    /// The persona a turn puts before its agent ("": none, the simulator reads skills).
    func shownPersona(_ agent: Agent) -> String
    func nicheName(_ niche: Int) -> String
    /// What one line of a reflection or consolidation says.
    func reading(_ line: Substring) -> ReflectionLine
}

/// One line of a reflection, read by the backend.
public enum ReflectionLine: Equatable, Sendable {
    /// Not an insight, and not worth a note (e.g. a blank line).
    case skipped
    /// Not an insight, noted as unparsed.
    case unparsed
    /// An insight; on the simulator, the lesson it names.
    case insight(simulatedLesson: Int?)
}

extension ChamberSettings.Backend {
    /// The value the engine asks.
    public var behaviour: any ChamberBackend {
        switch self {
        case .simulator: SimulatorChamberBackend()
        case .model: ModelChamberBackend()
        }
    }
}

/// The built-in simulator: its world's tasks, agents that read lessons by number (their
/// texts are not shown), niches by number.
public struct SimulatorChamberBackend: ChamberBackend {
    public func task(id: Int, niche: Int, seed: UInt64, world: SimulatedWorld) -> SimulatedTask { world.task(id: id, niche: niche) }
    public func shownInsights(_ held: [Insight]) -> [String] { [] }
    public func shownPersona(_ agent: Agent) -> String { "" }
    public func nicheName(_ niche: Int) -> String { "niche \(niche)" }

    public func reading(_ line: Substring) -> ReflectionLine {
        SimulatedWorld.lesson(inText: String(line)).map { .insight(simulatedLesson: $0) } ?? .unparsed
    }
}

/// A real model on `ChamberTaskBank`'s tasks: insights are shown as text, and any line
/// with a letter in it is one.
public struct ModelChamberBackend: ChamberBackend {
    public func task(id: Int, niche: Int, seed: UInt64, world: SimulatedWorld) -> SimulatedTask {
        ChamberTaskBank.task(seed: seed, id: id, niche: niche)
    }

    public func shownInsights(_ held: [Insight]) -> [String] { held.map(\.text) }
    public func shownPersona(_ agent: Agent) -> String { agent.systemPrompt }

    public func nicheName(_ niche: Int) -> String {
        niche < ChamberTaskBank.niches.count ? ChamberTaskBank.niches[niche] : "niche \(niche)"
    }

    public func reading(_ line: Substring) -> ReflectionLine {
        line.contains(where: \.isLetter) ? .insight(simulatedLesson: nil) : .skipped
    }
}
