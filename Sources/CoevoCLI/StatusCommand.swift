import ArgumentParser
import CoevoCoordinator
import CoevoCore
import CoevoWire
import Foundation

/// `coevo status`: asks a running coordinator for its state.
public struct StatusCommand: ParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "status",
        abstract: "Show a running coordinator's workers, runs and queue.")

    @Option(name: .long, help: "Coordinator endpoint.")
    var connect: String = "tcp://127.0.0.1:5555"

    @Option(name: .long, help: "How long to wait for an answer, in milliseconds.")
    var timeoutMs: Int = 3000

    @Flag(name: .long, help: "Print the figures as JSON (the dashboard's /api/summary, with the coordinator's session and endpoint).")
    var json = false

    @OptionGroup var curve: CurveClientOptions

    public init() {}

    public func run() throws {
        // A `coevo run` of this user on this machine left its keys where only we can read them.
        let role = try curve.role() ?? LocalWorkerKey.client(for: connect)
        let reply = try StatusClient.request(endpoint: connect, timeoutMilliseconds: timeoutMs, curve: role)
        let summary = LiveSummary(reply)
        if json {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys, .prettyPrinted]
            print(String(decoding: try encoder.encode(StatusJSON(coordinator: connect, session: reply.coordinatorSession, summary: summary)),
                         as: UTF8.self))
            return
        }
        print("coordinator \(reply.coordinatorSession) at \(connect), up \(LiveSummary.duration(summary.uptimeSeconds))")
        for line in summary.lines { print(line) }
        for worker in summary.workers {
            print("  worker \(worker.id): \(worker.leased) of \(worker.slots) slots leased")
        }
    }
}

/// `coevo status --json`: plain JSON numbers and strings, not protobuf's JSON mapping
/// (which writes 64-bit integers as strings).
struct StatusJSON: Encodable {
    var coordinator: String
    var session: String
    var summary: LiveSummary

    func encode(to encoder: any Encoder) throws {
        try summary.encode(to: encoder)
        var container = encoder.container(keyedBy: Key.self)
        try container.encode(coordinator, forKey: .coordinator)
        try container.encode(session, forKey: .session)
    }

    enum Key: String, CodingKey { case coordinator, session }
}

/// One STATUS_REQUEST round trip on a short-lived DEALER socket.
enum StatusClient {
    static func request(endpoint: String, timeoutMilliseconds: Int, curve: CurveRole? = nil) throws -> StatusReplyMessage {
        let socket = try ZMQSocket.dealer(connectingTo: endpoint, options: SocketOptions(lingerMilliseconds: 0, curve: curve))
        defer { socket.close(lingerMilliseconds: 0) }
        _ = socket.send([WireCodec.encode(.statusRequest(StatusRequestMessage()))])
        let deadline = Date(timeIntervalSinceNow: Double(timeoutMilliseconds) / 1000)
        while Date() < deadline {
            let left = Int(deadline.timeIntervalSinceNow * 1000)
            guard let frames = socket.receive(timeoutMilliseconds: max(1, left)) else { continue }
            guard frames.count == 1 else { continue }
            switch try WireCodec.decode(frames[0]) {
            case .statusReply(let reply): return reply
            case .error(let error): throw UserFacingError("coordinator answered \(error.code): \(error.message)")
            default: continue
            }
        }
        throw UserFacingError("no coordinator answered at \(endpoint) within \(timeoutMilliseconds) ms (is it running? is --connect right?"
                              + (curve == nil ? " does it need CURVE: --coordinator-key and --key?)" : " are --coordinator-key and --key the ones it knows?)"))
    }
}
