import CoevoWire
import Foundation
import Testing

/// A coordinator with CURVE, as a cluster runs it: keys made with `coevo keys generate`.
/// Bad input tried: a worker whose key is not authorized, a worker that pins another
/// coordinator's key, `coevo status` with no key and with a stranger's key, a
/// non-loopback bind without CURVE, curve_key without authorized_keys, a second key
/// claiming a live worker's id, a key withdrawn while its worker is connected.
extension ProcessTests {
@Suite struct CurveRunTests {
    static func keys(_ name: String, dir: String, in scratch: Scratch) async throws {
        let child = try Child("coevo", ["keys", "generate", name, "--dir", dir], in: scratch, name: "keys-\(name)")
        #expect(await child.waitForExit(timeout: 20) == 0, "\(child.log)")
    }

    /// A CURVE setup in a scratch directory: the coordinator's key pair and one key pair
    /// per named worker, authorized (`keys/workers`).
    struct CurveSetup {
        let run: TestRun
        let keys: String

        init(_ run: TestRun, workers: [String]) async throws {
            self.run = run
            keys = run.scratch.url("keys").path
            try await CurveRunTests.keys("coordinator", dir: keys, in: run.scratch)
            for name in workers { try await CurveRunTests.keys(name, dir: keys + "/workers", in: run.scratch) }
        }

        func config(jobs: Int, sleepMs: Int, slots: Int) throws -> String {
            try run.config(kind: "sleep", jobs: jobs, sleepMs: sleepMs, extra: """
                  curve_key: \(keys)/coordinator.key
                  authorized_keys: \(keys)/workers
                """, workers: 0, slots: slots)
        }

        /// A worker under `id` holding `key`'s pair; its log is named after the key.
        func worker(id: String, key: String, slots: Int) throws -> Child {
            try Child("coevo-worker", ["--connect", run.endpoint, "--id", id, "--slots", "\(slots)",
                                       "--coordinator-key", "\(keys)/coordinator.pub", "--key", "\(keys)/workers/\(key).key"],
                      in: run.scratch, name: key)
        }
    }

    @Test func onlyAuthorizedKeysGetInAndAddedKeysNeedNoRestart() async throws {
        let scratch = try Scratch("curve")
        defer { scratch.close() }
        let run = TestRun(scratch: scratch)
        let keys = scratch.url("keys").path
        try await Self.keys("coordinator", dir: keys, in: scratch)
        try await Self.keys("late", dir: keys + "/pending", in: scratch)
        try await Self.keys("stranger", dir: keys + "/strangers", in: scratch)
        try FileManager.default.createDirectory(atPath: keys + "/workers", withIntermediateDirectories: true)
        let config = try run.config(kind: "sleep", jobs: 300, sleepMs: 5, extra: """
              curve_key: \(keys)/coordinator.key
              authorized_keys: \(keys)/workers
            """, workers: 0)
        let coordinator = try run.coordinator(config: config)
        #expect(await eventually(timeout: 20) { coordinator.log.contains("CURVE on") }, "\(coordinator.log)")

        func status(_ name: String, _ key: String?) throws -> Child {
            let curve = key.map { ["--coordinator-key", "\(keys)/coordinator.pub", "--key", $0] } ?? []
            return try Child("coevo", ["status", "--connect", run.endpoint, "--timeout-ms", "1500"] + curve, in: scratch, name: name)
        }
        let anonymous = try status("status-anonymous", nil)
        #expect(await anonymous.waitForExit(timeout: 15) == 1, "a client without CURVE gets no answer")
        let stranger = try status("status-stranger", "\(keys)/strangers/stranger.key")
        #expect(await stranger.waitForExit(timeout: 15) == 1, "nor does one whose key is not authorized")

        // A stranger's worker, and a worker pinning another coordinator, never join.
        _ = try Child("coevo-worker", ["--connect", run.endpoint, "--id", "stranger", "--coordinator-key", "\(keys)/coordinator.pub",
                                       "--key", "\(keys)/strangers/stranger.key"], in: scratch, name: "stranger")
        _ = try Child("coevo-worker", ["--connect", run.endpoint, "--id", "misled", "--coordinator-key", "\(keys)/strangers/stranger.pub",
                                       "--key", "\(keys)/pending/late.key"], in: scratch, name: "misled")
        #expect(await eventually(timeout: 20) { coordinator.log.contains("refused CURVE client") }, "\(coordinator.log)")
        try await Task.sleep(for: .seconds(2))
        #expect(Database.resultCount(run.database) == 0 && !coordinator.log.contains("joined"))

        // The late worker's key is added while the coordinator runs: no restart needed.
        try FileManager.default.copyItem(atPath: "\(keys)/pending/late.pub", toPath: "\(keys)/workers/late.pub")
        let known = try status("status-late", "\(keys)/pending/late.key")
        #expect(await known.waitForExit(timeout: 15) == 0, "\(known.log)")
        #expect(known.log.components(separatedBy: "\nrun ").count == 2 && known.log.contains("0 worker(s)"), "\(known.log)\n\(coordinator.log)")
        _ = try Child("coevo-worker", ["--connect", run.endpoint, "--id", "late", "--coordinator-key", "\(keys)/coordinator.pub",
                                       "--key", "\(keys)/pending/late.key"], in: scratch, name: "late")
        #expect(await coordinator.waitForExit(timeout: 60) == 0, "\(coordinator.log)")
        let db = try Database(run.database)
        #expect(try db.int("SELECT COUNT(*) FROM results") == 300)
        #expect(try db.strings("SELECT DISTINCT worker FROM results") == ["late"])
    }

