@testable import CoevoCoordinator
import CoevoCore
import CoevoStore
import Foundation
import Logging
import Testing

/// What a starting coordinator serves, against a real SQLite file: an unfinished run of
/// the config's name is resumed only on the config it started with unless the user says
/// otherwise, and a database opened without a config is never given a new run.
@Suite struct RunLauncherTests {
    static let logger = Logger(label: "test")
    static let batch = "run: {name: b, seed: 1}\nworkload: {kind: sleep, jobs: 50}\n"

    static func store() throws -> CoevoStore {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("launcher-\(UUID().uuidString).sqlite").path
        return try CoevoStore(path: path)
    }

    static func prepare(_ text: String, _ store: CoevoStore, given: Bool = true,
                        intent: RunLauncher.Intent = .auto, at second: Double = 0) throws -> RunLauncher.Plan {
        try RunLauncher.prepare(config: ConfigLoader.parse(text), configText: text, store: store, logger: logger,
                                configGiven: given, intent: intent, now: Date(timeIntervalSince1970: 1_800_000_000 + second))
    }

    @Test func theSameConfigResumesItsRunAndCommentsAndWorkersDoNotCount() throws {
        let store = try Self.store()
        let first = try Self.prepare(Self.batch, store)
        let edited = "# a note\n" + Self.batch + "workers: {count: 7}\n"
        let again = try Self.prepare(edited, store, at: 1)
        #expect(again.created == nil && again.resumed.map(\.id) == [first.created!.id])
    }

    @Test func aChangedConfigIsRefusedUntilTheUserSaysResumeOrNewRun() throws {
        let store = try Self.store()
        let first = try Self.prepare(Self.batch, store).created!
        let changed = Self.batch.replacingOccurrences(of: "jobs: 50", with: "jobs: 60")
        #expect {
            try Self.prepare(changed, store, at: 1)
        } throws: { error in
            let text = "\(error)"
            return text.contains("run \(first.id)") && text.contains("changed: workload") && text.contains("--resume") && text.contains("--new-run")
        }
        #expect(try store.runCount() == 1, "a refusal writes nothing")

        let resumed = try Self.prepare(changed, store, intent: .resume, at: 2)
        #expect(resumed.created == nil && resumed.resumed.map(\.id) == [first.id])
        #expect(try store.run(id: first.id)?.config == Self.batch, "the stored config is the one served")

        let fresh = try Self.prepare(changed, store, intent: .newRun, at: 3)
        #expect(fresh.resumed.isEmpty && fresh.created != nil)
        #expect(try store.run(id: first.id)?.state == .abandoned)
        #expect(try store.unfinishedRuns().map(\.id) == [fresh.created!.id], "an abandoned run is never resumed")
    }

    @Test func anotherExperimentsConfigStartsBesideAnUnfinishedRun() throws {
        let store = try Self.store()
        let first = try Self.prepare(Self.batch, store).created!
        let other = try Self.prepare("run: {name: other}\nworkload: {kind: noop, jobs: 5}\n", store, at: 1)
        #expect(other.resumed.map(\.id) == [first.id] && other.created?.name == "other")
    }

    /// Bad input: `coevo-coordinator --database OLD` with no config, once on a database whose
    /// runs all finished and once on one with an unfinished run.
    @Test func aDatabaseOpenedWithoutAConfigIsOnlyResumed() throws {
        let store = try Self.store()
        let first = try Self.prepare(Self.batch, store).created!
        let defaults = try ConfigLoader.load(path: nil)
        let resumed = try Self.prepare(defaults.text, store, given: false, at: 1)
        #expect(resumed.created == nil && resumed.resumed.map(\.id) == [first.id])

        store.writer.enqueue(.runState(first.id, .finished, at: 2))
        store.writer.flush()
        #expect {
            try Self.prepare(defaults.text, store, given: false, at: 3)
        } throws: { "\($0)".contains("every run in \(store.path) is finished") }
        #expect(try store.runCount() == 1, "no 20,000-job batch was written into it")
    }

    @Test func aRunOfTheEmbeddedDefaultsResumes() throws {
        let store = try Self.store()
        let defaults = try ConfigLoader.load(path: nil)
        let first = try Self.prepare(defaults.text, store, given: false).created!
        let again = try Self.prepare(defaults.text, store, given: false, at: 1)
        #expect(again.created == nil && again.resumed.map(\.id) == [first.id])
        #expect(try ServedRun.load(from: store).first?.configProblem == nil, "its stored config loads")
    }
}
