import Foundation

/// A file of a task: its path relative to the task's directory and its bytes.
public struct DiscoveryFile: Codable, Hashable, Sendable {
    public var path: String
    public var data: Data
    public init(path: String, data: Data) {
        self.path = path
        self.data = data
    }
}

/// The commits a job needs, shipped with it so that any worker can rebuild them with no
/// access to the head node: the seed files (every worker makes the same first commit from
/// them, dates and author fixed) and the git bundles of the attempts from the seed to
/// `commit`, oldest first. A worker keeps what it fetched in a cache repository per run.
public struct CommitChain: Codable, Hashable, Sendable {
    public var seedFiles: [DiscoveryFile]
    public var bundles: [Data]
    /// The commit to check out; nil: the seed commit.
    public var commit: String?
    public init(seedFiles: [DiscoveryFile], bundles: [Data], commit: String?) {
        self.seedFiles = seedFiles
        self.bundles = bundles
        self.commit = commit
    }
}

/// The payload of a `discovery.step` job: one step of one agent.
public struct DiscoveryStepJob: Codable, Hashable, Sendable {
    /// `r<round>.step.<agent>`: names the step in the run, the same in every replay.
    public var key: String
    /// The pool's run: names the worker's cache repository.
    public var run: String
    public var agent: String
    /// How the agent starts; the worker builds its command line.
    public var launch: AgentLaunch
    /// The CLI session the agent's last step reported: resumed when this worker holds it.
    public var session: String?
    public var prompt: String
    public var chain: CommitChain
    /// The commits of every attempt in `shared` that `chain` does not already bring, with
    /// their ancestors, oldest first: so `coevo memory checkout` reaches any attempt the
    /// agent can list, on any worker.
    public var viewed: [CommittedBundle] = []
    /// What the agent reads in `.coevo/shared/`.
    public var shared: SharedView
    public var evolve: EvolveMutation?
    public var timeoutMilliseconds: Int
    public var stallMilliseconds: Int
    /// The pool's round, for readers of the run (the dashboard's agents' words).
    public var round: Int?
    /// What the step may use of its worker (nil: `StepLimits()`).
    public var limits: StepLimits?

    public var runtime: DiscoverySettings.Runtime { launch.runtime }

    public init(key: String, run: String, agent: String, launch: AgentLaunch, session: String? = nil, prompt: String,
                chain: CommitChain, shared: SharedView, evolve: EvolveMutation?, timeoutMilliseconds: Int,
                stallMilliseconds: Int) {
        self.key = key
        self.run = run
        self.agent = agent
        self.launch = launch
        self.session = session
        self.prompt = prompt
        self.chain = chain
        self.shared = shared
        self.evolve = evolve
        self.timeoutMilliseconds = timeoutMilliseconds
        self.stallMilliseconds = stallMilliseconds
    }
}

extension DiscoveryStepJob {
    /// What the store keeps of the step: all but the seed's files and the commits' bundles,
    /// which grow with the pool's history and which the pool makes again on resume.
    public var stored: DiscoveryStepJob {
        var job = self
        job.chain = chain.stored
        job.viewed = viewed.map { CommittedBundle(commit: $0.commit, bundle: Data()) }
        return job
    }
}

extension DiscoveryGradeJob {
    /// What the store keeps of the grade: all but the seed's and the grader's files and
    /// the commits' bundles.
    public var stored: DiscoveryGradeJob {
        var job = self
        job.chain = chain.stored
        job.graderFiles = []
        return job
    }
}

extension CommitChain {
    var stored: CommitChain { CommitChain(seedFiles: [], bundles: [], commit: commit) }
}

/// A commit and the git bundle that brings it (its parent must be there first).
public struct CommittedBundle: Codable, Hashable, Sendable {
    public var commit: String
    public var bundle: Data
    public init(commit: String, bundle: Data) {
        self.commit = commit
        self.bundle = bundle
    }
}

/// What the `evolve` runtime does in a step: mutate the numbers of `files` with a
/// generator seeded by `seed` (so the step is a function of the run's seed), then submit.
public struct EvolveMutation: Codable, Hashable, Sendable {
    public var files: [String]
    public var seed: UInt64
    public var scale: Double
    /// The model of the launch's endpoint rewrites one of `files` instead.
    public var byModel: Bool
    public init(files: [String], seed: UInt64, scale: Double, byModel: Bool = false) {
        self.files = files
        self.seed = seed
        self.scale = scale
        self.byModel = byModel
    }
}

