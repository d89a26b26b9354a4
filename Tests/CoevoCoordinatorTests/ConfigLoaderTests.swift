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
        ("chamber: {agents: 2}", "evolution.team_size", "population starts with 2"),
        ("chamber: {mix: lumpy}", "chamber.mix", "unknown mix 'lumpy'"),
        ("chamber: {agent: 5}", "chamber.agent", "unknown field"),
        ("chamber: {}\nevolution: {codream: {routing: sideways}}", "evolution.codream.routing", "unknown routing mode 'sideways'"),
        ("chamber: {}\nevolution: {structures: [solo, chaos]}", "evolution.structures", "unknown structure 'chaos'"),
        ("chamber: {}\nevolution: {ewma_alpha: -0.5}", "evolution.ewma_alpha", "must be in (0, 1]"),
        ("chamber: {}\nevolution: {lifecycle: {min_population: 30, max_population: 20}}", "evolution.lifecycle.min_population", "above max_population"),
        ("chamber: {}\nevolution: {heartbeats: {custom: [{name: x, every: 0}]}}", "evolution.heartbeats.custom[0].every", "at least 1"),
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

    @Test func aChamberConfigCarriesTheRunSeedAndTheEvolutionSections() throws {
        let config = try ConfigLoader.parse("""
            run: {seed: 5}
            chamber: {niches: 4, agents: 10, mix: zipf, drift_every: 7}
            evolution:
              team_size: 2
              codream: {routing: none, max_recipients: 2}
              lifecycle: {max_population: 30}
              heartbeats: {custom: [{name: nudge, every: 4, scope: global, trigger: plateau, prompt: "try again"}]}
            simulator: {steepness: 2.0}
            """)
        let chamber = try #require(config.chamberSettings)
        #expect(chamber.seed == 5 && chamber.niches == 4 && chamber.agents == 10)
        #expect(chamber.mix == .zipf && chamber.driftEvery == 7)
        #expect(chamber.evolution.teamSize == 2)
        #expect(chamber.evolution.codream.routing == .none && chamber.evolution.codream.maxRecipients == 2)
        #expect(chamber.evolution.lifecycle.maxPopulation == 30)
        #expect(chamber.evolution.heartbeats.custom == [CustomHeartbeat(name: "nudge", every: 4, scope: .global, trigger: .plateau, prompt: "try again")])
        #expect(chamber.simulator.steepness == 2.0)
        #expect(try ConfigLoader.parse("run: {seed: 5}").chamberSettings == nil)
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
