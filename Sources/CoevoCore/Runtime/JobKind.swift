/// Which executor runs a job on a worker. Typed, but open: a worker may offer kinds this
/// build does not name (it answers `unsupported` for kinds it lacks), so this is a
/// wrapper around the wire string rather than a closed enum.
public struct JobKind: RawRepresentable, Hashable, Comparable, Sendable, Codable, CustomStringConvertible {
    public var rawValue: String
    public init(rawValue: String) { self.rawValue = rawValue }
    public init(_ rawValue: String) { self.rawValue = rawValue }

    public var description: String { rawValue }
    public static func < (a: JobKind, b: JobKind) -> Bool { a.rawValue < b.rawValue }

    /// Returns its payload unchanged: the dispatch benchmark's unit of work.
    public static let noop = JobKind("noop")
    /// Sleeps for the milliseconds in its payload (8 bytes, little endian), then returns
    /// the payload: long-running jobs for fault tests.
    public static let sleep = JobKind("sleep")
    /// One chat call to the endpoint in its payload (`LLMJob`), answered with `LLMJobOutput`.
    public static let llm = JobKind("llm.chat")
    /// One step of a discovery pool's agent (`DiscoveryStepJob`), and one grade of a
    /// submission (`DiscoveryGradeJob`).
    public static let discoveryStep = JobKind("discovery.step")
    public static let discoveryGrade = JobKind("discovery.grade")
    /// One simulated chamber turn (`SimTurnCodec` in CoevoWire encodes its payload).
    public static let simTurn = JobKind("sim.turn")

    /// The kinds a config's `workload` may name (protocols make the others).
    public static let workloadKinds: [JobKind] = [.noop, .sleep, .llm]

    public init(from decoder: any Decoder) throws {
        rawValue = try decoder.singleValueContainer().decode(String.self)
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(rawValue)
    }
}