    /// Bad input: a second authorized key starting a worker under a live worker's id.
    @Test func aLiveWorkersIdCannotBeTakenByAnotherKey() async throws {
        let scratch = try Scratch("curvehijack")
        defer { scratch.close() }
        let run = TestRun(scratch: scratch)
        let curve = try await CurveSetup(run, workers: ["owner", "twin"])
        let coordinator = try run.coordinator(config: try curve.config(jobs: 40, sleepMs: 100, slots: 2))
        func worker(_ key: String) throws -> Child { try curve.worker(id: "w", key: key, slots: 2) }
        _ = try worker("owner")
        #expect(await eventually(timeout: 20) { coordinator.log.contains("worker w joined") }, "\(coordinator.log)")
        let twin = try worker("twin")
        #expect(await eventually(timeout: 20) { coordinator.log.contains("is held by another key") }, "\(coordinator.log)")
        #expect(await coordinator.waitForExit(timeout: 60) == 0, "\(coordinator.log)")
        #expect(twin.log.contains("refused registration"), "\(twin.log)")
        let db = try Database(run.database)
        #expect(try db.int("SELECT COUNT(*) FROM results") == 40)
        #expect(try db.int("SELECT COUNT(*) FROM events WHERE kind = 'worker_joined'") == 1, "only the owner ever joined")
    }

    /// Bad input: a second authorized key starting a worker under an id after the
    /// coordinator was killed with its owner (a machine that restarts whole): the id stays
    /// the first key's across the restart, because the store keeps the claim.
    @Test func anIdStaysWithItsKeyAcrossACoordinatorRestart() async throws {
        let scratch = try Scratch("curverestart")
        defer { scratch.close() }
        let run = TestRun(scratch: scratch)
        let curve = try await CurveSetup(run, workers: ["owner", "twin"])
        let config = try curve.config(jobs: 60, sleepMs: 100, slots: 2)
        let first = try run.coordinator(config: config, name: "coordinator-1")
        let owner = try curve.worker(id: "w", key: "owner", slots: 2)
        #expect(await eventually(timeout: 20) { Database.resultCount(run.database) >= 4 }, "\(first.log)")
        owner.signal(SIGKILL)
        first.signal(SIGKILL)
        _ = await first.waitForExit(timeout: 10)
        let second = try run.coordinator(config: config, name: "coordinator-2")
        #expect(await eventually(timeout: 20) { second.log.contains("CURVE on") }, "\(second.log)")
        let twin = try curve.worker(id: "w", key: "twin", slots: 2)
        #expect(await eventually(timeout: 20) { second.log.contains("belongs to another key") }, "\(second.log)")
        #expect(await eventually(timeout: 10) { twin.log.contains("refused registration") }, "\(twin.log)")
        twin.signal(SIGKILL)
        _ = try curve.worker(id: "w", key: "owner", slots: 2)
        #expect(await second.waitForExit(timeout: 60) == 0, "\(second.log)")
        let db = try Database(run.database)
        #expect(try db.int("SELECT COUNT(*) FROM results") == 60)
        let ownerKey = try String(contentsOfFile: "\(curve.keys)/workers/owner.pub", encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)
        #expect(try db.strings("SELECT key FROM worker_claims WHERE worker = 'w'") == [ownerKey])
        #expect(try db.int("SELECT COUNT(*) FROM events WHERE kind = 'worker_joined' AND detail LIKE '%key=\(ownerKey)'") == 2,
                "the owner joined in both lives, the twin never")
    }

