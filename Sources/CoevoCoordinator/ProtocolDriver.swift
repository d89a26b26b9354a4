import CoevoCore
import CoevoStore
import Foundation

/// Runs a model-call protocol (proposer/solver, red-blue) over workers: each `AgentCall`
/// becomes an `llm.chat` job on the endpoint its role's pool gives the agent, each result
/// goes back to the engine. A call whose job fails for good, or whose output cannot be
/// read, reaches the engine as a failed reply (a format failure there): a bad worker or
/// endpoint costs that agent its reward, never the round.
///
/// Resuming after a coordinator restart replays the run, as the chamber does: the engine
/// reads replies in call order at the end of each phase, so feeding it the stored replies
/// (matched by call key) reaches the exact state the lost engine had. Calls without a
/// stored result are queued again under their old job ids, and event lines the store
/// already has are not logged twice. The exports (JSON lines) are rewritten after every
/// round; when the engine finishes the summary is logged as a `protocol_summary` event.
struct ProtocolDriver: RunDriver {
    private var engine: any ProtocolEngine
    private let run: RunID
    private let endpointsByRole: [String: [LLMJob.Endpoint]]
    private let timeoutMilliseconds: Int64
    private let exportDirectory: URL
    private var pending: [JobID: String] = [:]
    private var outbox = Outbox<EventRecord>()
    /// Event lines per kind the store already holds from earlier lives of the run.
    private var alreadyLogged: [String: Int]
    private var stored: [String: CoevoStore.StoredJob] = [:]
    private var finishedWritten = false

    init(engine: any ProtocolEngine, run: RunID, endpointsByRole: [String: [LLMJob.Endpoint]], timeoutMilliseconds: Int64,
         exportDirectory: URL, storedJobs: [CoevoStore.StoredJob] = [], loggedEvents: [String: Int] = [:]) {
        self.engine = engine
        self.run = run
        self.endpointsByRole = endpointsByRole
        self.timeoutMilliseconds = timeoutMilliseconds
        self.exportDirectory = exportDirectory
        alreadyLogged = loggedEvents
        for entry in storedJobs {
            if let call = (try? JSONDecoder().decode(LLMJob.self, from: entry.job.payload))?.call { stored[call] = entry }
        }
    }

    var isFinished: Bool { engine.isFinished && pending.isEmpty }

    mutating func start(ids: inout JobID) -> (new: [Job], stored: [(job: Job, attempts: UInt32)]) {
        var queue = engine.start()
        var live: [AgentCall] = []
        var cursor = 0
        while cursor < queue.count {
            let call = queue[cursor]
            cursor += 1
            guard let entry = stored[call.key], entry.outcome != nil || entry.failed else {
                live.append(call)
                continue
            }
            queue += engine.complete(call.key, Self.reply(entry.outcome, failure: "failed in an earlier life of the run"))
        }
        collect()
        var resubmitted: [(Job, UInt32)] = []
        var fresh: [AgentCall] = []
        for call in live {
            if let entry = stored[call.key] {
                pending[entry.job.id] = call.key
                resubmitted.append((entry.job, entry.attempts))
            } else {
                fresh.append(call)
            }
        }
        stored = [:]
        return (jobs(fresh, ids: &ids), resubmitted)
    }

    /// The reply a job's outcome carries for the engine.
    private static func reply(_ outcome: JobOutcome?, failure: String) -> AgentReply {
        guard let outcome else { return .failed(failure) }
        guard outcome.status == .succeeded else { return .failed("\(outcome.status.rawValue): \(outcome.error)") }
        guard let output = try? JSONDecoder().decode(LLMJobOutput.self, from: outcome.output) else {
            return .failed("llm.chat output is not an LLMJobOutput (\(outcome.output.count) bytes)")
        }
        return .text(output.text)
    }

    mutating func completed(_ lease: Lease, outcome: JobOutcome, ids: inout JobID) -> [Job] {
        guard let key = pending.removeValue(forKey: lease.job.id) else { return [] }
        let reply = Self.reply(outcome, failure: "")
        if case .failed(let why) = reply { note("call_failed", job: lease.job.id, "\(key): \(why)") }
        return advance(key, reply, ids: &ids)
    }

    mutating func failed(_ job: JobID, reason: String, ids: inout JobID) -> [Job] {
        guard let key = pending.removeValue(forKey: job) else { return [] }
        note("call_failed", job: job, "\(key): \(reason)")
        return advance(key, .failed(reason), ids: &ids)
    }

    mutating func takeEvents() -> [EventRecord] { outbox.takeEvents() }
    mutating func takeProgressLine() -> String? { outbox.takeProgressLine() }

    private mutating func advance(_ key: String, _ reply: AgentReply, ids: inout JobID) -> [Job] {
        let next = engine.complete(key, reply)
        collect()
        return jobs(next, ids: &ids)
    }

    /// Moves the engine's events and progress out. The exports are rewritten after every
    /// round, so a run stopped early (a budget reached, Ctrl-C) still has the data of the
    /// rounds it finished; at the end the summary is logged.
    private mutating func collect() {
        for event in engine.takeEvents() { log(event.kind, event.detail) }
        guard let line = engine.takeProgressLine() else { return }
        outbox.progress(line)
        let failure = writeExports()
        guard engine.isFinished, !finishedWritten else { return }
        finishedWritten = true
        if let failure { log("exports_failed", failure) } else { log("exports_written", exportDirectory.path) }
        log("protocol_summary", engine.summaryLines.joined(separator: "\n"))
    }

    /// Nil when written, else why not.
    private func writeExports() -> String? {
        do {
            try FileManager.default.createDirectory(at: exportDirectory, withIntermediateDirectories: true)
            for (name, lines) in engine.exports().sorted(by: { $0.key < $1.key }) {
                let text = lines.isEmpty ? "" : lines.joined(separator: "\n") + "\n"
                try Data(text.utf8).write(to: exportDirectory.appendingPathComponent(name), options: .atomic)
            }
            return nil
        } catch {
            return "could not write exports to \(exportDirectory.path): \(error)"
        }
    }

    private mutating func jobs(_ calls: [AgentCall], ids: inout JobID) -> [Job] {
        calls.map { call in
            let (endpoint, fallbacks) = LLMJob.Endpoint.assign(agent: call.agent.rawValue, pool: endpointsByRole[call.role] ?? [])
            let payload = LLMJob(endpoint: endpoint, system: call.system, prompt: call.prompt, maxTokens: call.maxTokens,
                                 temperature: call.temperature, seed: call.seed, call: call.key, fallbacks: fallbacks)
            let id = ids
            ids += 1
            pending[id] = call.key
            return Job(id: id, run: run, kind: JobKind.llm.rawValue, payload: (try? JSONEncoder().encode(payload)) ?? Data(),
                       timeoutMilliseconds: timeoutMilliseconds)
        }
    }

    /// Logs an engine event unless an earlier life of the run already did.
    private mutating func log(_ kind: String, _ detail: String) {
        if let seen = alreadyLogged[kind], seen > 0 {
            alreadyLogged[kind] = seen - 1
            return
        }
        outbox.post(EventRecord(at: Date().timeIntervalSince1970, run: run.rawValue, kind: kind, detail: detail))
    }

    private mutating func note(_ kind: String, job: JobID, _ detail: String) {
        outbox.post(EventRecord(at: Date().timeIntervalSince1970, run: run.rawValue, kind: kind, job: job, detail: detail))
    }
}
