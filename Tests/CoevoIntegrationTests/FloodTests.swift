import CoevoCore
import CoevoWire
import Foundation
import Testing

/// A live coordinator under a flood of bad frames while a real worker runs its jobs.
/// Bad input tried, from four connections at once: random bytes, truncated envelopes,
/// envelopes of another protocol version, messages of several frames, frames over
/// `max_message_bytes` (each closes its connection, which reconnects), and results for
/// jobs from a peer that never registered.
extension ProcessTests {
@Suite struct FloodTests {
    static let floodFrames = 1_000_000
    static let senders = 4

    /// One sender's share of the flood, as fast as its socket takes it. Returns how many
    /// messages it sent.
    static func flood(_ endpoint: String, seed: UInt64, count: Int) throws -> Int {
        let socket = try ZMQSocket.dealer(connectingTo: endpoint, options: SocketOptions(sendHighWaterMark: 10_000, lingerMilliseconds: 0))
        var rng = SeededGenerator(seed: seed)
        var heartbeat = WireCodec.encode(.heartbeat(HeartbeatMessage()))
        var forged = ResultBatchMessage()
        forged.results = [ResultMessage(job: 1, attempt: 1, outcome: JobOutcome(status: .succeeded))]
        let forgedResult = WireCodec.encode(.results(forged))
        // Field 1 (protocol_version) is the first varint of every envelope we write.
        precondition(heartbeat.count > 2 && heartbeat[0] == 0x08)
        heartbeat[1] = 99
        let oversize = Data(repeating: 0x41, count: 70_000)
        for i in 0..<count {
            let frames: [Data]
            switch i % 6 {
            case 0: frames = [Data((0..<Int(rng.next() % 200 + 1)).map { _ in UInt8(truncatingIfNeeded: rng.next()) })]
            case 1: frames = [forgedResult.prefix(Int(rng.next() % UInt64(forgedResult.count)))]
            case 2: frames = [heartbeat]
            case 3: frames = [forgedResult, forgedResult]
            case 4: frames = [forgedResult]
            default: frames = i % 60_000 == 5 ? [oversize] : [Data([UInt8(truncatingIfNeeded: i)])]
            }
            while socket.send(frames) == .wouldBlock { usleep(200) }
        }
        socket.close(lingerMilliseconds: 0)
        return count
    }

    @Test func aMillionBadFramesNeitherCrashNorStallTheCoordinator() async throws {
        let scratch = try Scratch("flood")
        defer { scratch.close() }
        let run = TestRun(scratch: scratch)
        let config = try run.config(kind: "sleep", jobs: 4000, sleepMs: 20, extra: "  max_message_bytes: 65536", workers: 0, slots: 8)
        let coordinator = try run.coordinator(config: config)
        _ = try run.worker("real", slots: 8)
        #expect(await eventually(timeout: 30) { Database.resultCount(run.database) > 50 }, "\(scratch.logs)")
        let baseline = Self.peakRSS(coordinator.pid)

        let before = Database.resultCount(run.database)
        let started = Date()
        let endpoint = run.endpoint
        let sent = try await withThrowingTaskGroup(of: Int.self) { group in
            for sender in 0..<Self.senders {
                group.addTask { try Self.flood(endpoint, seed: UInt64(sender + 1), count: Self.floodFrames / Self.senders) }
            }
            return try await group.reduce(0, +)
        }
        let seconds = Date().timeIntervalSince(started)
        let during = Database.resultCount(run.database) - before
        let peak = Self.peakRSS(coordinator.pid)
        print("flood: \(sent) bad frames in \(String(format: "%.1f", seconds)) s; \(during) real results applied meanwhile; coordinator peak RSS \(baseline / 1024) MiB before, \(peak / 1024) MiB after")

        #expect(sent == Self.floodFrames)
        #expect(coordinator.isRunning, "the coordinator survived\n\(coordinator.log.suffix(3000))")
        // 8 slots of 20 ms jobs make about 400 results a second when nothing is in the way.
        #expect(Double(during) >= seconds * 40, "\(during) results in \(seconds) s of flood: the real worker was starved")
        // The flood waits in libzmq's bounded queues, not in the coordinator's memory: a
        // million frames held in memory would take hundreds of MiB.
        #expect(peak - baseline < 100 * 1024, "peak RSS grew by \((peak - baseline) / 1024) MiB")
        #expect(await coordinator.waitForExit(timeout: 120) == 0, "\(coordinator.log.suffix(3000))")
        let db = try Database(run.database)
        #expect(try db.int("SELECT COUNT(*) FROM results") == 4000)
        #expect(try db.int("SELECT COUNT(DISTINCT worker) FROM results") == 1)
        let lines = coordinator.log.split(separator: "\n").count
        #expect(lines < 2000, "bad frames are counted, not logged one by one: \(lines) log lines")
        #expect(try db.int("SELECT COUNT(*) FROM events") < 2000, "nor an event row each")
    }

