import CoevoCore
import Foundation

/// How peers behave, judged so that no peer can drown the others: each bad message (a
/// malformed frame, a message from a peer that never registered, a result for a job that
/// does not exist, a message on a route its key does not hold) is a strike; the first few
/// are answered and logged, the rest only counted, and a peer past the limit within a
/// window is ignored for a while. What was not logged is summed up once per window, so a
/// flood costs a counter per frame, not a log line, a reply and an event row.
///
/// Pure and bounded: at most `trackedPeersLimit` peers are tracked; past that, new
/// offenders are counted but not told apart.
struct PeerConduct {
    /// Bad messages a peer may send in one window before it is ignored.
    static let strikesBeforeIgnoring = 64
    /// Bad messages per peer and window that are answered and logged; the rest are counted.
    static let reportedStrikes = 8
    static let ignoreMilliseconds: Int64 = 60_000
    static let windowMilliseconds: Int64 = 10_000
    static let trackedPeersLimit = 4096

    enum Verdict: Equatable {
        /// Answer the peer and log the problem.
        case report
        /// Count it only.
        case quiet
        /// This strike was one too many: say once that the peer is now ignored.
        case nowIgnored
    }

    private var strikes: [Data: Int] = [:]
    private var ignoredUntil: [Data: MonotonicTime] = [:]
    private var windowStart = MonotonicTime.zero
    /// Since the last summary: bad messages not logged, and messages dropped unread.
    private var unreported = 0
    private var dropped = 0
    private var offenders: Set<Data> = []
    /// Discarded (late) results per peer this window, and those not written down one by one.
    private var discards: [Data: Int] = [:]
    private var unrecordedDiscards = 0
    /// Connections that failed their handshake this window (no peer to tell them apart:
    /// a handshake fails before there is one), and those not logged one by one.
    private var transportFailures = 0
    private var unloggedTransportFailures = 0

    /// Whether messages from `routing` are dropped unread now; counts the drop when so.
    mutating func ignores(_ routing: Data, now: MonotonicTime) -> Bool {
        guard let until = ignoredUntil[routing] else { return false }
        if now >= until {
            ignoredUntil[routing] = nil
            return false
        }
        dropped += 1
        return true
    }

    /// One bad message from `routing`.
    mutating func strike(_ routing: Data, now: MonotonicTime) -> Verdict {
        if offenders.count < Self.trackedPeersLimit { offenders.insert(routing) }
        guard let count = Self.tally(&strikes, routing) else {
            unreported += 1
            return .quiet
        }
        if count <= Self.reportedStrikes { return .report }
        if count > Self.strikesBeforeIgnoring, ignoredUntil.count < Self.trackedPeersLimit {
            strikes[routing] = nil
            ignoredUntil[routing] = now + Self.ignoreMilliseconds
            return .nowIgnored
        }
        unreported += 1
        return .quiet
    }

    /// A result from `routing` was discarded (late, or for another attempt): true when it
    /// is to be logged and recorded as an event, false when only counted. Late results
    /// are normal after a lease expiry, so they are no strike; but a worker sending
    /// thousands, forged or not, costs a counter each, not an event row.
    mutating func discarded(_ routing: Data) -> Bool {
        guard let count = Self.tally(&discards, routing), count <= Self.reportedStrikes else {
            unrecordedDiscards += 1
            return false
        }
        return true
    }

    /// A connection failed its handshake (garbage, another protocol, a CURVE key not
    /// authorized): true when it is to be logged, false when only counted. A flood of
    /// strangers' handshakes costs a counter each, not a log line each.
    mutating func transportFailed() -> Bool {
        transportFailures += 1
        guard transportFailures <= Self.reportedStrikes else {
            unloggedTransportFailures += 1
            return false
        }
        return true
    }

    /// Counts one for `routing` in a per-window tally of at most `trackedPeersLimit`
    /// peers: the new count, or nil when the tally is full and `routing` is not in it.
    private static func tally(_ counts: inout [Data: Int], _ routing: Data) -> Int? {
        guard counts[routing] != nil || counts.count < trackedPeersLimit else { return nil }
        counts[routing, default: 0] += 1
        return counts[routing]
    }

    /// Once per window: what went unsaid, or nil when nothing did. Starts a new window
    /// (strikes are counted per window) and forgets ignores that have run out.
    mutating func summary(now: MonotonicTime) -> ConductSummary? {
        guard now - windowStart >= Self.windowMilliseconds else { return nil }
        windowStart = now
        strikes.removeAll(keepingCapacity: true)
        discards.removeAll(keepingCapacity: true)
        ignoredUntil = ignoredUntil.filter { $0.value > now }
        defer {
            unreported = 0; dropped = 0; unrecordedDiscards = 0; transportFailures = 0; unloggedTransportFailures = 0
            offenders.removeAll(keepingCapacity: true)
        }
        guard unreported > 0 || dropped > 0 || unrecordedDiscards > 0 || unloggedTransportFailures > 0 else { return nil }
        return ConductSummary(unreported: unreported, dropped: dropped, unrecordedDiscards: unrecordedDiscards,
                              offenders: offenders.count, ignored: ignoredUntil.count,
                              unloggedTransportFailures: unloggedTransportFailures)
    }
}