/// What a step brings back.
public struct DiscoveryStepOutput: Codable, Hashable, Sendable {
    /// The submitted commit (`coevo eval`), its parent and message; nil: no submission.
    public var commit: String?
    public var parent: String?
    public var message: String
    /// `git bundle` of parent..commit: how the commit travels to graders and later steps.
    public var bundle: Data?
    /// `git diff parent commit`, at most 16 KiB (for the training export).
    public var diff: String = ""
    /// Notes and skills the agent wrote with `coevo memory add-note` / `add-skill`.
    public var notes: [String]
    public var skills: [SkillDraft]
    /// How the agent's process ended ("exit code 0", "killed by the stall watchdog"...).
    public var exit: String
    /// It ended uncleanly: a non-zero exit, a signal, its timeout or the stall watchdog.
    public var crashed: Bool = false
    /// The tail of what the agent printed (for mini-swe-agent: its last replies).
    public var transcript: String
    /// The CLI session the agent ran in, when its runtime reports one.
    public var session: String?
    /// Model calls and tokens the agent reported (0 when it reports none).
    public var modelCalls: Int
    public var tokens: Int
    /// What the step's model calls cost: `AgentLaunch.cost(reported:usage:)`.
    public var costUSD: Double = 0

    public init(commit: String?, parent: String?, message: String, bundle: Data?, notes: [String], skills: [SkillDraft],
                exit: String, transcript: String, modelCalls: Int = 0, tokens: Int = 0) {
        self.commit = commit
        self.parent = parent
        self.message = message
        self.bundle = bundle
        self.notes = notes
        self.skills = skills
        self.exit = exit
        self.transcript = transcript
        self.modelCalls = modelCalls
        self.tokens = tokens
    }
}

/// The payload of a `discovery.grade` job: grade one commit with the task's grader.
public struct DiscoveryGradeJob: Codable, Hashable, Sendable {
    /// `r<round>.grade.<agent>`.
    public var key: String
    public var run: String
    public var chain: CommitChain
    public var command: [String]
    /// The grader's directory: given to this job only, never to a step.
    public var graderFiles: [DiscoveryFile]
    public var timeoutMilliseconds: Int
    /// The grader's user id on root workers (`task.grader_user`; nil: the worker's graders' id).
    public var userID: UInt32?
    /// The candidate's own code, run before the grader's files are written.
    public var candidate: CandidateRun?
    /// The grader may use the network (`task.grader_network`); nil or false: it has none.
    public var network: Bool?

    public init(key: String, run: String, chain: CommitChain, command: [String], graderFiles: [DiscoveryFile],
                timeoutMilliseconds: Int, userID: UInt32?, candidate: CandidateRun? = nil, network: Bool = false) {
        self.key = key
        self.run = run
        self.chain = chain
        self.command = command
        self.graderFiles = graderFiles
        self.timeoutMilliseconds = timeoutMilliseconds
        self.userID = userID
        self.candidate = candidate
        self.network = network ? true : nil
    }
}

/// How a grade runs the candidate's code apart from the grader (`task.candidate_command`):
/// in the candidate's checkout, in a sandbox of its own, before any grader file exists on
/// the worker; the grader gets its output.
public struct CandidateRun: Codable, Hashable, Sendable {
    public var command: [String]
    /// A grader file's path: its bytes are the command's stdin.
    public var input: String?
    public var timeoutMilliseconds: Int

    public init(command: [String], input: String?, timeoutMilliseconds: Int) {
        self.command = command
        self.input = input
        self.timeoutMilliseconds = timeoutMilliseconds
    }

    /// The task's candidate run, or nil when the task has none.
    public init?(_ settings: DiscoverySettings) {
        let task = settings.task
        guard !task.candidateCommand.isEmpty else { return nil }
        self.init(command: task.candidateCommand, input: task.candidateInput,
                  timeoutMilliseconds: task.candidateTimeoutMilliseconds ?? task.graderTimeoutMilliseconds)
    }
}

/// A grader's verdict on a commit. A grader that crashed, hung or printed no score is a
/// verdict too (`failure`), never a job to retry: the same grader on the same commit
/// would do the same.
public struct DiscoveryGradeOutput: Codable, Hashable, Sendable {
    public enum Failure: String, Codable, Hashable, Sendable {
        case crashed, timeout
    }
    public var score: Double?
    /// What the agents are shown (the grader's `feedback`, or why the grade failed).
    public var feedback: String
    public var failure: Failure?
    /// What only the run's owner sees, in the store's events: the grader's `detail`, or what
    /// a failed grader printed, which may quote the candidate's output and hidden inputs.
    public var detail: String?

    public init(score: Double?, feedback: String, failure: Failure? = nil, detail: String? = nil) {
        self.score = score
        self.feedback = feedback
        self.failure = failure
        self.detail = detail
    }
}
