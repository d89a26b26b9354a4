import CoevoTestSupport
import Foundation
import Testing

/// A real Slurm cluster on this machine (Deploy/slurm/test-cluster.sh): munged, slurmctld
/// and one slurmd per node name, every file in the test's scratch directory.
struct SlurmLab {
    static var installed: Bool {
        getuid() == 0 && ["/usr/sbin/slurmctld", "/usr/sbin/slurmd", "/usr/sbin/munged", "/usr/bin/sbatch"]
            .allSatisfy { FileManager.default.isExecutableFile(atPath: $0) }
    }
    /// Where Slurm is installed the tests run; in CI they must (`make test` installs it).
    static var required: Bool { installed || ProcessInfo.processInfo.environment["CI"] == "true" }

    let scratch: Scratch
    let directory: String
    /// What the sbatch scripts read: the cluster, the binaries, a free port.
    let environment: [String: String]

    init(_ scratch: Scratch, nodes: Int) throws {
        #expect(Self.installed, "Slurm and munge must be installed and the tests run as root: `make test` installs them")
        self.scratch = scratch
        directory = scratch.url("slurm").path
        var environment = ProcessInfo.processInfo.environment
        environment["SLURM_CONF"] = directory + "/slurm.conf"
        environment["COEVO_BIN"] = Binaries.directory.path
        environment["COEVO_DEPLOY"] = TestSupport.root.appendingPathComponent("Deploy/slurm").path
        environment["COEVO_PORT"] = "\(freePort())"
        self.environment = environment
        let (status, output) = try run([TestSupport.root.appendingPathComponent("Deploy/slurm/test-cluster.sh").path,
                                        "start", directory, "\(nodes)"])
        guard status == 0 else { throw HarnessError("the Slurm test cluster did not start: \(output)") }
    }

    /// Runs a Slurm command (or anything) in the scratch directory, with the lab's environment.
    @discardableResult
    func run(_ command: [String], extra: [String: String] = [:]) throws -> (status: Int32, output: String) {
        let (status, output) = try TestSupport.capture(command, environment: environment.merging(extra) { $1 }, in: scratch.directory)
        return (status, output.trimmingCharacters(in: .whitespacesAndNewlines))
    }

    /// `sbatch --parsable`: the job id.
    func submit(_ arguments: [String], extra: [String: String] = [:]) throws -> String {
        let (status, output) = try run(["sbatch", "--parsable"] + arguments, extra: extra)
        guard status == 0, let id = output.split(separator: ";").first else { throw HarnessError("sbatch failed: \(output)") }
        return String(id)
    }

    /// Job ids (array tasks as J_T) still in the queue.
    func queued() -> [String] {
        ((try? run(["squeue", "-h", "-o", "%i"]))?.output ?? "").split(separator: "\n").map(String.init)
    }

    /// The log of a batch job, written where it was submitted.
    func log(_ name: String) -> String {
        (try? String(contentsOf: scratch.url(name), encoding: .utf8)) ?? "(no \(name))"
    }

    func close() {
        for job in queued() { _ = try? run(["scancel", job]) }
        _ = try? run([TestSupport.root.appendingPathComponent("Deploy/slurm/test-cluster.sh").path, "stop", directory])
    }
}

