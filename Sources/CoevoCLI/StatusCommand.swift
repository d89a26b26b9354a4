import ArgumentParser
import CoevoWire
import Foundation
import SwiftProtobuf

/// `coevo status`: asks a running coordinator for its state.
public struct StatusCommand: ParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "status",
        abstract: "Show a running coordinator's workers, runs and queue.")

    @Option(name: .long, help: "Coordinator endpoint.")
    var connect: String = "tcp://127.0.0.1:5555"

    @Option(name: .long, help: "How long to wait for an answer, in milliseconds.")
    var timeoutMs: Int = 3000

    @Flag(name: .long, help: "Print the reply as JSON.")
    var json = false

    @OptionGroup var curve: CurveClientOptions

    public init() {}

    public func run() throws {
        let reply = try StatusClient.request(endpoint: connect, timeoutMilliseconds: timeoutMs, curve: try curve.role())
        if json {
            print(try reply.jsonString())
            return
        }
        print("coordinator \(reply.coordinatorSession) at \(connect), up \(String(format: "%.1f", Double(reply.uptimeMs) / 1000)) s")
        print("queue: \(reply.queued) queued, \(reply.leased) leased; results applied \(reply.resultsApplied), durable \(reply.resultsDurable)")
        print("workers: \(reply.workers.count)")
        for worker in reply.workers {
            print("  \(worker.workerID)  slots \(worker.slots)  leased \(worker.leased)")
        }
        print("runs: \(reply.runs.count)")
        for run in reply.runs {
            print("  \(run.runID)  \(run.completed + run.failed)/\(run.total) finished, \(run.failed) failed")
        }
    }
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
