import Foundation
import Testing

/// Network namespaces the test makes: one host per process, joined by veth pairs to a
/// bridge in a hub namespace of its own, so the machine's own network is untouched.
/// Needs root (CI runs as root); removed whatever happens.
final class NetnsLab: @unchecked Sendable {
    let tag = String(UInt32.random(in: 0 ... .max), radix: 36)
    private(set) var namespaces: [String] = []
    var hub: String { "cv\(tag)-hub" }

    static var available: Bool {
        guard getuid() == 0, FileManager.default.isExecutableFile(atPath: "/usr/sbin/ip") else { return false }
        let probe = "cvprobe\(getpid())"
        defer { _ = try? run(["netns", "del", probe]) }
        return (try? run(["netns", "add", probe])) != nil
    }

    @discardableResult
    static func run(_ arguments: [String]) throws -> String {
        let ip = Process()
        ip.executableURL = URL(fileURLWithPath: "/usr/sbin/ip")
        ip.arguments = arguments
        let out = Pipe()
        ip.standardOutput = out
        ip.standardError = out
        try ip.run()
        ip.waitUntilExit()
        let text = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        guard ip.terminationStatus == 0 else { throw HarnessError("ip \(arguments.joined(separator: " ")): \(text)") }
        return text
    }

    init() throws {
        try add(hub)
        try Self.run(["-n", hub, "link", "add", "br0", "type", "bridge"])
        try Self.run(["-n", hub, "link", "set", "br0", "up"])
    }

    private func add(_ namespace: String) throws {
        try Self.run(["netns", "add", namespace])
        namespaces.append(namespace)
        try Self.run(["-n", namespace, "link", "set", "lo", "up"])
    }

    /// A host on the bridge at 10.77.0.`host`; returns its namespace.
    func host(_ name: String, address host: Int) throws -> String {
        let namespace = "cv\(tag)-\(name)"
        try add(namespace)
        let inside = "veth\(host)", outside = "hub\(host)"
        try Self.run(["link", "add", inside, "netns", namespace, "type", "veth", "peer", "name", outside, "netns", hub])
        try Self.run(["-n", namespace, "addr", "add", "10.77.0.\(host)/24", "dev", inside])
        try Self.run(["-n", namespace, "link", "set", inside, "up"])
        try Self.run(["-n", hub, "link", "set", outside, "master", "br0"])
        try Self.run(["-n", hub, "link", "set", outside, "up"])
        return namespace
    }

    /// Cuts (or restores) host `host`'s cable at the bridge: its packets go nowhere.
    func cable(of host: Int, up: Bool) throws {
        try Self.run(["-n", hub, "link", "set", "hub\(host)", up ? "up" : "down"])
    }

    func wrapper(_ namespace: String) -> [String] { ["/usr/sbin/ip", "netns", "exec", namespace] }

    /// Joins only the namespace's network: `ip netns exec` also mounts a /sys of its own,
    /// which hides the cgroup mounts a worker holds steps with.
    func network(_ namespace: String) -> [String] { ["/usr/bin/nsenter", "--net=/run/netns/\(namespace)", "--"] }

    func close() {
        for namespace in namespaces.reversed() { _ = try? Self.run(["netns", "del", namespace]) }
    }
}

/// The coordinator and three workers each on a host of its own, over CURVE, as on a
/// cluster. Fault tried: one worker's link cut for 10 s mid-run and restored.
extension ProcessTests {
@Suite(.enabled(if: NetnsLab.available, "needs root and ip netns"))
struct NetworkPartitionTests {
    @Test func aWorkerCutOffForTenSecondsLosesNothingAndAppliesNothingTwice() async throws {
        let scratch = try Scratch("netns")
        let lab = try NetnsLab()
        defer { scratch.close(); lab.close() }
        let keys = scratch.url("keys").path
        try await CurveRunTests.keys("coordinator", dir: keys, in: scratch)
        for id in ["w1", "w2", "w3"] { try await CurveRunTests.keys(id, dir: keys + "/workers", in: scratch) }

        let coordinatorHost = try lab.host("coord", address: 1)
        let endpoint = "tcp://10.77.0.1:5555"
        let database = scratch.url("run.sqlite").path
        let config = try scratch.write("netns.yaml", """
            run: {name: netns-it, seed: 5}
            coordinator: {bind: "\(endpoint)", database: \(database), min_workers: 3,
                          curve_key: \(keys)/coordinator.key, authorized_keys: \(keys)/workers}
            workload: {kind: sleep, jobs: 3000, sleep_ms: 50, payload_bytes: 16}
            """)
        let coordinator = try Child("coevo-coordinator", ["--config", config, "--exit-when-done"], in: scratch,
                                    name: "coordinator", wrapper: lab.wrapper(coordinatorHost))
        for (index, id) in ["w1", "w2", "w3"].enumerated() {
            let host = try lab.host(id, address: 11 + index)
            _ = try Child("coevo-worker", ["--connect", endpoint, "--id", id, "--slots", "4",
                                           "--coordinator-key", "\(keys)/coordinator.pub", "--key", "\(keys)/workers/\(id).key"],
                          in: scratch, name: id, wrapper: lab.wrapper(host))
        }
        #expect(await eventually(timeout: 30) { Database.resultCount(database) >= 200 }, "\(scratch.logs)")

        try lab.cable(of: 11, up: false)
        let cut = Date()
        #expect(await eventually(timeout: 15) { coordinator.log.contains("worker w1 silent") }, "w1's silence is noticed")
        let duringCut = Database.resultCount(database)
        try await Task.sleep(for: .seconds(max(0, 10 - Date().timeIntervalSince(cut))))
        #expect(Database.resultCount(database) > duringCut, "the other workers go on while w1 is away")
        try lab.cable(of: 11, up: true)
        let restored = Date().timeIntervalSince1970

        #expect(await coordinator.waitForExit(timeout: 120) == 0, "\(scratch.logs)")
        let db = try Database(database)
        #expect(try db.int("SELECT COUNT(*) FROM results") == 3000)
        #expect(try db.int("SELECT COUNT(DISTINCT job_id) FROM results") == 3000, "nothing applied twice")
        #expect(try db.int("SELECT COUNT(*) FROM events WHERE kind = 'lease_lost' AND worker = 'w1'") > 0, "w1's leases were taken back")
        #expect(try db.int("SELECT COUNT(*) FROM events WHERE kind = 'worker_joined' AND worker = 'w1'") == 2, "w1 rejoined")
        #expect(try db.int("SELECT COUNT(*) FROM results WHERE worker = 'w1' AND completed_at > \(restored)") > 0,
                "w1 ran jobs again after its link came back")
    }
}
}
