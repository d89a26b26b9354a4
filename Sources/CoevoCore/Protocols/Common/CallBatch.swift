/// The calls of one protocol phase, waiting for their replies. The phase is complete when
/// every call has a reply; `takeReadyInOrder` and `answered` hand them over in the order the calls were made,
/// whatever order they arrived in. A batch can grow while it is answered, and be read as
/// it goes: `takeReadyInOrder` hands over each reply once every earlier call has one.
struct CallBatch: Sendable {
    private(set) var calls: [AgentCall] = []
    private var replies: [String: AgentReply] = [:]
    private var position: [String: Int] = [:]
    /// Calls before this one have been handed over by `takeReadyInOrder`.
    private var read = 0

    init(_ calls: [AgentCall]) {
        append(calls)
    }

    mutating func append(_ more: [AgentCall]) {
        for call in more {
            position[call.key] = calls.count
            calls.append(call)
        }
    }

    var isComplete: Bool { replies.count == calls.count }
    /// Every call answered and handed over by `takeReadyInOrder`.
    var isRead: Bool { read == calls.count }

    /// Records a reply; false when the key is not one of this batch's or already answered.
    mutating func record(_ key: String, _ reply: AgentReply) -> Bool {
        guard position[key] != nil, replies[key] == nil else { return false }
        replies[key] = reply
        return true
    }

    /// The calls not handed over yet whose replies, and every earlier call's, are in: the
    /// batch read in call order as far as it can be.
    mutating func takeReadyInOrder() -> [(call: AgentCall, reply: AgentReply)] {
        var ready: [(call: AgentCall, reply: AgentReply)] = []
        while read < calls.count, let reply = replies[calls[read].key] {
            ready.append((calls[read], reply))
            read += 1
        }
        return ready
    }

    /// Calls with their replies, in call order (only meaningful once complete).
    var answered: [(call: AgentCall, reply: AgentReply)] {
        calls.map { ($0, replies[$0.key] ?? .failed("no reply")) }
    }
}
