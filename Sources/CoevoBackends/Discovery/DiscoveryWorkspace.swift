import CoevoCore
import Foundation
import Glibc

/// An agent's workspace in a discovery pool: a git repository of its own, made afresh by
/// the worker for every step from the run's cache, plus the pool's files under `.coevo/`
/// (never committed): the step (`step.json`), the prompt,
/// the shared-memory view (`shared/`), what the agent leaves for the pool (`outbox/`) and
/// its submission (`submitted.json`). `coevo eval` and `coevo memory` find it by walking up
/// from where they run.
public struct DiscoveryWorkspace: Sendable {
    public let root: URL
    public init(root: URL) { self.root = root }

    public var pool: URL { root.appendingPathComponent(".coevo") }
    public var shared: URL { pool.appendingPathComponent("shared") }
    public var outbox: URL { pool.appendingPathComponent("outbox") }
    public var submittedFile: URL { pool.appendingPathComponent("submitted.json") }
    var stepFile: URL { pool.appendingPathComponent("step.json") }
    /// The agent's home directory on this worker, beside its workspace: it outlives the
    /// workspace's reset between steps, so a CLI agent's sessions stay there.
    public var home: URL { root.deletingLastPathComponent().appendingPathComponent(root.lastPathComponent + ".home") }
    /// Where the worker's ends of the agent's endpoint relay live (`EndpointRelay`), beside
    /// its workspace: the worker's, shown read-only to the agent.
    var relayDirectory: URL { root.deletingLastPathComponent().appendingPathComponent(root.lastPathComponent + ".relay") }
    /// The session this worker last saw the agent run in.
    var sessionFile: URL { root.deletingLastPathComponent().appendingPathComponent(root.lastPathComponent + ".session") }

    /// The agent's session, if this worker holds it.
    func heldSession() -> String? {
        (try? String(contentsOf: sessionFile, encoding: .utf8)).map { $0.trimmingCharacters(in: .whitespacesAndNewlines) }
    }

    func hold(session: String) {
        try? Data(session.utf8).write(to: sessionFile)
    }

    /// What `step.json` says: which step of which agent this is, and its base commit.
    public struct Step: Codable, Sendable {
        public var run: String
        public var agent: String
        public var key: String
        public var base: String
    }

    /// The submission `coevo eval` made.
    public struct Submission: Codable, Sendable {
        public var commit: String
        public var parent: String
        public var message: String
    }

    /// The workspace containing `directory`, if any.
    public static func enclosing(_ directory: URL) -> DiscoveryWorkspace? {
        var cursor = directory.standardizedFileURL
        while true {
            if FileManager.default.fileExists(atPath: cursor.appendingPathComponent(".coevo/step.json").path) {
                return DiscoveryWorkspace(root: cursor)
            }
            let parent = cursor.deletingLastPathComponent()
            if parent.path == cursor.path { return nil }
            cursor = parent
        }
    }

    public func step() throws -> Step {
        try JSONDecoder().decode(Step.self, from: Data(contentsOf: stepFile))
    }

    /// Makes the workspace afresh at `base`: whatever the agent left in it last time is
    /// removed (links are removed, not followed), and a new repository gets `base` and
    /// `commits` (the attempts the agent may check out, all in the cache) from the cache.
    /// The cache is the worker's and the directory is new, so this git reads nothing an
    /// agent wrote. Call under the cache's lock.
    func make(at base: String, commits: [String], cache: GitCache) throws {
        let fm = FileManager.default
        try Self.remove(root, what: "the workspace")
        try fm.createDirectory(at: root, withIntermediateDirectories: true)
        _ = chmod(root.deletingLastPathComponent().path, 0o711)
        try Git.initialise(root)
        let wanted = [base] + Set(commits).subtracting([base]).sorted()
        try Git.run(["-c", "uploadpack.allowAnySHA1InWant=true", "fetch", "-q", "--no-tags", "--no-write-fetch-head",
                     cache.repository.path] + wanted.map { "\($0):refs/coevo/\($0)" }, in: root)
        try Git.run(["checkout", "-q", "--detach", base], in: root)
    }

    /// Removes the agent's home, sessions and all: what a step that went past its disk
    /// limit left there (the next step makes it afresh).
    func emptyHome() {
        try? Self.remove(home, what: "the agent's home")
    }

    /// Removes `directory` and what is in it, following no link and leaving its file system.
    private static func remove(_ directory: URL, what: String) throws {
        let fm = FileManager.default
        guard fm.fileExists(atPath: directory.path) || (try? fm.destinationOfSymbolicLink(atPath: directory.path)) != nil else { return }
        var remove = CommandSpec(arguments: ["rm", "-rf", "--one-file-system", "--", directory.path], workingDirectory: "/")
        remove.timeoutMilliseconds = 120_000
        let outcome = CommandRunner.runBlocking(remove, input: Data())
        guard outcome.succeeded else {
            throw GitError(description: "cannot clear \(what): \(String(decoding: outcome.stderr.suffix(300), as: UTF8.self))")
        }
    }