/// Deploy/slurm's batch scripts on a real Slurm controller with three nodes (all on this
/// host), as a cluster user submits them.
extension ProcessTests {
    @Suite(.enabled(if: SlurmLab.required, "needs Slurm, munge and root (make test installs Slurm)"))
    struct SlurmRunTests {
        /// `sbatch --nodes=3 coevo.sbatch CONFIG`: the coordinator on n1, a worker on n2 and
        /// one on n3, over CURVE with keys made in the job; every job runs once and the batch
        /// job ends when the run does, its workers drained.
        @Test func aBatchJobRunsAConfigOnTheClusterEndToEnd() async throws {
            let scratch = try Scratch("slurm")
            let lab = try SlurmLab(scratch, nodes: 3)
            defer { lab.close(); scratch.close() }
            let database = scratch.url("run.sqlite").path
            let config = try scratch.write("slurm.yaml", """
                run: {name: slurm-it, seed: 3}
                coordinator: {database: \(database), min_workers: 2}
                workload: {kind: sleep, jobs: 300, sleep_ms: 20}
                """)
            let script = TestSupport.root.appendingPathComponent("Deploy/slurm/coevo.sbatch").path
            let (status, output) = try lab.run(["timeout", "180", "sbatch", "--wait", "--parsable", "--nodes=3",
                                                "--ntasks-per-node=1", script, config], extra: ["COEVO_SLOTS": "8"])
            let job = output.split(separator: "\n").last.map(String.init) ?? ""
            let log = lab.log("coevo-\(job).log")
            #expect(status == 0, "sbatch --wait: \(output)\n\(log)")
            #expect(log.contains("every run is finished"), "\(log)")
            #expect(log.contains("worker n2-\(job)-0 drained") && log.contains("worker n3-\(job)-1 drained"),
                    "the workers were told to drain, not killed\n\(log)")
            let db = try Database(database)
            #expect(try db.int("SELECT COUNT(*) FROM results WHERE status = 'succeeded'") == 300)
            #expect(try db.strings("SELECT DISTINCT worker FROM results ORDER BY worker") == ["n2-\(job)-0", "n3-\(job)-1"])
            #expect(try db.int("SELECT COUNT(*) FROM jobs WHERE state = 'failed'") == 0)
        }

        /// Elastic workers: a one-node coordinator job, then a job array of two workers.
        /// Fault tried: `scancel` of one array task while it holds leases. It drains for
        /// 300 ms, gives back what is still running, and those jobs finish on the other
        /// worker: none lost, none twice (results are keyed by job).
        @Test func aCancelledWorkersLeasesFinishElsewhere() async throws {
            let scratch = try Scratch("slurm-elastic")
            let lab = try SlurmLab(scratch, nodes: 2)
            defer { lab.close(); scratch.close() }
            let database = scratch.url("run.sqlite").path
            let config = try scratch.write("elastic.yaml", """
                run: {name: elastic-it, seed: 3}
                coordinator: {database: \(database), min_workers: 1}
                workload: {kind: sleep, jobs: 40, sleep_ms: 1500}
                """)
            let deploy = TestSupport.root.appendingPathComponent("Deploy/slurm").path
            let coordinator = try lab.submit(["--nodes=1", deploy + "/coevo.sbatch", config])
            let extra = ["COEVO_SLOTS": "4", "COEVO_DRAIN_MS": "300"]
            #expect(await eventually(timeout: 30) { FileManager.default.fileExists(atPath: scratch.url("coevo.endpoint").path) },
                    "\(lab.log("coevo-\(coordinator).log"))")
            let array = try lab.submit(["--array=0-1", deploy + "/coevo-workers.sbatch"], extra: extra)
            let (leaving, staying) = ("n1-\(array)-0", "n1-\(array)-1")
            let db = try Database(database)
            func leased(by worker: String) -> Int {
                (try? db.int("SELECT COUNT(*) FROM jobs WHERE state = 'leased' AND worker = '\(worker)'")) ?? 0
            }
            #expect(await eventually(timeout: 60) { leased(by: leaving) > 0 },
                    "\(lab.log("coevo-\(coordinator).log"))\n\(lab.log("coevo-workers-\(array)_0.log"))")
            try lab.run(["scancel", "\(array)_0"])

            #expect(await eventually(timeout: 90) { !lab.queued().contains(coordinator) }, "the run finishes on the other worker")
            let leavingLog = lab.log("coevo-workers-\(array)_0.log")
            #expect(leavingLog.contains("giving back") && leavingLog.contains("drained and disconnected"), "\(leavingLog)")
            #expect(try db.int("SELECT COUNT(*) FROM results WHERE status = 'succeeded'") == 40)
            #expect(try db.int("SELECT COUNT(*) FROM jobs WHERE state = 'failed'") == 0)
            let given = try db.int("SELECT COUNT(*) FROM events WHERE kind = 'lease_lost' AND worker = '\(leaving)'")
            let finishedElsewhere = try db.int("""
                SELECT COUNT(*) FROM events e JOIN results r ON r.job_id = e.job_id
                WHERE e.kind = 'lease_lost' AND e.worker = '\(leaving)' AND r.worker = '\(staying)' AND r.status = 'succeeded'
                """)
            #expect(given > 0 && finishedElsewhere == given, "\(given) leases given back, \(finishedElsewhere) finished on \(staying)")
        }
    }
}
