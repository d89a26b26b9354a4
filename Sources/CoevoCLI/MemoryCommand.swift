import ArgumentParser
import CoevoBackends
import CoevoCoordinator
import CoevoCore
import CoevoStore
import Foundation

/// `coevo memory`: a discovery pool's shared memory (attempts, notes, skills), read and
/// added to from inside any agent's workspace, or read on the head node with `--db`.
public struct MemoryCommand: ParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "memory",
        abstract: "Read and add to a discovery pool's shared memory: attempts, notes, skills.",
        discussion: """
            Inside an agent's workspace it reads the view the step was given (.coevo/shared/) and \
            adds notes and skills that travel back with the step. With --db it reads the run's \
            database on the head node.
              coevo memory attempts --top 5
              coevo memory add-note "grid spacing 0.19 lets the radii grow"
              coevo memory attempts --db runs/discovery.sqlite
            """,
        subcommands: [Attempts.self, Notes.self, Skills.self, Checkout.self, AddNote.self, AddSkill.self])

    public init() {}

    /// Where the memory is read from.
    struct Source: ParsableArguments {
        @Option(help: "Read this run database (or a config naming it) instead of the enclosing workspace.")
        var db: String?
        @Option(name: .customLong("run"), help: "With --db: the run (default: the latest run with attempts).")
        var runID: String?

        func view() throws -> (SharedView, direction: DiscoverySettings.Direction) {
            guard let db else {
                let workspace = try enclosingWorkspace()
                let view = try workspace.sharedView()
                return (view, view.direction)
            }
            let store = try openDatabase(db)
            defer { store.writer.stop() }
            let runs = try store.runs()
            var chosen: (run: StoredRun, attempts: [Attempt])?
            if let runID {
                guard let run = runs.first(where: { $0.id == runID }) else {
                    throw UserFacingError("no run '\(runID)' in \(store.path); it holds: \(runs.map(\.id).joined(separator: ", "))")
                }
                chosen = (run, try store.attempts(ofRun: run.id))
            } else {
                for run in runs.reversed() {
                    let attempts = try store.attempts(ofRun: run.id)
                    if !attempts.isEmpty {
                        chosen = (run, attempts)
                        break
                    }
                }
            }
            guard let (run, attempts) = chosen else { throw UserFacingError("no run in \(store.path) has discovery attempts") }
            let direction = RunRecord(run).direction
            var latest: [String: Skill] = [:]
            for skill in try store.skills(ofRun: run.id) { latest[skill.name] = skill }
            return (SharedView(attempts: attempts, notes: try store.notes(ofRun: run.id),
                               skills: latest.values.sorted { $0.name < $1.name }, direction: direction), direction)
        }
    }

    static func enclosingWorkspace() throws -> DiscoveryWorkspace {
        let start = ProcessInfo.processInfo.environment["COEVO_WORKSPACE"].map { URL(fileURLWithPath: $0) }
            ?? URL(fileURLWithPath: FileManager.default.currentDirectoryPath)
        guard let workspace = DiscoveryWorkspace.enclosing(start) else {
            throw UserFacingError("not inside a discovery agent's workspace (no .coevo/step.json above \(start.path)); on the head node pass --db RUN.sqlite")
        }
        return workspace
    }

    struct Attempts: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "The pool's attempts, best first.")
        @OptionGroup var source: Source
        @Option(help: "How many to list.") var top = 10
        @Option(help: "Only this agent's.") var agent: String?

        func run() throws {
            let (view, direction) = try source.view()
            var attempts = view.attempts.filter { agent == nil || $0.agent == agent }
            let unscored = attempts.filter { $0.score == nil }
            attempts = Attempt.ranked(attempts, direction) + unscored
            guard !attempts.isEmpty else {
                print("no attempts yet")
                return
            }
            print("score        status     agent  round  commit    message")
            for a in attempts.prefix(top) {
                let score = a.score.map { String(format: "%-12.6g", $0) } ?? "-           "
                print("\(score) \(a.status.rawValue.padding(toLength: 10, withPad: " ", startingAt: 0)) \(a.agent.padding(toLength: 6, withPad: " ", startingAt: 0)) \(String(a.round).padding(toLength: 6, withPad: " ", startingAt: 0)) \(a.commit.prefix(8))  \(a.message)")
            }
        }
    }

    struct Notes: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "The pool's notes, oldest first.")
        @OptionGroup var source: Source
        func run() throws {
            let notes = try source.view().0.notes
            if notes.isEmpty { print("no notes yet") }
            for note in notes { print("## \(note.key) (\(note.agent), round \(note.round))\n\(note.body)\n") }
        }
    }

    struct Skills: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "The pool's skills (latest version of each).")
        @OptionGroup var source: Source
        func run() throws {
            let skills = try source.view().0.skills
            if skills.isEmpty { print("no skills yet") }
            for skill in skills { print("## \(skill.name) v\(skill.version) (\(skill.agent)): \(skill.description)\n\(skill.body)\n") }
        }
    }

    struct Checkout: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Inside a workspace: start over from another attempt (its key, a commit prefix, or 'best').",
            discussion: "Your uncommitted changes are dropped; your next `coevo eval` records that attempt as its parent.")
        @Argument(help: "An attempt's key (r3.step.a1), the start of its commit, or 'best'.") var attempt: String
        func run() throws {
            let workspace = try enclosingWorkspace()
            let view = try workspace.sharedView()
            let chosen = attempt == "best" ? Attempt.ranked(view.attempts, view.direction).first
                : view.attempts.first { $0.key == attempt || (attempt.count >= 4 && $0.commit.hasPrefix(attempt)) }
            guard let chosen else {
                throw UserFacingError("no attempt '\(attempt)' in this step's view (coevo memory attempts lists them)")
            }
            try workspace.checkout(attempt: chosen)
            print("now at \(chosen.commit.prefix(8)) (\(chosen.key), score \(chosen.score.map { String($0) } ?? "none"))")
        }
    }

    struct AddNote: ParsableCommand {
        static let configuration = CommandConfiguration(commandName: "add-note", abstract: "Leave a note for the pool (markdown).")
        @Argument(help: "The note's text.") var text: String
        func run() throws {
            guard !text.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty else { throw UserFacingError("a note needs some text") }
            let file = try enclosingWorkspace().addNote(text)
            print("note saved (\(file.lastPathComponent)); the pool gets it when this step ends")
        }
    }

    struct AddSkill: ParsableCommand {
        static let configuration = CommandConfiguration(commandName: "add-skill", abstract: "Add a skill (or a new version of one) for the pool.")
        @Argument(help: "The skill's name.") var name: String
        @Option(help: "One line: what it is for.") var description: String
        @Option(help: "A file with the skill's body (markdown, code).") var body: String
        func run() throws {
            guard let text = try? String(contentsOfFile: body, encoding: .utf8) else { throw UserFacingError("cannot read --body \(body)") }
            let file = try enclosingWorkspace().addSkill(SkillDraft(name: name, description: description, body: text))
            print("skill saved (\(file.lastPathComponent)); the pool gets it when this step ends")
        }
    }
}

/// `coevo eval`: submit the workspace's changes for grading; ends the agent's step.
public struct EvalCommand: ParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "eval",
        abstract: "Inside a discovery agent's workspace: commit every change and submit it for grading.",
        discussion: "Submitting ends the step; the grade comes back in the next step's prompt and in `coevo memory attempts`.")

    @Option(name: .shortAndLong, help: "What this attempt changes.") var message: String

    public init() {}

    public func run() throws {
        let submission = try MemoryCommand.enclosingWorkspace().submit(message: message)
        print("submitted \(submission.commit.prefix(8)) for grading")
    }
}
