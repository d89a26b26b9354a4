import CoevoCore
import CoevoWire
import Logging

/// A decision worth telling whoever runs the coordinator, as a fact: the state machine
/// returns these and the shell renders them (`level`, `description`), so tests assert
/// on what was decided, not on its wording.
///
/// `peer` values are routing ids made printable (`CoordinatorStateMachine.printable`):
/// a worker's session, which READY would need to take its place, is never shown.
public indirect enum CoordinatorNotice: Sendable, Equatable, CustomStringConvertible {
    // MARK: Peers
    case badFrameCount(peer: String, frames: Int)
    case undecodable(peer: String, WireDecodingError)
    /// `peer` struck out; `last` is the strike that did it.
    case peerIgnored(peer: String, last: CoordinatorNotice)
    case withdrawnKeySpoke(peer: String, key: CurvePublicKey)
    case unregisteredPeer(peer: String)
    /// A message on `worker`'s route came with another key (or none).
    case routeClaimed(WorkerID, by: CurvePublicKey?)
    case workerDisconnected(WorkerID, reason: String)
    case unexpectedMessage(WorkerID)
    case unusableReady(peer: String)
    /// READY named an id a live worker with another key holds.
    case idHeldByAnotherKey(peer: String, WorkerID)
    /// READY named an id whose (absent) first registrant had another key.
    case idBelongsToAnotherKey(peer: String, WorkerID)
    case duplicateWorker(peer: String, WorkerID)
    case gradesWithheld(WorkerID)
    case workerJoined(WorkerID, WorkerHello)
    case awaitingWorkers(Int)
    case workerRegisteredAgain(WorkerID, slots: UInt32)
    case workerRestarted(WorkerID)
    case workerExpired(WorkerID, silentMilliseconds: Int64)
    case leasesTakenBack(WorkerID, count: Int)
    case keyWithdrawn(WorkerID, CurvePublicKey)
    /// Once per `PeerConduct` window: what went unsaid.
    case conduct(ConductSummary)
    case unroutable(peer: String)
    case transport(TransportEvent)
    case socketError(String)

    // MARK: Jobs and results
    /// A DEFERRED, UNSUPPORTED or TIMED_OUT for a lease that is gone.
    case lateReport(JobOutcome.Status, job: JobID, from: WorkerID)
    case jobDeferred(JobID, by: WorkerID, error: String, run: RunID, pauseMilliseconds: Int64)
    case jobUnsupported(JobID, by: WorkerID, error: String)
    case jobTimedOut(JobID, on: WorkerID, error: String)
    /// A deferral asked for longer than `CoordinatorSettings.longestDeferralMilliseconds`.
    case deferralCapped(WorkerID, askedMilliseconds: UInt64, longestMilliseconds: Int64)
    /// One of a run's first failed results (the rest are counted on the progress line).
    case failedResult(RunID, problem: String)
    case unknownJob(JobID, from: WorkerID)
    case lateResult(JobID, attempt: UInt32, from: WorkerID)
    case jobFailed(JobID, run: RunID, reason: String)

    // MARK: Runs and the coordinator
    case listening(session: String, bind: String)
    case runNotServed(RunID, problem: String)
    /// A run of a registered kind; `replayed` stored jobs (0 for a new run), `toGo` left.
    case serving(description: String, replayed: Int, toGo: Int)
    /// A plain batch.
    case servingBatch(RunID, finished: Int, toGo: Int)
    /// A driver's progress line.
    case runProgress(RunID, String)
    case runFinished(RunID, RunProgress)
    case budgetExhausted(String)
    case budgetSpentStopping
    case storeBehind(backlog: Int)
    case storeCaughtUp(backlog: Int)
    case storeFailed(String)
    case draining(leased: Int)
    case drainTimedOut(leased: Int)
    /// Every run it could serve is finished (`unserved` could not be).
    case allFinished(unserved: [RunID])
    case nothingToServe(unserved: [RunID])

    public var level: Logger.Level {
        switch self {
        case .workerRegisteredAgain, .unroutable: .debug
        case .transport(let event): event.kind == .closed ? .debug : .notice
        case .unregisteredPeer, .workerDisconnected, .gradesWithheld, .workerJoined, .awaitingWorkers, .workerRestarted,
             .leasesTakenBack, .listening, .serving, .servingBatch, .runProgress, .runFinished, .budgetSpentStopping,
             .storeCaughtUp, .draining, .allFinished:
            .info
        case .lateReport, .jobUnsupported, .jobTimedOut, .deferralCapped, .lateResult, .conduct: .notice
        case .badFrameCount, .undecodable, .peerIgnored, .withdrawnKeySpoke, .routeClaimed, .unexpectedMessage, .unusableReady,
             .idHeldByAnotherKey, .idBelongsToAnotherKey, .duplicateWorker, .workerExpired, .keyWithdrawn, .socketError,
             .jobDeferred, .failedResult, .unknownJob, .jobFailed, .budgetExhausted, .storeBehind, .drainTimedOut:
            .warning
        case .runNotServed, .nothingToServe: .error
        case .storeFailed: .critical
        }
    }

    public var description: String {
        switch self {
        case .badFrameCount(let peer, let frames): "peer \(peer) sent \(frames) frames; expected exactly 1 envelope frame"
        case .undecodable(let peer, let error): "peer \(peer): \(error)"
        case .peerIgnored(let peer, let last):
            "ignoring peer \(peer) for \(PeerConduct.ignoreMilliseconds / 1000) s: more than \(PeerConduct.strikesBeforeIgnoring) bad messages "
                + "within \(PeerConduct.windowMilliseconds / 1000) s (last: \(last))"
        case .withdrawnKeySpoke(let peer, let key): "message from withdrawn key \(key) (\(peer)) ignored"
        case .unregisteredPeer(let peer): "message from unregistered peer \(peer); asking it to send READY"
        case .routeClaimed(let worker, let key):
            "a message on worker \(worker)'s route came from key \(key.map { "\($0)" } ?? "none"), not the key it joined with: its route is dropped and its leases requeued"
        case .workerDisconnected(let worker, let reason): "worker \(worker) disconnected: \(reason)"
        case .unexpectedMessage(let worker): "worker \(worker) sent a message a coordinator never accepts"
        case .unusableReady(let peer):
            "peer \(peer) sent an unusable READY (worker_id and session must be non-empty, id at most 255 bytes)"
        case .idHeldByAnotherKey(let peer, let worker): "refused READY from \(peer): worker id '\(worker)' is held by another key"
        case .idBelongsToAnotherKey(let peer, let worker): "refused READY from \(peer): worker id '\(worker)' belongs to another key"
        case .duplicateWorker(let peer, let worker): "refused READY from \(peer): worker id '\(worker)' is in use by a live worker"
        case .gradesWithheld(let worker): "worker \(worker) gets no discovery.grade jobs: its key is not among coordinator.grader_keys"
        case .workerJoined(let worker, let hello):
            "worker \(worker) joined: \(hello.slots) slots, host \(hello.hostname), pid \(hello.pid), kinds \(hello.capabilities.joined(separator: ","))"
        case .awaitingWorkers(let count): "waiting for \(count) more worker(s) before leasing jobs (coordinator.min_workers)"
        case .workerRegisteredAgain(let worker, let slots): "worker \(worker) registered again (slots \(slots))"
        case .workerRestarted(let worker): "worker \(worker) restarted (new session); its previous process's jobs are requeued"
        case .workerExpired(let worker, let silence): "worker \(worker) silent for \(silence) ms: expired"
        case .leasesTakenBack(let worker, let count): "took back \(count) lease(s) from worker \(worker)"
        case .keyWithdrawn(let worker, let key):
            "the key of worker \(worker) (\(key)) was withdrawn from the authorized keys: it is dropped and its leases requeued"
        case .conduct(let summary): summary.description
        case .unroutable(let peer): "message to a departed peer dropped (\(peer))"
        case .transport(let event): event.description
        case .socketError(let line): line
        case .lateReport(let status, let job, let worker):
            "discarded a late \(status.rawValue.uppercased()) for job \(job) from \(worker)"
        case .jobDeferred(let job, let worker, let error, let run, let pause):
            "worker \(worker) deferred job \(job) (\(error)); run \(run) gets no leases for \(pause) ms, other runs go on, nothing is lost"
        case .jobUnsupported(let job, let worker, let error):
            "worker \(worker) cannot run job \(job) (\(error)); it is offered to workers that can"
        case .jobTimedOut(let job, let worker, let error):
            "job \(job) timed out on worker \(worker) (\(error)); it is tried again within its attempts"
        case .deferralCapped(let worker, let asked, let longest):
            "worker \(worker) asked to retry after \(asked) ms; waiting the longest allowed, \(longest) ms"
        case .failedResult(let run, let problem): "run \(run): \(problem) (further failures are counted on the progress line)"
        case .unknownJob(let job, let worker): "worker \(worker) sent a result for unknown job \(job)"
        case .lateResult(let job, let attempt, let worker):
            "discarded late result for job \(job) attempt \(attempt) from \(worker): its lease had expired"
        case .jobFailed(let job, let run, let reason): "job \(job) of run \(run) failed: \(reason)"
        case .listening(let session, let bind): "coordinator \(session) listening on \(bind)"
        case .runNotServed(let run, let problem):
            "run \(run) is not served: its stored config does not load here (\(problem)). It stays unfinished; start the coordinator where the config's files are to resume it"
        case .serving(let description, let replayed, let toGo):
            "serving \(description)" + (replayed == 0 ? "" : "; resumed by replaying \(replayed) stored jobs, \(toGo) to go")
        case .servingBatch(let run, let finished, let toGo): "serving run \(run): \(finished) finished, \(toGo) to go"
        case .runProgress(let run, let line): "\(run) \(line)"
        case .runFinished(let run, let progress): "run \(run) finished: \(progress.completed) succeeded, \(progress.failed) failed"
        case .budgetExhausted(let why): "\(why): no new jobs are dispatched; running ones finish and are kept"
        case .budgetSpentStopping: "budget spent and every running job back: stopping (run the same command with a larger budget to go on)"
        case .storeBehind(let backlog): "the store is \(backlog) writes behind; no new leases until it catches up (a slow disk?)"
        case .storeCaughtUp(let backlog): "the store caught up (\(backlog) writes queued); leasing resumes"
        case .storeFailed(let why):
            "the store cannot be written (\(why)); stopping: nothing more is leased. Fix the database (disk space, permissions) and start again: the run resumes from what was committed"
        case .draining(let leased): "coordinator draining: waiting for \(leased) leased job(s)"
        case .drainTimedOut(let leased): "drain timeout: \(leased) leased job(s) stay queued for the next start"
        case .allFinished(let unserved):
            unserved.isEmpty ? "every run is finished; exiting"
                : "every run it could serve is finished; exiting (not served: \(Self.list(unserved)))"
        case .nothingToServe(let unserved): "nothing left to serve here (not served: \(Self.list(unserved)))"
        }
    }

    private static func list(_ runs: [RunID]) -> String { runs.map(\.rawValue).joined(separator: ", ") }
}

/// What `PeerConduct` counted in one window without a line each.
public struct ConductSummary: Sendable, Equatable, CustomStringConvertible {
    /// Bad messages past the first few per peer.
    public var unreported = 0
    /// Messages dropped unread from ignored peers.
    public var dropped = 0
    /// Late results discarded without an event row each.
    public var unrecordedDiscards = 0
    /// Peers that misbehaved this window, and those ignored now.
    public var offenders = 0
    public var ignored = 0
    /// Failed handshakes past the first few.
    public var unloggedTransportFailures = 0

    public var description: String {
        var said: [String] = []
        if unreported > 0 || dropped > 0 || unrecordedDiscards > 0 {
            said.append("\(unreported) more bad message(s) not logged one by one, \(dropped) dropped unread from ignored peers, "
                + "\(unrecordedDiscards) late results discarded without an event each; \(offenders) peer(s) misbehaved, "
                + "\(ignored) ignored now")
        }
        if unloggedTransportFailures > 0 {
            said.append("\(unloggedTransportFailures) more failed handshakes not logged one by one")
        }
        return "in the last \(PeerConduct.windowMilliseconds / 1000) s: " + said.joined(separator: "; ")
    }
}
