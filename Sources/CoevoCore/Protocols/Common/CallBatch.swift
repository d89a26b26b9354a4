/// The calls of one protocol phase, waiting for their replies. The phase is complete when
/// every call has a reply; `replies` hands them over in the order the calls were made,
/// whatever order they arrived in.
struct CallBatch: Sendable {
    private(set) var calls: [AgentCall] = []
    private var replies: [String: AgentReply] = [:]
    private var position: [String: Int] = [:]

    init(_ calls: [AgentCall]) {
        self.calls = calls
        for (i, call) in calls.enumerated() { position[call.key] = i }
    }

    var isComplete: Bool { replies.count == calls.count }

    /// Records a reply; false when the key is not one of this batch's or already answered.
    mutating func record(_ key: String, _ reply: AgentReply) -> Bool {
        guard position[key] != nil, replies[key] == nil else { return false }
        replies[key] = reply
        return true
    }

    /// Calls with their replies, in call order (only meaningful once complete).
    var answered: [(call: AgentCall, reply: AgentReply)] {
        calls.map { ($0, replies[$0.key] ?? .failed("no reply")) }
    }
}
