import CoevoCore
import CoevoStore
import Foundation

/// How one kind of engine's requests travel as jobs and its results come back as
/// replies: all a run kind adds to the generic `EngineDriver`.
protocol EngineCodec {
    associatedtype Engine: RunEngine
    /// The job that carries `request`, keyed `storedKey(of: request)`; `stage` is the
    /// engine's as the request is made.
    mutating func job(_ request: Engine.Request, id: JobID, run: RunID, stage: RunStage) -> Job
    /// The job to queue again for `request`, which an earlier life stored as `stored` and
    /// never finished (by default the stored job as it is).
    func requeued(_ stored: Job, for request: Engine.Request, run: RunID, stage: RunStage) -> Job
    /// The key a stored job was made for, read from its payload (nil: not one of this
    /// kind's), for rows stored before jobs carried their key (`Job.key`); matched on
    /// resume to `storedKey(of:)` of the requests a fresh engine makes.
    func storedKey(of job: Job) -> String?
    func storedKey(of request: Engine.Request) -> String
    /// The reply a result carries for `request`, and a line (kind, detail) for the log
    /// when it is not a usable one.
    mutating func reply(_ result: AppliedResult, to request: Engine.Request) -> (Engine.Reply, note: (EventKind, String)?)
    /// The reply of what an earlier life stored for `request` (nil: its job failed for good).
    func replayed(_ result: AppliedResult?, for request: Engine.Request) -> Engine.Reply
    /// The reply to a request whose job failed for good, and its line for the log.
    func failure(_ reason: String, of request: Engine.Request) -> (Engine.Reply, note: (EventKind, String))
}

extension EngineCodec {
    func requeued(_ stored: Job, for request: Engine.Request, run: RunID, stage: RunStage) -> Job { stored }
}

/// Runs any `RunEngine` over workers: each request becomes a job (by the kind's codec),
/// each result goes back to the engine as a reply, and what the engine says (events,
/// shared-memory rows, a round's progress line) goes to the store and the log, with the
/// exports after every round, so a run stopped early keeps the data of the rounds it
/// finished. A job that fails for good reaches the engine as a failed reply: a bad worker
/// or endpoint costs that request, never the round.
///
/// Resuming after a coordinator restart replays the run (`StoredReplay`): the engine is
/// deterministic given its replies, so a fresh engine fed the stored ones (matched by
/// key) reaches the exact state the lost one had; lines it says again are logged once
/// (`EventLog`). Once the engine has finished and its last exports are written, the
/// summary is logged as a `protocol_summary` event.
struct EngineDriver<Codec: EngineCodec>: RunDriver {
    typealias Engine = Codec.Engine
    private var engine: Engine
    private var codec: Codec
    private let run: RunID
    /// Where the exports go after each round; nil for a run kind without exports (and
    /// without a summary event).
    private let exportDirectory: URL?
    private var pending: [JobID: Engine.Request] = [:]
    private var replay: StoredReplay<String>
    private var log: EventLog
    private var summaryLogged = false

    init(engine: Engine, codec: Codec, run: RunID, exportDirectory: URL?, storedJobs: [CoevoStore.StoredJob] = [],
         loggedEvents: [EventKind: Int] = [:]) {
        self.engine = engine
        self.codec = codec
        self.run = run
        self.exportDirectory = exportDirectory
        log = EventLog(run: run, alreadyLogged: loggedEvents)
        replay = StoredReplay(storedJobs) { job in job.key ?? codec.storedKey(of: job) }
    }

    var isFinished: Bool { engine.isFinished && pending.isEmpty && (summaryLogged || exportDirectory == nil) }
    var stage: RunStage? { engine.stage }

    mutating func start(ids: inout JobID, at: Double) -> DriverStep {
        let first = engine.start()
        // What the engine says while it is replayed, logged once the replay is over; not its
        // requests, which a long run's replay would otherwise hold by the million.
        var said = EngineStep<Engine.Request>(events: first.events, memory: first.memory, progress: first.progress)
        let (requeued, fresh) = replay.resume(first.requests, key: codec.storedKey(of:)) { request, answered in
            let next = engine.complete(Engine.key(of: request), codec.replayed(answered.result, for: request), at: answered.completedAt)
            said += EngineStep(events: next.events, memory: next.memory, progress: next.progress)
            return next.requests
        }
        var step = collect(said, at: at)
        for entry in requeued { pending[entry.job.id] = entry.request }
        replay.finish()
        step.requeued = requeued.map { (codec.requeued($0.job, for: $0.request, run: run, stage: engine.stage), $0.attempts) }
        step.jobs = jobs(fresh, ids: &ids)
        return step
    }

    mutating func completed(_ result: AppliedResult, ids: inout JobID, at: Double) -> DriverStep {
        guard let request = pending.removeValue(forKey: result.job.id) else { return DriverStep() }
        let (reply, note) = codec.reply(result, to: request)
        let noted = note.map { [log.note($0.0, job: result.job.id, $0.1, at: at)] } ?? []
        return advance(request, reply, noted: noted, ids: &ids, at: at)
    }

    mutating func failed(_ job: JobID, reason: String, ids: inout JobID, at: Double) -> DriverStep {
        guard let request = pending.removeValue(forKey: job) else { return DriverStep() }
        let (reply, note) = codec.failure(reason, of: request)
        return advance(request, reply, noted: [log.note(note.0, job: job, note.1, at: at)], ids: &ids, at: at)
    }

    /// After the last round's exports: where they are (or why not) and the summary.
    mutating func exportsWritten(failure: String?, at: Double) -> DriverStep {
        guard let exportDirectory, engine.isFinished, !summaryLogged else { return DriverStep() }
        summaryLogged = true
        var step = DriverStep()
        step.events += log.record(failure == nil ? .exportsWritten : .exportsFailed, failure ?? exportDirectory.path, at: at)
        step.events += log.record(.protocolSummary, RunSummary(engine.summary).json, at: at)
        return step
    }

    private mutating func advance(_ request: Engine.Request, _ reply: Engine.Reply, noted: [EventRecord], ids: inout JobID,
                                  at: Double) -> DriverStep {
        let next = engine.complete(Engine.key(of: request), reply, at: at)
        var step = collect(next, at: at)
        step.events = noted + step.events
        step.jobs = jobs(next.requests, ids: &ids)
        return step
    }

    /// What the engine said, for the store and the log; the exports with a round's line.
    private mutating func collect(_ said: EngineStep<Engine.Request>, at: Double) -> DriverStep {
        var step = DriverStep()
        for event in said.events { step.events += log.record(event.kind, event.detail, at: at) }
        step.memory = said.memory
        guard let line = said.progress else { return step }
        step.progress = line
        if let exportDirectory { step.exports = (exportDirectory, engine.exports()) }
        return step
    }

    private mutating func jobs(_ requests: [Engine.Request], ids: inout JobID) -> [Job] {
        guard !requests.isEmpty else { return [] }
        let stage = engine.stage  // once: a chamber step asks for thousands of turns at a time
        return requests.map { request in
            let id = ids
            ids += 1
            pending[id] = request
            return codec.job(request, id: id, run: run, stage: stage)
        }
    }
}
