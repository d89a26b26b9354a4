import CoevoCore
import Foundation
import Synchronization

/// A worker's cache of one discovery run's commits: a git repository under
/// `<root>/discovery/<run>/repo` into which the seed commit is made and every shipped
/// bundle is unbundled, so a commit arrives once per worker. It is the worker's alone
/// (mode 0700): an agent's workspace is a repository of its own, filled from here, and
/// what an agent submits comes back as a bundle that is unbundled here, so the worker's
/// git never runs in a directory an agent could write (its hooks, config and links).
/// Every operation on one cache runs under that cache's lock, on a thread of its own
/// (git is blocking).
public struct GitCache: Sendable {
    public let directory: URL
    public var repository: URL { directory.appendingPathComponent("repo") }

    private static let locks = Mutex<[String: NSLock]>([:])

    public init(root: URL, run: String) {
        directory = root.appendingPathComponent("discovery").appendingPathComponent(Self.safe(run))
    }

    /// A name safe as one path component.
    static func safe(_ name: String) -> String {
        String(name.map { $0.isLetter || $0.isNumber || "-_.".contains($0) ? $0 : "_" }).replacingOccurrences(of: "..", with: "_")
    }

    /// Runs `body` under this cache's lock on a thread of its own.
    public func locked<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
        let lock = Self.locks.withLock { locks in
            if let lock = locks[directory.path] { return lock }
            let lock = NSLock()
            locks[directory.path] = lock
            return lock
        }
        return try await withCheckedThrowingContinuation { continuation in
            let thread = Thread {
                lock.lock()
                defer { lock.unlock() }
                continuation.resume(with: Result { try body() })
            }
            thread.name = "coevo-git"
            thread.start()
        }
    }

    /// Makes sure the commits of `chain` are here; returns the sha to check out. Call
    /// under `locked`.
    public func prepare(_ chain: CommitChain) throws -> String {
        let seed = try seedCommit(chain.seedFiles)
        // A commit this worker already has needs none of the bundles.
        guard let commit = chain.commit, !present(commit) else { return chain.commit ?? seed }
        for bundle in chain.bundles { try unbundle(bundle) }
        guard present(commit) else {
            throw GitError(description: "commit \(commit.prefix(12)) is not in the bundles the job carried")
        }
        return commit
    }

    /// Brings in the commits of `viewed` this worker lacks, in order (each bundle's parent
    /// is the seed, an earlier one, or already here).
    public func fetch(_ viewed: [CommittedBundle]) throws {
        guard !viewed.isEmpty else { return }
        let missing = try self.missing(viewed.map(\.commit))
        for entry in viewed where missing.contains(entry.commit) { try unbundle(entry.bundle) }
    }

    /// Which of `shas` are not commits here, asked of one git process.
    private func missing(_ shas: [String]) throws -> Set<String> {
        let listed = try Git.run(["cat-file", "--batch-check=%(objectname) %(objecttype)"], in: repository,
                                 input: Data(shas.map { $0 + "\n" }.joined().utf8))
        let present = Set(listed.split(separator: "\n").filter { $0.hasSuffix(" commit") }.map { String($0.prefix(40)) })
        return Set(shas).subtracting(present)
    }

    private func present(_ sha: String) -> Bool {
        (try? Git.run(["cat-file", "-e", "\(sha)^{commit}"], in: repository)) != nil
    }

    /// Takes in what an agent submitted: `bundle` (made in its workspace, as its user)
    /// must bring `commit`, a descendant of `parent`, which is here. Returns the bundle
    /// to ship, made again here (so it carries that commit and nothing else the agent
    /// put in), and the diff from the parent, as this worker's git reads it (no external
    /// diff or text conversion an agent's attributes could name). Call under `locked`.
    func accept(_ bundle: Data, commit: String, parent: String) throws -> (bundle: Data, diff: String) {
        guard commit.wholeMatch(of: /[0-9a-f]{40}/) != nil, parent.wholeMatch(of: /[0-9a-f]{40}/) != nil else {
            throw GitError(description: "the submission names no commit")
        }
        try unbundle(bundle)
        // Fails as well when the bundle did not bring the commit.
        guard (try? Git.run(["merge-base", "--is-ancestor", parent, commit], in: repository)) != nil else {
            throw GitError(description: "its bundle does not bring commit \(commit.prefix(12)) on top of \(parent.prefix(12))")
        }
        return try export(commit, parent: parent)
    }

    /// The bundle of `commit` on top of `parent`, both here, and the diff between them, as
    /// `accept` returns them; `commit` is pinned. Call under `locked`.
    func export(_ commit: String, parent: String) throws -> (bundle: Data, diff: String) {
        try Git.run(["update-ref", "refs/coevo/\(commit)", commit], in: repository)
        let file = directory.appendingPathComponent("outgoing.bundle")
        defer { try? FileManager.default.removeItem(at: file) }
        try Git.run(["bundle", "create", "-q", file.path, "refs/coevo/\(commit)", "^\(parent)"], in: repository)
        let text = (try? Git.run(["diff", "--no-ext-diff", "--no-textconv", parent, commit], in: repository)) ?? ""
        let limit = 16 << 10
        let diff = text.utf8.count <= limit ? text : String(decoding: text.utf8.prefix(limit), as: UTF8.self) + "\n[diff cut at \(limit) bytes]"
        return (try Data(contentsOf: file), diff)
    }

    /// Unbundles one bundle into the cache and pins what arrived, so no gc drops it.
    private func unbundle(_ bundle: Data) throws {
        let file = directory.appendingPathComponent("incoming.bundle")
        try bundle.write(to: file)
        defer { try? FileManager.default.removeItem(at: file) }
        let listed = try Git.run(["bundle", "unbundle", file.path], in: repository)
        for line in listed.split(separator: "\n") {
            guard let sha = line.split(separator: " ").first, sha.count == 40 else { continue }
            try Git.run(["update-ref", "refs/coevo/\(sha)", String(sha)], in: repository)
        }
    }

    /// The seed commit, made once from the seed files. Author, committer and dates are
    /// fixed, so every worker makes the same commit (the same sha) from the same files.
    private func seedCommit(_ files: [DiscoveryFile]) throws -> String {
        let fm = FileManager.default
        if !fm.fileExists(atPath: repository.appendingPathComponent(".git").path) {
            try fm.createDirectory(at: repository, withIntermediateDirectories: true)
            // Agents reach their own workspaces below the run's directory, never the cache.
            _ = chmod(directory.path, 0o711)
            _ = chmod(repository.path, 0o700)
            try Git.initialise(repository)  // evolve's worktrees share its exclude list
        }
        if let sha = try? Git.run(["rev-parse", "--verify", "-q", "refs/coevo/seed"], in: repository), !sha.isEmpty {
            return sha
        }
        let staging = directory.appendingPathComponent("seed-files")
        try? fm.removeItem(at: staging)
        try write(files, into: staging)
        defer { try? fm.removeItem(at: staging) }
        let index = directory.appendingPathComponent("seed.index").path
        defer { try? fm.removeItem(atPath: index) }
        var environment = Git.identity(agent: "coevo")
        environment["GIT_INDEX_FILE"] = index
        _ = try Git.run(["--work-tree=\(staging.path)", "add", "-A", "."], in: repository, environment: environment)
        let tree = try Git.run(["write-tree"], in: repository, environment: environment)
        let sha = try Git.run(["commit-tree", tree, "-m", "seed"], in: repository, environment: environment)
        _ = try Git.run(["update-ref", "refs/coevo/seed", sha], in: repository)
        return sha
    }

    /// Gives `path` and everything under it to user `uid`. Symbolic links are changed, not
    /// followed (`chown -R` without `-L`): a link an agent committed cannot hand it a file
    /// outside.
    static func give(_ path: String, to uid: UInt32) throws {
        var spec = CommandSpec(arguments: ["chown", "-R", "\(uid):\(uid)", path], workingDirectory: "/")
        spec.timeoutMilliseconds = 60_000
        let outcome = CommandRunner.runBlocking(spec, input: Data())
        guard outcome.succeeded else {
            throw GitError(description: "cannot give \(path) to user \(uid) (only a worker running as root can run agents, candidates "
                           + "or graders as other users): \(String(decoding: outcome.stderr, as: UTF8.self))")
        }
    }

    /// Writes task files under `directory`, refusing paths that leave it.
    public func write(_ files: [DiscoveryFile], into directory: URL) throws {
        let fm = FileManager.default
        try fm.createDirectory(at: directory, withIntermediateDirectories: true)
        for file in files {
            guard !file.path.hasPrefix("/"), !file.path.split(separator: "/").contains("..") else {
                throw GitError(description: "task file path '\(file.path)' leaves its directory")
            }
            let url = directory.appendingPathComponent(file.path)
            try fm.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
            try file.data.write(to: url)
        }
    }
}

