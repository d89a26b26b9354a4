import CoevoCore
import CoevoStore
import CoevoWire
import Foundation

/// Runs the chamber protocol over workers: each agent turn the `ChamberEngine` asks for
/// becomes a `sim.turn` job, each result goes back into the engine. A turn whose job fails
/// or whose output cannot be read counts as an empty answer (wrong, and logged), so a bad
/// worker costs accuracy, never the step.
struct ChamberDriver: RunDriver {
    private var engine: ChamberEngine
    private let run: RunID
    private let timeoutMilliseconds: Int64
    private var pending: [JobID: TurnRequest] = [:]
    private var events: [EventRecord] = []
    private var eventsSeen = 0
    private var reportsSeen = 0
    private var progressLine: String?

    init(settings: ChamberSettings, run: RunID, timeoutMilliseconds: Int64) {
        engine = ChamberEngine(settings: settings)
        self.run = run
        self.timeoutMilliseconds = timeoutMilliseconds
    }

    var isFinished: Bool { engine.isFinished && pending.isEmpty }

    mutating func start(ids: inout JobID) -> [Job] {
        engine.isFinished ? [] : jobs(engine.beginStep(), ids: &ids)
    }

    mutating func completed(_ lease: Lease, outcome: JobOutcome, ids: inout JobID) -> [Job] {
        guard let request = pending.removeValue(forKey: lease.job.id) else { return [] }
        var result = TurnResult(text: "", tokens: 0)
        if outcome.status != .succeeded {
            note("turn_failed", job: lease.job.id, "\(request.action.rawValue) by agent a\(request.agent): \(outcome.status.rawValue) \(outcome.error)")
        } else {
            do {
                result = try SimTurnCodec.decodeResult(outcome.output)
            } catch {
                note("turn_unreadable", job: lease.job.id, "\(error)")
            }
        }
        return advance(request, result, ids: &ids)
    }

    mutating func failed(_ job: JobID, reason: String, ids: inout JobID) -> [Job] {
        guard let request = pending.removeValue(forKey: job) else { return [] }
        note("turn_failed", job: job, "\(request.action.rawValue) by agent a\(request.agent): \(reason)")
        return advance(request, TurnResult(text: "", tokens: 0), ids: &ids)
    }

    mutating func takeEvents() -> [EventRecord] {
        defer { events.removeAll() }
        return events
    }

    mutating func takeProgressLine() -> String? {
        defer { progressLine = nil }
        return progressLine
    }

    private mutating func advance(_ request: TurnRequest, _ result: TurnResult, ids: inout JobID) -> [Job] {
        var next = engine.complete(request, result)
        collect()
        if !engine.isStepOpen && !engine.isFinished { next += engine.beginStep() }
        return jobs(next, ids: &ids)
    }

    /// Moves new engine events and step reports into the event log.
    private mutating func collect() {
        let now = Date().timeIntervalSince1970
        for event in engine.events.dropFirst(eventsSeen) {
            events.append(EventRecord(at: now, run: run.rawValue, kind: "chamber_\(event.kind)", detail: "step \(event.step): \(event.detail)"))
        }
        eventsSeen = engine.events.count
        for report in engine.reports.dropFirst(reportsSeen) {
            let json = (try? JSONEncoder().encode(report)).map { String(decoding: $0, as: UTF8.self) } ?? ""
            events.append(EventRecord(at: now, run: run.rawValue, kind: "chamber_step", detail: json))
            progressLine = String(format: "step %d/%d: accuracy %.3f, population %d, insights routed %d, specialists %d, %d agent turns",
                                  report.step, engine.settings.steps, report.accuracy, report.population,
                                  report.insightsRouted, report.specialists, report.agentTurns)
        }
        reportsSeen = engine.reports.count
    }

    private mutating func jobs(_ requests: [TurnRequest], ids: inout JobID) -> [Job] {
        requests.map { request in
            let id = ids
            ids += 1
            pending[id] = request
            return Job(id: id, run: run, kind: SimTurnCodec.kind,
                       payload: SimTurnCodec.encode(request, parameters: engine.settings.simulator),
                       timeoutMilliseconds: timeoutMilliseconds)
        }
    }

    private mutating func note(_ kind: String, job: JobID, _ detail: String) {
        events.append(EventRecord(at: Date().timeIntervalSince1970, run: run.rawValue, kind: kind, job: job, detail: detail))
    }
}
