import CoevoCoordinator
import CoevoCore
import Testing

/// Bad input tried: unknown fields at each level, wrong types, impossible values, unknown
/// job kinds, broken YAML. Each must name the field.
@Suite struct ConfigLoaderTests {
    @Test func anEmptyFileIsTheEmbeddedDefaults() throws {
        #expect(try ConfigLoader.parse("") == ExperimentConfig())
        #expect(try ConfigLoader.parse("\n  \n") == ExperimentConfig())
    }

    @Test func fieldsOverrideDefaults() throws {
        let config = try ConfigLoader.parse("""
            run: {name: exp-1, seed: 7}
            coordinator:
              bind: tcp://0.0.0.0:6000
              heartbeat_interval_ms: 500
              max_attempts: 5
            workers: {count: 3, slots: 8}
            workload: {kind: sleep, jobs: 100, sleep_ms: 5}
            """)
        #expect(config.run.name == "exp-1" && config.run.seed == 7)
        #expect(config.coordinator.bind == "tcp://0.0.0.0:6000")
        #expect(config.coordinator.heartbeatIntervalMilliseconds == 500)
        #expect(config.coordinator.maxAttempts == 5)
        #expect(config.coordinator.liveness == 3)  // untouched default
        #expect(config.workers.count == 3 && config.workers.slots == 8)
        #expect(config.workload.kind == "sleep" && config.workload.jobs == 100 && config.workload.sleepMilliseconds == 5)
    }

    @Test(arguments: [
        ("workers: {slot: 4}", "workers.slot", "unknown field"),
        ("wrkers: {slots: 4}", "wrkers", "unknown field"),
        ("workers: {slots: many}", "workers.slots", "expected an integer"),
        ("workers: {slots: 0}", "workers.slots", "between 1 and 100000"),
        ("workers: {count: -1}", "workers.count", "must not be negative"),
        ("workload: {kind: telepathy}", "workload.kind", "unknown kind 'telepathy'"),
        ("workload: {jobs: -5}", "workload.jobs", "must not be negative"),
        ("coordinator: {bind: 'localhost:5555'}", "coordinator.bind", "tcp:// or ipc://"),
        ("coordinator: {liveness: 0}", "coordinator.liveness", "between 1 and 100"),
        ("coordinator: {max_attempts: 0}", "coordinator.max_attempts", "at least 1"),
        ("coordinator: 12", "coordinator", "expected a mapping"),
        ("run: {name: 'has space'}", "run.name", "letters, digits"),
    ])
    func brokenConfigsNameTheField(yaml: String, field: String, problem: String) {
        #expect {
            try ConfigLoader.parse(yaml)
        } throws: { error in
            guard let error = error as? ConfigError else { return false }
            return error.field == field && error.problem.contains(problem)
                && error.description.contains("'\(field)'")
        }
    }

    @Test func brokenYamlSaysSo() {
        #expect {
            try ConfigLoader.parse("workers: [unclosed")
        } throws: { error in
            (error as? ConfigError)?.problem.contains("YAML") == true
        }
    }

    @Test func aMissingFileSaysWhichFile() {
        #expect {
            try ConfigLoader.load(path: "/nonexistent/coevo.yaml")
        } throws: { error in
            (error as? ConfigError)?.problem.contains("/nonexistent/coevo.yaml") == true
        }
    }
}