    /// A flood of CURVE handshakes from keys the coordinator does not know, as fast as a
    /// client on the same machine can make them (pyzmq, each refusal redialled at once),
    /// while an authorized worker runs short jobs. Its results/s before and during are
    /// printed; the worker must never be dropped nor go 5 s without a result, and the log
    /// must not grow by a line a handshake.
    @Test func aHandshakeFloodNeitherDropsNorStallsAnAuthorizedWorker() async throws {
        let scratch = try Scratch("handshakes")
        defer { scratch.close() }
        let run = TestRun(scratch: scratch)
        let curve = try await CurveRunTests.CurveSetup(run, workers: ["w1"])
        let coordinator = try run.coordinator(config: try curve.config(jobs: 50_000_000, sleepMs: 0, slots: 8))
        _ = try curve.worker(id: "w1", key: "w1", slots: 8)
        #expect(await eventually(timeout: 30) { Database.resultCount(run.database) > 1000 }, "\(scratch.logs)")
        let flooder = try scratch.write("flood.py", Self.handshakeFlooder)

        func rate(over seconds: Double) async throws -> Double {
            let start = Database.resultCount(run.database)
            try await Task.sleep(for: .seconds(seconds))
            return Double(Database.resultCount(run.database) - start) / seconds
        }
        let before = try await rate(over: 5)
        let logBefore = coordinator.log.utf8.count
        let flood = try Child("/usr/bin/env", ["python3", flooder, run.endpoint, "\(curve.keys)/coordinator.pub", "\(Self.handshakes)"],
                              in: scratch, name: "flood")
        let started = Date()
        var counts = [Database.resultCount(run.database)]
        while flood.isRunning && Date().timeIntervalSince(started) < 400 {
            try await Task.sleep(for: .seconds(1))
            counts.append(Database.resultCount(run.database))
        }
        let seconds = Date().timeIntervalSince(started)
        let during = Double(counts.last! - counts.first!) / seconds
        let logGrowth = coordinator.log.utf8.count - logBefore
        // The longest stretch of whole seconds in which no result was stored.
        var stall = 0, longest = 0
        for (a, b) in zip(counts, counts.dropFirst()) { stall = b == a ? stall + 1 : 0; longest = max(longest, stall) }
        print(String(format: "handshake flood: %@ in %.0f s; w1 %.0f results/s before, %.0f during (%.0f%%); longest stall %d s; log +%d bytes",
                     flood.log.split(separator: "\n").last.map(String.init) ?? "?", seconds, before, during, 100 * during / before, longest, logGrowth))

        #expect(await flood.waitForExit(timeout: 5) == 0, "\(flood.log.suffix(500))")
        // Refusals still in flight when it reached the target are counted too: at least the target.
        let refused = Int(flood.log.firstMatch(of: /done: ([0-9]+) refused/)?.1 ?? "") ?? 0
        #expect(refused >= Self.handshakes, "\(flood.log.suffix(500))")
        #expect(longest < 5, "w1 stored nothing for \(longest) s during the flood")
        #expect(logGrowth < 100_000, "the log grew \(logGrowth) bytes for \(Self.handshakes) handshakes")
        coordinator.signal(SIGTERM)
        #expect(await coordinator.waitForExit(timeout: 60) != nil)
        let db = try Database(run.database)
        let dropped = try db.strings("SELECT kind || ' ' || detail FROM events WHERE worker = 'w1' AND kind IN ('worker_expired', 'worker_left', 'worker_replaced', 'lease_lost')")
        #expect(dropped.isEmpty, "\(dropped)")
        #expect(try db.strings("SELECT DISTINCT worker FROM results") == ["w1"])
    }

    static let handshakes = 100_000

    /// Dials a CURVE server from 64 sockets with keys of their own, redialling each as
    /// soon as its handshake is refused; prints a count a second and exits at the target.
    static let handshakeFlooder = """
        import sys, time, zmq
        endpoint, target = sys.argv[1], int(sys.argv[3])
        server = open(sys.argv[2]).read().strip().encode()
        ctx = zmq.Context()
        poller, sockets = zmq.Poller(), {}
        failed = zmq.EVENT_HANDSHAKE_FAILED_AUTH | zmq.EVENT_HANDSHAKE_FAILED_NO_DETAIL | zmq.EVENT_HANDSHAKE_FAILED_PROTOCOL
        for _ in range(64):
            s = ctx.socket(zmq.DEALER)
            s.curve_serverkey = server
            s.curve_publickey, s.curve_secretkey = zmq.curve_keypair()
            s.linger = 0
            monitor = s.get_monitor_socket(failed)
            poller.register(monitor, zmq.POLLIN)
            sockets[monitor] = s
            s.connect(endpoint)
        refused, started, said = 0, time.time(), time.time()
        while refused < target:
            for monitor, _ in poller.poll(200):
                while True:
                    try:
                        monitor.recv_multipart(zmq.NOBLOCK)
                    except zmq.Again:
                        break
                    refused += 1
                    # libzmq does not dial again after a refusal: the attacker does.
                    sockets[monitor].disconnect(endpoint)
                    sockets[monitor].connect(endpoint)
            if time.time() - said >= 1:
                said = time.time()
                print(f"{refused} handshakes in {said - started:.0f} s", flush=True)
        print(f"done: {refused} refused", flush=True)
        """

    /// The coordinator's peak resident set (VmHWM), in KiB.
    static func peakRSS(_ pid: Int32) -> Int {
        guard let status = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8),
              let line = status.split(separator: "\n").first(where: { $0.hasPrefix("VmHWM:") }) else { return 0 }
        return Int(line.split(whereSeparator: \.isWhitespace)[1]) ?? 0
    }
}
}

