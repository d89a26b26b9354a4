import CoevoCore
import Foundation
import Glibc

/// Runs `discovery.grade` jobs: rebuilds the commit from the job's bundles, exports it
/// to a fresh directory, runs the task's candidate command there when it has one (before
/// any grader file exists on the worker, in a sandbox with no network that sees the
/// candidate's tree read-only and a private `/tmp`, as the candidates' user), then writes
/// the grader's own files beside it (they exist only for the grade and are removed after),
/// and runs the grade command there, in a sandbox of its own that sees its directory and
/// the candidate, as the graders' user (the task's `grader_user`, or the worker's range),
/// with a timeout and limits. The last stdout line must be
/// `{"score": NUMBER, "feedback": "..."}`; anything else is a crashed grade, which is a
/// verdict (the job succeeds), not a job to retry.
public struct DiscoveryGradeExecutor: JobExecutor {
    public var kind: JobKind { .discoveryGrade }
    public let root: URL
    /// The grade command is a program the coordinator asks for, like an agent's: the
    /// worker runs only those it was told to allow.
    public let policy: WorkerPolicy

    public init(root: URL, policy: WorkerPolicy = WorkerPolicy()) {
        self.root = root
        self.policy = policy
    }

    public func run(payload: Data) async -> JobOutcome {
        let job: DiscoveryGradeJob
        do {
            job = try JSONDecoder().decode(DiscoveryGradeJob.self, from: payload)
        } catch {
            return JobOutcome(status: .failed, error: "discovery.grade payload is not a DiscoveryGradeJob: \(error)")
        }
        if let refusal = policy.refusal(forCommand: job.command, noun: "grade command")
            ?? job.candidate.flatMap({ policy.refusal(forCommand: $0.command, noun: "candidate command") })
            ?? policy.confinement.refusal {
            return JobOutcome(status: .unsupported, error: refusal)
        }
        let confinement = policy.confinement
        let graderUser = confinement.graderUser(configured: job.userID)
        let cache = GitCache(root: root, run: job.run)
        let place = cache.directory.appendingPathComponent("grades").appendingPathComponent(GitCache.safe(job.key))
        let candidate = place.appendingPathComponent("candidate"), grader = place.appendingPathComponent("grader")
        defer { try? FileManager.default.removeItem(at: place) }
        do {
            try? FileManager.default.removeItem(at: place)
            try FileManager.default.createDirectory(at: candidate, withIntermediateDirectories: true)
            let archive = place.appendingPathComponent("candidate.tar")
            try await cache.locked {
                let commit = try cache.prepare(job.chain)
                try Git.run(["archive", "--format=tar", "-o", archive.path, commit], in: cache.repository)
            }
            var untar = CommandSpec(arguments: ["tar", "-xf", archive.path, "-C", candidate.path], workingDirectory: place.path)
            untar.timeoutMilliseconds = 60_000
            guard CommandRunner.runBlocking(untar, input: Data()).succeeded else { throw GitError(description: "cannot unpack the candidate") }
            try? FileManager.default.removeItem(at: archive)
            // The place is passable, not listable: each party reaches only what it is given.
            _ = chmod(place.path, 0o711)
        } catch {
            return JobOutcome(status: .failed, error: "cannot prepare the grade of \(job.key): \(error)")
        }
        var environment = ["COEVO_CANDIDATE": candidate.path]
        do {
            if let run = job.candidate {
                environment.merge(try await runCandidate(run, of: job, in: candidate, place: place)) { $1 }
            }
            // Only the grader may read its files: its directory is its user's alone from the
            // moment it exists (an agent or candidate running as its own user, as `agent_user`
            // makes it, cannot read them even while the grade runs, nor while they are written).
            try FileManager.default.createDirectory(at: grader, withIntermediateDirectories: false, attributes: [.posixPermissions: 0o700])
            try cache.write(job.graderFiles, into: grader)
            if let graderUser { try GitCache.give(grader.path, to: graderUser) }
        } catch {
            return JobOutcome(status: .failed, error: "cannot prepare the grade of \(job.key): \(error)")
        }

        var spec = Self.limited(job.command, in: grader, timeoutMilliseconds: job.timeoutMilliseconds)
        spec.environment = environment
        let outputs = ["candidate.stdout", "candidate.stderr"].map { place.appendingPathComponent($0).path }
        spec = confinement.confine(spec, view: SandboxView(writable: [grader.path], readOnly: [candidate.path] + outputs,
                                                           network: job.network == true), user: graderUser)
        let outcome = await CommandRunner.run(spec, input: Data())
        let verdict = Self.verdict(outcome)
        guard let data = try? JSONEncoder().encode(verdict) else {
            return JobOutcome(status: .failed, error: "cannot encode the grade")
        }
        return JobOutcome(status: .succeeded, output: data)
    }