    /// What `scp NODE.pub head:.../workers/` does when a node makes a new key: the file is
    /// rewritten in place, and neither the directory's entries nor its time change. The
    /// new key gets in within seconds and the old one is dropped.
    @Test func aKeyFileRewrittenInPlaceTakesEffect() async throws {
        let scratch = try Scratch("curveinplace")
        defer { scratch.close() }
        let run = TestRun(scratch: scratch)
        let curve = try await CurveSetup(run, workers: ["node"])
        try await Self.keys("node-new", dir: curve.keys + "/pending", in: scratch)
        let coordinator = try run.coordinator(config: try curve.config(jobs: 200, sleepMs: 100, slots: 2))
        _ = try curve.worker(id: "node", key: "node", slots: 2)
        let db = try Database(run.database)
        #expect(await eventually(timeout: 30) { Database.resultCount(run.database) >= 4 }, "\(scratch.logs)")
        let file = "\(curve.keys)/workers/node.pub"
        let directoryTime = try FileManager.default.attributesOfItem(atPath: curve.keys + "/workers")[.modificationDate] as? Date
        let handle = try #require(FileHandle(forWritingAtPath: file))
        try handle.truncate(atOffset: 0)
        try handle.write(contentsOf: try Data(contentsOf: URL(fileURLWithPath: "\(curve.keys)/pending/node-new.pub")))
        try handle.close()
        #expect(try FileManager.default.attributesOfItem(atPath: curve.keys + "/workers")[.modificationDate] as? Date == directoryTime)
        #expect(await eventually(timeout: 10) { coordinator.log.contains("was withdrawn") }, "\(coordinator.log)")
        _ = try Child("coevo-worker", ["--connect", run.endpoint, "--id", "node-2", "--slots", "2", "--coordinator-key",
                                       "\(curve.keys)/coordinator.pub", "--key", "\(curve.keys)/pending/node-new.key"], in: scratch, name: "node-new")
        #expect(await coordinator.waitForExit(timeout: 90) == 0, "\(scratch.logs)")
        #expect(try db.int("SELECT COUNT(*) FROM results") == 200)
        #expect(try db.int("SELECT COUNT(*) FROM results WHERE worker = 'node-2'") > 0)
    }