/// Runs git, blocking, with a scrubbed environment.
enum Git {
    /// A fixed identity and date: commits are a function of their tree, parent and message.
    /// No configuration but the repository's own is read, and no hook or file-system
    /// monitor runs, whatever that configuration says; nor does automatic maintenance (a
    /// process after every fetch and commit, for repositories that live a step).
    static func identity(agent: String) -> [String: String] {
        ["GIT_AUTHOR_NAME": agent, "GIT_AUTHOR_EMAIL": "\(agent)@coevo", "GIT_COMMITTER_NAME": agent,
         "GIT_COMMITTER_EMAIL": "\(agent)@coevo", "GIT_AUTHOR_DATE": "2026-01-01T00:00:00Z",
         "GIT_COMMITTER_DATE": "2026-01-01T00:00:00Z", "GIT_CONFIG_NOSYSTEM": "1", "GIT_CONFIG_GLOBAL": "/dev/null",
         "HOME": "/nonexistent", "GIT_TERMINAL_PROMPT": "0",
         "GIT_CONFIG_COUNT": "4", "GIT_CONFIG_KEY_0": "core.hooksPath", "GIT_CONFIG_VALUE_0": "/dev/null",
         "GIT_CONFIG_KEY_1": "core.fsmonitor", "GIT_CONFIG_VALUE_1": "false",
         "GIT_CONFIG_KEY_2": "maintenance.auto", "GIT_CONFIG_VALUE_2": "false", "GIT_CONFIG_KEY_3": "gc.auto", "GIT_CONFIG_VALUE_3": "0"]
    }

