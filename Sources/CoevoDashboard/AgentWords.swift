import CoevoCore
import CoevoStore
import Foundation

/// What a run's agents said: each model call's prompt and reply (or why it failed), with
/// who made it, in which round and phase, read from the run's jobs and results.
public struct AgentWords: Sendable, Encodable {
    public struct Call: Sendable, Encodable, Equatable {
        public var job: UInt64
        public var role: String?
        public var agent: String?
        public var round: Int?
        public var phase: String?
        public var key: String?
        public var system: String
        public var prompt: String
        /// The reply; nil when the call failed or has no result yet.
        public var reply: String?
        public var status: String
        public var error: String?
        public var tokens: Int
        /// For a discovery step: what it submitted, wrote and was told.
        public var step: Step?
    }

    /// A discovery step's work beside its transcript (the call's reply).
    public struct Step: Sendable, Encodable, Equatable {
        public var message: String
        public var diff: String
        public var notes: [String]
        public var exit: String
        /// The grader's words and score, once its submission was graded.
        public var feedback: String?
        public var score: Double?
    }

    /// Which calls to show; each field left nil shows all.
    public struct Filter: Sendable, Encodable, Equatable {
        public var agent: String?
        public var role: String?
        public var round: Int?
        public var phase: String?

        public init(agent: String? = nil, role: String? = nil, round: Int? = nil, phase: String? = nil) {
            (self.agent, self.role, self.round, self.phase) = (agent, role, round, phase)
        }

        func admits(_ call: Call) -> Bool {
            (agent == nil || call.agent == agent) && (role == nil || call.role == role)
                && (round == nil || call.round == round) && (phase == nil || call.phase == phase)
        }

        /// The query string that selects the same calls (empty when nothing is filtered).
        public var query: String {
            let pairs: [(String, String?)] = [("agent", agent), ("role", role), ("round", round.map(String.init)), ("phase", phase)]
            let set = pairs.compactMap { name, value in
                value.map { "\(name)=\($0.addingPercentEncoding(withAllowedCharacters: .urlQueryAllowed) ?? $0)" }
            }
            return set.isEmpty ? "" : "?" + set.joined(separator: "&")
        }
    }

    public var run: String
    public var filter: Filter
    /// The calls the filter admits, in the order they were made, at most `limit`.
    public var calls: [Call]
    /// How many the filter admits in all.
    public var matching: Int
    /// The values each field takes in the run, for the page's choices.
    public var agents: [String]
    public var roles: [String]
    public var rounds: [Int]
    public var phases: [String]

    /// Nil when the store has no run `run`.
    public static func read(_ run: String, from store: CoevoStore, filter: Filter, limit: Int = 300) throws -> AgentWords? {
        guard try store.run(id: run) != nil else { return nil }
        let decoder = JSONDecoder()
        let attempts = Dictionary(try store.attempts(ofRun: run).map { ($0.key, $0) }) { first, _ in first }
        let all = try store.storedJobs(ofRun: run).compactMap { stored -> Call? in
            if stored.job.kind == .discoveryStep { return step(stored, attempts: attempts, decoder: decoder) }
            guard stored.job.kind == .llm, let job = try? decoder.decode(LLMJob.self, from: stored.job.payload) else { return nil }
            let outcome = stored.outcome
            let output = outcome?.status == .succeeded ? try? decoder.decode(LLMJobOutput.self, from: outcome!.output) : nil
            return Call(job: stored.job.id, role: job.role, agent: job.agent, round: job.round, phase: job.phase, key: job.call,
                        system: job.system, prompt: job.prompt, reply: output?.text,
                        status: outcome?.status.rawValue ?? (stored.failed ? "failed" : "pending"),
                        error: outcome.flatMap { $0.error.isEmpty ? nil : $0.error },
                        tokens: output.map { $0.promptTokens + $0.completionTokens } ?? 0)
        }
        let admitted = all.filter(filter.admits)
        return AgentWords(run: run, filter: filter, calls: Array(admitted.prefix(limit)), matching: admitted.count,
                          agents: Set(all.compactMap(\.agent)).sorted { ($0.count, $0) < ($1.count, $1) },
                          roles: Set(all.compactMap(\.role)).sorted(), rounds: Set(all.compactMap(\.round)).sorted(),
                          phases: Set(all.compactMap(\.phase)).sorted())
    }

    /// A discovery step as a call: its prompt and the tail of what the agent printed, with
    /// its commit's message and diff, its notes, how it ended and what the grader said.
    static func step(_ stored: CoevoStore.StoredJob, attempts: [String: Attempt], decoder: JSONDecoder) -> Call? {
        guard let job = try? decoder.decode(DiscoveryStepJob.self, from: stored.job.payload) else { return nil }
        let outcome = stored.outcome
        let output = outcome?.status == .succeeded ? try? decoder.decode(DiscoveryStepOutput.self, from: outcome!.output) : nil
        let attempt = attempts[job.key]
        return Call(job: stored.job.id, role: job.runtime.rawValue, agent: job.agent, round: job.round ?? attempt?.round, phase: "step",
                    key: job.key, system: "", prompt: job.prompt, reply: output?.transcript,
                    status: outcome?.status.rawValue ?? (stored.failed ? "failed" : "pending"),
                    error: outcome.flatMap { $0.error.isEmpty ? nil : $0.error }, tokens: output?.tokens ?? 0,
                    step: output.map {
                        Step(message: $0.message, diff: $0.diff, notes: $0.notes, exit: $0.exit,
                             feedback: attempt?.feedback, score: attempt?.score)
                    })
    }
}
