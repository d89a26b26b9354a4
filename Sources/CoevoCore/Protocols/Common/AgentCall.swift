/// One model call an experiment protocol asks for: who calls (a role, which the run's
/// pools map to endpoints, and an agent), what is said, and a key that names the call
/// uniquely and the same way every time the run is replayed.
public struct AgentCall: Hashable, Sendable {
    /// `r<round>.<phase>.<agent>.<n>`: unique in the run, stable across replays.
    public var key: String
    public var role: String
    public var agent: AgentID
    public var system: String
    public var prompt: String
    public var maxTokens: Int
    public var temperature: Double
    /// Sampling seed sent to the endpoint: the run's seed mixed with the key, so a replay
    /// on a seed-honouring server (llama.cpp, vLLM) asks for the same sample.
    public var seed: UInt64

    public init(key: String, role: String, agent: AgentID, system: String, prompt: String,
                maxTokens: Int, temperature: Double, runSeed: UInt64) {
        self.key = key
        self.role = role
        self.agent = agent
        self.system = system
        self.prompt = prompt
        self.maxTokens = maxTokens
        self.temperature = temperature
        seed = Self.seed(runSeed: runSeed, key: key)
    }

    /// The sampling seed of the call `key` in a run seeded `runSeed`.
    public static func seed(runSeed: UInt64, key: String) -> UInt64 {
        var generator = SeededGenerator(seed: key.utf8.reduce(runSeed ^ 0xcbf2_9ce4_8422_2325) { ($0 ^ UInt64($1)) &* 0x100_0000_01b3 })
        // llama.cpp reads the seed as a signed 32-bit value; keep it in range everywhere.
        return generator.next() & 0x7fff_ffff
    }
}

/// What came back for a call: the model's text, or why there is none (the job failed
/// for good). A protocol treats a failed call like an unreadable reply.
public enum AgentReply: Hashable, Sendable {
    case text(String)
    case failed(String)

    public var text: String? {
        if case .text(let text) = self { return text }
        return nil
    }
}

/// A line for the run's event log.
public struct ProtocolEvent: Hashable, Sendable {
    public var kind: EventKind
    public var detail: String
    public init(_ kind: EventKind, _ detail: String) {
        self.kind = kind
        self.detail = detail
    }
}

/// An experiment protocol whose requests are model calls (proposer/solver, red-blue):
/// a phase's replies are read in call order, so the evolution does not depend on the
/// order they arrive in.
public protocol ProtocolEngine: RunEngine where Request == AgentCall, Key == String, Reply == AgentReply {}

extension ProtocolEngine {
    public static func key(of call: AgentCall) -> String { call.key }
}