    /// Runs the candidate's own code in its checkout, as the agents' user, while no grader
    /// file exists on this worker (a process it leaves behind finds the grader's directory
    /// its user's alone). What it printed goes to files only the grader's user can read;
    /// returns the grader's variables that name them.
    private func runCandidate(_ run: CandidateRun, of job: DiscoveryGradeJob, in candidate: URL, place: URL) async throws -> [String: String] {
        var input = Data()
        if let path = run.input {
            guard let file = job.graderFiles.first(where: { $0.path == path }) else {
                throw GitError(description: "the candidate's input \(path) is not among the grader's files")
            }
            input = file.data
        }
        var spec = Self.limited(run.command, in: candidate, timeoutMilliseconds: run.timeoutMilliseconds)
        spec.fileBytes = 256 << 20
        spec.environment = ["HOME": "/tmp"]
        // Its memory and processes are held together, not per process, where the worker can.
        let cgroup = try policy.confinement.cgroup(memoryBytes: Self.candidateMemoryBytes, processes: Self.candidateProcesses)
        defer { cgroup?.remove() }
        spec.cgroups = cgroup?.procs ?? []
        // Its tree is read-only and its /tmp goes with its sandbox: nothing it writes
        // outlives it but what it prints, which goes to the grader alone.
        spec = policy.confinement.confine(spec, view: SandboxView(readOnly: [candidate.path]), user: policy.confinement.users?.candidate)
        var outcome = await CommandRunner.run(spec, input: input)
        if let cgroup, cgroup.memoryKills + cgroup.refusedForks > 0 {
            outcome.stderr += Data("\n[coevo] the candidate went past its limits: \(cgroup.memoryKills) processes killed at \(Self.candidateMemoryBytes >> 20) MiB, \(cgroup.refusedForks) forks refused at \(Self.candidateProcesses) processes\n".utf8)
        }
        let stdout = place.appendingPathComponent("candidate.stdout"), stderr = place.appendingPathComponent("candidate.stderr")
        let graderUser = policy.confinement.graderUser(configured: job.userID)
        for (file, data) in [(stdout, outcome.stdout), (stderr, outcome.stderr)] {
            try data.write(to: file)
            _ = chmod(file.path, 0o600)
            if let graderUser { _ = chown(file.path, graderUser, graderUser) }
        }
        var variables = ["COEVO_CANDIDATE_STDOUT": stdout.path, "COEVO_CANDIDATE_STDERR": stderr.path,
                         "COEVO_CANDIDATE_STATUS": outcome.summary]
        if let code = outcome.exitCode, !outcome.timedOut, !outcome.stalled, !outcome.cancelled {
            variables["COEVO_CANDIDATE_EXIT"] = String(code)
        }
        return variables
    }

    /// What all of a candidate's processes may hold together.
    static let candidateMemoryBytes = 4 << 30
    static let candidateProcesses = 256

    /// A grade's command (the grader's or the candidate's): its time, CPU seconds to match,
    /// 4 GiB of memory, 1 MiB of output kept.
    private static func limited(_ arguments: [String], in directory: URL, timeoutMilliseconds: Int) -> CommandSpec {
        var spec = CommandSpec(arguments: arguments, workingDirectory: directory.path)
        spec.timeoutMilliseconds = timeoutMilliseconds
        spec.cpuSeconds = max(1, timeoutMilliseconds / 1000)
        spec.memoryBytes = 4 << 30
        spec.maxOutputBytes = 1 << 20
        return spec
    }

    /// What the grader's run says. The agents see the grader's `feedback` and, when it
    /// fails, only how; what a failed grader printed (a traceback may quote the candidate's
    /// output and the hidden input it was given) and its `detail` go to the run's owner.
    public static func verdict(_ outcome: CommandOutcome) -> DiscoveryGradeOutput {
        let stderr = String(decoding: outcome.stderr.suffix(4000), as: UTF8.self)
        if outcome.timedOut || outcome.stalled {
            return DiscoveryGradeOutput(score: nil, feedback: "grader \(outcome.summary)", failure: .timeout, detail: stderr.isEmpty ? nil : stderr)
        }
        guard outcome.succeeded else {
            return DiscoveryGradeOutput(score: nil, feedback: "grader \(outcome.summary)", failure: .crashed, detail: stderr.isEmpty ? nil : stderr)
        }
        let lastLine = String(decoding: outcome.stdout, as: UTF8.self).split(separator: "\n").last { !$0.allSatisfy(\.isWhitespace) }
        struct Line: Decodable {
            var score: Double
            var feedback: String?
            var detail: String?
        }
        guard let lastLine, let line = try? JSONDecoder().decode(Line.self, from: Data(lastLine.utf8)), line.score.isFinite else {
            return DiscoveryGradeOutput(score: nil, feedback: "grader printed no {\"score\": NUMBER} line", failure: .crashed,
                                        detail: String(decoding: outcome.stdout.suffix(4000), as: UTF8.self))
        }
        return DiscoveryGradeOutput(score: line.score, feedback: String((line.feedback ?? "").prefix(4000)),
                                    detail: line.detail.map { String($0.prefix(4000)) })
    }
}