    /// The built-in evolve's workspace: a worktree of the cache, checked out at `commit`.
    /// No code of an agent's ever runs in it (the worker mutates it itself), so the cache
    /// may share its objects, and a submission needs no bundle to come back. Call under
    /// the cache's lock.
    func checkoutWorktree(_ commit: String, cache: GitCache) throws {
        let fm = FileManager.default
        if fm.fileExists(atPath: root.path) && !fm.fileExists(atPath: root.appendingPathComponent(".git").path) {
            try fm.removeItem(at: root)
        }
        if fm.fileExists(atPath: root.path) {
            try Git.run(["checkout", "-q", "--detach", "-f", commit], in: root)
            try Git.run(["clean", "-q", "-ffdx", "-e", ".coevo"], in: root)
        } else {
            try fm.createDirectory(at: root.deletingLastPathComponent(), withIntermediateDirectories: true)
            try Git.run(["worktree", "prune"], in: cache.repository)
            try Git.run(["worktree", "add", "-q", "--detach", "-f", root.path, commit], in: cache.repository)
        }
        try? fm.removeItem(at: pool)
    }

    /// Gives the workspace and the agent's home to user `uid`, but not the shared view,
    /// which stays the worker's (read-only to the agent). Call after `lay`. The workspace
    /// holds only what the worker just wrote, so it is walked here; the home holds what the
    /// agent left, and goes to `chown -R`, which changes links and never follows them.
    func give(to uid: UInt32) throws {
        try Self.own(root.path, by: uid, except: shared.path)
        var info = stat()
        if lstat(home.path, &info) != 0 || info.st_uid != uid { try GitCache.give(home.path, to: uid) }
    }

    /// `lchown`s `path` and everything under it but `except`, descending into no link.
    private static func own(_ path: String, by uid: UInt32, except: String) throws {
        guard path != except else { return }
        guard lchown(path, uid, uid) == 0 else {
            throw GitError(description: "cannot give \(path) to user \(uid): \(String(cString: strerror(errno)))")
        }
        var info = stat()
        guard lstat(path, &info) == 0, (info.st_mode & S_IFMT) == S_IFDIR else { return }
        for name in try FileManager.default.contentsOfDirectory(atPath: path) {
            try own(path + "/" + name, by: uid, except: except)
        }
    }

    /// Writes the step's files: step.json, the prompt and the shared view.
    func lay(_ job: DiscoveryStepJob, base: String) throws {
        let fm = FileManager.default
        try fm.createDirectory(at: home, withIntermediateDirectories: true)  // kept between steps
        try fm.createDirectory(at: outbox.appendingPathComponent("notes"), withIntermediateDirectories: true)
        try fm.createDirectory(at: outbox.appendingPathComponent("skills"), withIntermediateDirectories: true)
        try fm.createDirectory(at: shared.appendingPathComponent("notes"), withIntermediateDirectories: true)
        try fm.createDirectory(at: shared.appendingPathComponent("skills"), withIntermediateDirectories: true)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        try encoder.encode(Step(run: job.run, agent: job.agent, key: job.key, base: base)).write(to: stepFile)
        try Data(job.prompt.utf8).write(to: pool.appendingPathComponent("prompt.md"))
        try encoder.encode(job.shared).write(to: shared.appendingPathComponent("view.json"))
        try encoder.encode(job.shared.attempts).write(to: shared.appendingPathComponent("attempts.json"))
        for note in job.shared.notes {
            try Data("<!-- \(note.agent), round \(note.round) -->\n\(note.body)\n".utf8)
                .write(to: shared.appendingPathComponent("notes/\(GitCache.safe(note.key)).md"))
        }
        for skill in job.shared.skills {
            let directory = shared.appendingPathComponent("skills/\(GitCache.safe(skill.name))")
            try fm.createDirectory(at: directory, withIntermediateDirectories: true)
            try Data("---\nname: \(skill.name)\ndescription: \(skill.description)\nversion: \(skill.version)\n---\n\(skill.body)\n".utf8)
                .write(to: directory.appendingPathComponent("SKILL.md"))
        }
    }

    /// Starts over from another attempt's commit: the worktree is reset to it and it becomes
    /// the step's base, so a submission records it as its parent. Every attempt of the
    /// step's view is on the worker: the step brought their commits.
    public func checkout(attempt: Attempt) throws {
        var step = try step()
        let identity = Git.identity(agent: step.agent)
        guard (try? Git.run(["cat-file", "-e", "\(attempt.commit)^{commit}"], in: root, environment: identity)) != nil else {
            throw GitError(description: "commit \(attempt.commit.prefix(8)) (\(attempt.key)) is not on this worker: a step brings the commits of the attempts in its view")
        }
        try Git.run(["checkout", "-q", "--detach", "-f", attempt.commit], in: root, environment: identity)
        try Git.run(["clean", "-q", "-fd"], in: root, environment: identity)  // untracked files; .coevo is ignored
        step.base = attempt.commit
        try JSONEncoder().encode(step).write(to: stepFile)
    }

