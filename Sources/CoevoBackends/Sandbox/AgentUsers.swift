import Foundation
import Synchronization

/// Which user id each agent has on this worker: the next free one of the range the first
/// time an agent of a run steps here, the same one ever after. The table is kept in the
/// worker's workspace root (the worker's own file), so a restarted worker gives an agent
/// back the files its earlier steps left in its home.
public final class AgentUsers: Sendable {
    private let file: URL
    private let range: UserRange
    private let table: Mutex<UserTable>

    public init(root: URL, range: UserRange) {
        file = root.appendingPathComponent("agent-users.json")
        self.range = range
        let stored = (try? Data(contentsOf: file)).flatMap { try? JSONDecoder().decode([String: UInt32].self, from: $0) } ?? [:]
        table = Mutex(UserTable(range: range, assigned: stored))
    }

    /// The user id of `agent` of `run`, assigned now if it has none.
    public func user(run: String, agent: String) throws -> UInt32 {
        try table.withLock { table in
            let (uid, added) = try table.user(for: "\(run)/\(agent)")
            if added {
                try FileManager.default.createDirectory(at: file.deletingLastPathComponent(), withIntermediateDirectories: true)
                try JSONEncoder().encode(table.assigned).write(to: file, options: .atomic)
            }
            return uid
        }
    }
}

/// The assignment itself: agent key -> user id, handed out in order from the range.
struct UserTable: Sendable {
    let range: UserRange
    private(set) var assigned: [String: UInt32]

    init(range: UserRange, assigned: [String: UInt32]) {
        self.range = range
        self.assigned = assigned.filter { $0.value >= range.agent(0) && $0.value < range.first + range.count }
    }

    struct Exhausted: Error, CustomStringConvertible {
        let capacity: Int
        var description: String { "every one of the \(capacity) agent user ids of --uid-range is taken; give the worker a wider range" }
    }

    /// The key's user id, and whether it was assigned by this call.
    mutating func user(for key: String) throws -> (UInt32, Bool) {
        if let uid = assigned[key] { return (uid, false) }
        let used = Set(assigned.values)
        guard let index = (0..<range.agentCapacity).first(where: { !used.contains(range.agent($0)) }) else {
            throw Exhausted(capacity: range.agentCapacity)
        }
        assigned[key] = range.agent(index)
        return (range.agent(index), true)
    }
}
