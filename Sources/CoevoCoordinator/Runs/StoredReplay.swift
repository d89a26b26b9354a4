import CoevoCore
import CoevoStore

/// What an earlier life of a run stored, matched by key to the requests a fresh engine
/// makes again: every driver resumes the same way. The engine is fed each request's
/// stored answer (which takes it to exactly the state the lost engine had), and the
/// requests without one are split into jobs the store already holds (queued again under
/// their ids, with the attempts they had) and new ones.
///
/// Contract: use it during the driver's `start` only, then `finish()` to drop what it held.
struct StoredReplay<Key: Hashable> {
    /// A stored job that finished: with its result, or failed for good (nil result).
    struct Answer {
        var result: AppliedResult?
        /// When the result was applied in that life.
        var completedAt: Double?
    }

    private var stored: [Key: CoevoStore.StoredJob] = [:]

    /// `key` names the request a stored job was made for (nil: not one of this driver's).
    init(_ jobs: [CoevoStore.StoredJob], key: (Job) -> Key?) {
        for entry in jobs {
            if let k = key(entry.job) { stored[k] = entry }
        }
    }

    /// The stored answer for `key`, if its job finished in an earlier life.
    func answered(_ key: Key) -> Answer? {
        guard let entry = stored[key] else { return nil }
        if let outcome = entry.outcome {
            return Answer(result: AppliedResult(job: entry.job, outcome: outcome), completedAt: entry.completedAt)
        }
        return entry.failed ? Answer(result: nil) : nil
    }

    /// Replays a run: from the engine's first requests on, every request with a stored
    /// answer is answered (`answer` feeds it to the engine and returns the requests that
    /// became due); the rest are split as `split` does.
    func resume<Request>(_ first: [Request], key: (Request) -> Key, answer: (Request, Answer) -> [Request])
        -> (requeued: [(job: Job, attempts: UInt32, request: Request)], fresh: [Request]) {
        var queue = first
        var live: [Request] = []
        var cursor = 0
        while cursor < queue.count {
            let request = queue[cursor]
            cursor += 1
            if let answered = answered(key(request)) {
                queue += answer(request, answered)
            } else {
                live.append(request)
            }
        }
        return split(live, key: key)
    }

    /// Splits requests still to answer into stored jobs to queue again and new requests.
    func split<Request>(_ live: [Request], key: (Request) -> Key)
        -> (requeued: [(job: Job, attempts: UInt32, request: Request)], fresh: [Request]) {
        var requeued: [(job: Job, attempts: UInt32, request: Request)] = []
        var fresh: [Request] = []
        for request in live {
            if let entry = stored[key(request)] {
                requeued.append((entry.job, entry.attempts, request))
            } else {
                fresh.append(request)
            }
        }
        return (requeued, fresh)
    }

    mutating func finish() { stored = [:] }
}