    /// Bad input: a worker whose key is withdrawn from the allow-list while it is
    /// connected and holding leases (ZAP only asks at the handshake).
    @Test func aWithdrawnKeysWorkerIsDroppedWhileConnected() async throws {
        let scratch = try Scratch("curverevoke")
        defer { scratch.close() }
        let run = TestRun(scratch: scratch)
        let curve = try await CurveSetup(run, workers: ["keep", "doomed"])
        let keys = curve.keys
        let coordinator = try run.coordinator(config: try curve.config(jobs: 400, sleepMs: 50, slots: 4))
        for name in ["keep", "doomed"] { _ = try curve.worker(id: name, key: name, slots: 4) }
        let db = try Database(run.database)
        #expect(await eventually(timeout: 30) { (try? db.int("SELECT COUNT(*) FROM results WHERE worker = 'doomed'")) ?? 0 >= 20 },
                "\(scratch.logs)")
        try FileManager.default.removeItem(atPath: "\(keys)/workers/doomed.pub")
        #expect(await eventually(timeout: 10) { coordinator.log.contains("worker doomed") && coordinator.log.contains("was withdrawn") },
                "\(coordinator.log)")
        #expect(await coordinator.waitForExit(timeout: 90) == 0, "\(scratch.logs)")
        #expect(try db.int("SELECT COUNT(*) FROM results") == 400)
        let withdrawn = try db.strings("SELECT at FROM events WHERE kind = 'worker_refused' AND detail = 'key withdrawn'")
        #expect(withdrawn.count == 1)
        #expect(try db.int("""
            SELECT COUNT(*) FROM results WHERE worker = 'doomed'
            AND completed_at > (SELECT at FROM events WHERE kind = 'worker_refused' AND detail = 'key withdrawn')
            """) == 0, "nothing from the withdrawn key is applied after it was noticed")
        #expect(try db.int("SELECT COUNT(*) FROM events WHERE kind = 'worker_joined' AND worker = 'doomed'") == 1, "it never rejoins")
    }

    @Test func coevoRunGivesItsLocalWorkersAKeyOfTheirOwn() async throws {
        let scratch = try Scratch("curverun")
        defer { scratch.close() }
        let run = TestRun(scratch: scratch)
        let keys = scratch.url("keys").path
        try await Self.keys("coordinator", dir: keys, in: scratch)
        try FileManager.default.createDirectory(atPath: keys + "/workers", withIntermediateDirectories: true)
        let config = try run.config(kind: "noop", jobs: 500, extra: """
              curve_key: \(keys)/coordinator.key
              authorized_keys: \(keys)/workers
            """, workers: 2)
        let coevo = try Child("coevo", ["run", config], in: scratch, name: "run")
        #expect(await coevo.waitForExit(timeout: 60) == 0, "\(coevo.log)")
        #expect(coevo.log.contains("results    500 durable, 500 succeeded, 0 failed"))
        let local = FileManager.default.homeDirectoryForCurrentUser.appendingPathComponent(".coevo/local")
        let leftovers = ((try? FileManager.default.contentsOfDirectory(atPath: local.path)) ?? []).filter { $0.hasPrefix("\(run.port).") }
        #expect(leftovers.isEmpty, "the local workers' key is removed: \(leftovers)")
    }

    /// Bad input: a coordinator public key whose Z85 text begins with `-` (one key in 85).
    /// Handed to the local workers as an argument of its own, it was read as an option:
    /// the workers exited at once and the run waited for them for ever.
    @Test func aCoordinatorKeyBeginningWithADashStillReachesTheLocalWorkers() async throws {
        let scratch = try Scratch("curvedash")
        defer { scratch.close() }
        let run = TestRun(scratch: scratch)
        var pair = try CurveKeyPair.generate()
        for _ in 0..<20_000 where !pair.publicKey.z85.hasPrefix("-") { pair = try CurveKeyPair.generate() }
        try #require(pair.publicKey.z85.hasPrefix("-"))
        let keyFile = scratch.url("coordinator.key").path
        try pair.writeKeyFile(keyFile)
        try FileManager.default.createDirectory(atPath: scratch.url("workers").path, withIntermediateDirectories: true)
        let config = try run.config(kind: "noop", jobs: 200, extra: """
              curve_key: \(keyFile)
              authorized_keys: \(scratch.url("workers").path)
            """, workers: 2)
        let coevo = try Child("coevo", ["run", config], in: scratch, name: "run")
        #expect(await coevo.waitForExit(timeout: 60) == 0, "\(coevo.log)")
        #expect(coevo.log.contains("results    200 durable, 200 succeeded, 0 failed"), "\(coevo.log)")
    }

    @Test func anAddressOtherMachinesReachNeedsCurveOrInsecure() async throws {
        let scratch = try Scratch("curvebind")
        defer { scratch.close() }
        let run = TestRun(scratch: scratch)
        let config = try run.config(kind: "noop", jobs: 10)
        let open = try Child("coevo-coordinator", ["--config", config, "--bind", "tcp://0.0.0.0:\(run.port)", "--exit-when-done"],
                             in: scratch, name: "open")
        #expect(await open.waitForExit(timeout: 20) == 1)
        #expect(open.log.contains("can be reached from other machines") && open.log.contains("--insecure"), "\(open.log)")
        #expect(!FileManager.default.fileExists(atPath: run.database), "refused before anything is created")

        let half = try run.config(kind: "noop", jobs: 10, extra: "  curve_key: \(scratch.url("c.key").path)")
        let broken = try Child("coevo-coordinator", ["--config", half], in: scratch, name: "half")
        #expect(await broken.waitForExit(timeout: 20) == 2)
        #expect(broken.log.contains("coordinator.authorized_keys"), "\(broken.log)")
    }
}
}
