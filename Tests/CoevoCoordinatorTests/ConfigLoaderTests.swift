import CoevoCoordinator
import CoevoCore
import Foundation
import Testing

/// Bad input tried: unknown fields at each level, wrong types, impossible values, unknown
/// job kinds, broken YAML. Each must name the field.
@Suite struct ConfigLoaderTests {
    @Test func anEmptyFileIsTheEmbeddedDefaults() throws {
        #expect(try ConfigLoader.parse("") == ExperimentConfig())
        #expect(try ConfigLoader.parse("\n  \n") == ExperimentConfig())
        // What a run started without a config stores, read back when it resumes.
        #expect(try ConfigLoader.parse(ConfigLoader.load(path: nil).text) == ExperimentConfig())
        #expect(try ConfigLoader.parse("# a note\n  # another\n") == ExperimentConfig())
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
        #expect(config.workload.kind == .sleep && config.workload.jobs == 100 && config.workload.sleepMilliseconds == 5)
    }

    @Test(arguments: [
        ("workers: {slot: 4}", "workers.slot", "unknown field"),
        ("wrkers: {slots: 4}", "wrkers", "unknown field"),
        ("workers: {slots: many}", "workers.slots", "expected an integer"),
        ("workers: {slots: 0}", "workers.slots", "between 1 and 100000"),
        ("workers: {count: -1}", "workers.count", "must not be negative"),
        ("workload: {kind: telepathy}", "workload.kind", "unknown kind 'telepathy'"),
        ("workload: {jobs: -5}", "workload.jobs", "at least 1"),
        ("coordinator: {bind: 'localhost:5555'}", "coordinator.bind", "tcp:// or ipc://"),
        ("coordinator: {liveness: 0}", "coordinator.liveness", "between 1 and 100"),
        ("coordinator: {max_attempts: 0}", "coordinator.max_attempts", "at least 1"),
        ("coordinator: {min_workers: 0}", "coordinator.min_workers", "between 1 and 100000"),
        ("coordinator: {grader_keys: keys/graders}", "coordinator.grader_keys", "needs CURVE"),
        ("coordinator: 12", "coordinator", "expected a mapping"),
        ("run: {name: 'has space'}", "run.name", "letters, digits"),
        ("chamber: {agents: 2}", "evolution.team_size", "population starts with 2"),
        // Silent acceptances refused: a batch beside an experiment, and a batch of nothing.
        ("chamber: {}\nworkload: {kind: sleep, jobs: 5}", "workload", "chamber runs instead"),
        ("workload: {jobs: 0}", "workload.jobs", "at least 1"),
        ("chamber: {mix: lumpy}", "chamber.mix", "unknown mix 'lumpy'"),
        ("chamber: {agent: 5}", "chamber.agent", "unknown field"),
        ("chamber: {backend: quantum}", "chamber.backend", "unknown backend 'quantum'"),
        ("chamber: {backend: model}", "chamber.niches", "5 built-in niches"),
        ("chamber: {backend: model, niches: 5}", "endpoints", "list at least one endpoint"),
        ("chamber: {}\nevolution: {codream: {routing: sideways}}", "evolution.codream.routing", "unknown routing mode 'sideways'"),
        ("chamber: {}\nevolution: {structures: [solo, chaos]}", "evolution.structures", "unknown structure 'chaos'"),
        ("chamber: {}\nevolution: {ewma_alpha: -0.5}", "evolution.ewma_alpha", "must be in (0, 1]"),
        ("chamber: {}\nevolution: {lifecycle: {min_population: 30, max_population: 20}}", "evolution.lifecycle.min_population", "above max_population"),
        ("chamber: {}\nevolution: {heartbeats: {custom: [{name: x, every: 0}]}}", "evolution.heartbeats.custom[0].every", "at least 1"),
        ("proposer_solver: {}", "endpoints", "list at least one endpoint"),
        ("endpoints: [{name: m, url: \"http://127.0.0.1:1\", model: y}]\nproposer_solver: {}\npools: {solver: [n]}", "pools.solver", "names endpoint 'n'"),
        ("endpoints: [{name: m, url: \"http://127.0.0.1:1\", model: y}]\nproposer_solver: {}\npools: {attacker: [m]}", "pools.attacker", "no such role"),
        ("endpoints: [{name: m, url: \"http://127.0.0.1:1\", model: y}]\nproposer_solver: {}\npools: {solver: []}", "pools.solver", "at least one endpoint"),
        ("endpoints: [{name: m, url: \"http://127.0.0.1:1\", model: y}]\nchamber: {}\nred_blue: {}", "chamber, red_blue", "one experiment"),
        ("endpoints: [{name: m, url: \"http://127.0.0.1:1\", model: y}]\nproposer_solver: {categories: [poetry]}", "proposer_solver.categories", "unknown category 'poetry'"),
        ("endpoints: [{name: m, url: \"http://127.0.0.1:1\", model: y}]\nproposer_solver: {band: [0.8, 0.3]}", "proposer_solver.band", "low <= high"),
        ("endpoints: [{name: m, url: \"http://127.0.0.1:1\", model: y}]\nproposer_solver: {reward: vibes}", "proposer_solver.reward", "unknown reward 'vibes'"),
        ("endpoints: [{name: m, url: \"http://127.0.0.1:1\", model: y}]\nproposer_solver: {attempts: 1}", "proposer_solver.attempts", "between 2 and 64"),
        ("endpoints: [{name: m, url: \"http://127.0.0.1:1\", model: y}]\nproposer_solver: {rounds: 3, agents: 2}", "proposer_solver.agents", "unknown field"),
        ("endpoints: [{name: m, url: \"http://127.0.0.1:1\", model: y}]\nred_blue: {families: [telepathy]}", "red_blue.families", "unknown family 'telepathy'"),
        ("endpoints: [{name: m, url: \"http://127.0.0.1:1\", model: y}]\nred_blue: {champions: 9}", "red_blue.champions", "between 1 and red_blue.defenders"),
        ("endpoints: [{name: m, url: \"http://127.0.0.1:1\", model: y}]\nred_blue: {benign_per_round: 500}", "red_blue.benign_per_round", "between 0 and 55"),
        ("endpoints: [{name: m, url: \"http://127.0.0.1:1\", model: y}]\nred_blue: {intents_file: /nonexistent/intents.jsonl, judge: {}}", "red_blue.intents_file", "cannot read"),
        ("endpoints: [{name: m, url: \"http://127.0.0.1:1\", model: y}]\nred_blue: {intents_file: Configs/intents/support-bot.jsonl}", "red_blue.judge", "add a judge section"),
        ("endpoints: [{name: m, url: \"http://127.0.0.1:1\", model: y}]\nred_blue: {judge: {threshold: 2}}", "red_blue.judge.threshold", "between 0 and 1"),
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

    /// Every config shipped in Configs/ parses and validates as it is.
    @Test func theShippedConfigsAreValid() throws {
        let configs = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("Configs")
        let names = try FileManager.default.contentsOfDirectory(atPath: configs.path).filter { $0.hasSuffix(".yaml") }
        #expect(names.count >= 8)
        for name in names {
            let text = try String(contentsOf: configs.appendingPathComponent(name), encoding: .utf8)
            #expect(throws: Never.self, "\(name)") { try ConfigLoader.parse(text) }
        }
        let quickstart = try ConfigLoader.parse(try String(contentsOf: configs.appendingPathComponent("quickstart.yaml"), encoding: .utf8))
        #expect(quickstart.proposerSolver != nil && quickstart.modelServer != nil, "the quickstart is proposer/solver on the local model")
    }

    @Test func poolsGiveEachRoleItsEndpoints() throws {
        let config = try ConfigLoader.parse("""
            endpoints:
              - {name: small, url: "http://127.0.0.1:1", model: s}
              - {name: big, url: "http://127.0.0.1:2", model: b}
            pools: {solver: [small, big]}
            proposer_solver: {rounds: 1}
            """)
        #expect(config.endpoints(forRole: "solver").map(\.name) == ["small", "big"])
        #expect(config.endpoints(forRole: "proposer").map(\.name) == ["small"], "a role without a pool uses the first endpoint")
        #expect(config.makeProtocolEngine() is ProposerSolverEngine)
    }

    @Test func anEndpointsBaseURLMayEndInV1AsOpenAIsSDKWritesIt() throws {
        let config = try ConfigLoader.parse("""
            endpoints:
              - {name: a, url: "http://127.0.0.1:8082/v1", model: m}
              - {name: b, url: "http://127.0.0.1:8082/v1/", model: m}
              - {name: c, url: "https://host.example/api/v1", model: m}
              - {name: d, url: "http://127.0.0.1:8082/", model: m}
              - {name: e, url: "http://127.0.0.1:8082/v10", model: m}
            """)
        #expect(config.endpoints.map(\.url) == ["http://127.0.0.1:8082", "http://127.0.0.1:8082", "https://host.example/api",
                                                "http://127.0.0.1:8082", "http://127.0.0.1:8082/v10"])
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