    /// Makes an empty repository at `directory` (which exists): no sample hooks, and the
    /// pool's files never enter a commit (nor aider's caches in the repository root).
    static func initialise(_ directory: URL) throws {
        try run(["init", "-q", "--template="], in: directory)
        let info = directory.appendingPathComponent(".git/info")
        try FileManager.default.createDirectory(at: info, withIntermediateDirectories: true)
        try Data(".coevo/\n.aider*\n".utf8).write(to: info.appendingPathComponent("exclude"))
    }

    /// Stdout, trimmed; throws with git's stderr when it fails.
    @discardableResult
    static func run(_ arguments: [String], in directory: URL, environment: [String: String] = Git.identity(agent: "coevo"),
                    input: Data = Data()) throws -> String {
        var spec = CommandSpec(arguments: ["git"] + arguments, workingDirectory: directory.path)
        spec.environment = environment
        spec.timeoutMilliseconds = 120_000
        spec.maxOutputBytes = 64 << 20
        let outcome = CommandRunner.runBlocking(spec, input: input)
        guard outcome.succeeded else {
            throw GitError(description: "git \(arguments.first ?? "") failed (\(outcome.summary)): \(String(decoding: outcome.stderr.suffix(400), as: UTF8.self))")
        }
        return String(decoding: outcome.stdout, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
    }
}

public struct GitError: Error, CustomStringConvertible {
    public let description: String
}