    /// The largest file a submission may add or change, and the largest git bundle a
    /// submission may travel as: an attempt's commit rides along with every later step and
    /// grade of its line, in messages of at most 64 MiB (`coordinator.max_message_bytes`).
    public static let maxFileBytes = 4 << 20
    public static let maxBundleBytes = 8 << 20

    /// Commits every change and records the submission. Throws when nothing changed or a
    /// file is over `maxFileBytes`.
    @discardableResult
    public func submit(message: String) throws -> Submission {
        let step = try step()
        let identity = Git.identity(agent: step.agent)
        // Sizes are checked before `git add`, which would copy a huge file into the run's
        // repository on this worker even if the submission were then refused.
        let changed = try Git.run(["ls-files", "-z", "--others", "--modified", "--exclude-standard"], in: root, environment: identity)
        for path in Set(changed.split(separator: "\0")).sorted() {
            var info = stat()
            guard lstat(root.appendingPathComponent(String(path)).path, &info) == 0, (info.st_mode & S_IFMT) == S_IFREG,
                  info.st_size > Self.maxFileBytes else { continue }
            throw GitError(description: "not submitted: \(path) is \(Self.mebibytes(Int(info.st_size))), and a submission's files may be at most "
                           + "\(Self.mebibytes(Self.maxFileBytes)) each; delete it or list it in .gitignore, then run coevo eval again")
        }
        try Git.run(["add", "-A", "."], in: root, environment: identity)
        let staged = (try? Git.run(["diff", "--cached", "--quiet", "--no-ext-diff"], in: root, environment: identity)) == nil
        if !staged, try Git.run(["rev-parse", "HEAD"], in: root, environment: identity) == step.base {
            throw GitError(description: "nothing to evaluate: no change since the step's start")
        }
        if staged {
            try Git.run(["commit", "-q", "--no-verify", "-m", message.isEmpty ? "attempt" : message], in: root, environment: identity)
        }
        let submission = Submission(commit: try Git.run(["rev-parse", "HEAD"], in: root, environment: identity), parent: step.base,
                                    message: message)
        // Written whole, then renamed into place: the step ends the moment this file exists
        // (the runner polls for it), and a file caught half-written lost the submission.
        try JSONEncoder().encode(submission).write(to: submittedFile, options: .atomic)
        return submission
    }

    /// The submission of this step, if the agent made one, read as `files` allow.
    func submission(_ files: AgentFiles) -> Submission? {
        guard let data = try? files.read(".coevo/submitted.json", limit: 64 << 10) else { return nil }
        return try? JSONDecoder().decode(Submission.self, from: data)
    }

    /// Where the worker has the agent's user bundle its submission.
    static let outgoingBundle = ".coevo/out.bundle"

    static func mebibytes(_ bytes: Int) -> String {
        String(format: "%.1f MiB", Double(bytes) / 1_048_576)
    }

    // MARK: The outbox

    /// Leaves a note for the pool (it travels back with the step's result).
    public func addNote(_ body: String) throws -> URL {
        let notes = outbox.appendingPathComponent("notes")
        try FileManager.default.createDirectory(at: notes, withIntermediateDirectories: true)
        let count = (try? FileManager.default.contentsOfDirectory(atPath: notes.path).count) ?? 0
        let file = notes.appendingPathComponent(String(format: "%03d.md", count + 1))
        try Data(body.utf8).write(to: file)
        return file
    }

    public func addSkill(_ draft: SkillDraft) throws -> URL {
        let skills = outbox.appendingPathComponent("skills")
        try FileManager.default.createDirectory(at: skills, withIntermediateDirectories: true)
        let file = skills.appendingPathComponent("\(GitCache.safe(draft.name)).json")
        try JSONEncoder().encode(draft).write(to: file)
        return file
    }

    /// What the agent left: notes in the order written, skills by name. At most 20 of
    /// each and 64 KiB a piece, so a flooding agent cannot swamp the pool; read as `files`
    /// allow (no links, no FIFOs, the agent's own regular files only).
    func collectOutbox(_ files: AgentFiles) -> (notes: [String], skills: [SkillDraft]) {
        func entries(_ name: String) -> [Data] {
            let directory = ".coevo/outbox/\(name)"
            return (files.list(directory) ?? []).prefix(20).compactMap { try? files.read("\(directory)/\($0)", limit: 65536) }
        }
        let notes = entries("notes").compactMap { data -> String? in
            let text = String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
            return text.isEmpty ? nil : text
        }
        let skills = entries("skills").compactMap { try? JSONDecoder().decode(SkillDraft.self, from: $0) }
        return (notes, skills)
    }

    /// The shared view the step was given.
    public func sharedView() throws -> SharedView {
        try JSONDecoder().decode(SharedView.self, from: Data(contentsOf: shared.appendingPathComponent("view.json")))
    }
}
