import CoevoCore
import Foundation

/// The executors a worker offers, by job kind; their kinds are the capabilities it
/// announces in READY.
public struct ExecutorRegistry: Sendable {
    private var executors: [JobKind: any JobExecutor] = [:]

    public init(_ executors: [any JobExecutor]) {
        for executor in executors { self.executors[executor.kind] = executor }
    }

    /// Everything this build can run, within what `policy` allows; discovery agents get
    /// their workspaces under `workspaceRoot`.
    public static func standard(workspaceRoot: URL, policy: WorkerPolicy = WorkerPolicy()) -> ExecutorRegistry {
        let chat = LLMChatExecutor(policy: policy)
        return ExecutorRegistry([NoopExecutor(), SleepExecutor(), SimulatorExecutor(), chat,
                                 DiscoveryStepExecutor(root: workspaceRoot, policy: policy, chat: chat),
                                 DiscoveryGradeExecutor(root: workspaceRoot, policy: policy)])
    }

    public func executor(for kind: JobKind) -> (any JobExecutor)? { executors[kind] }
    /// The kinds offered, as READY announces them.
    public var kinds: [String] { executors.keys.sorted().map(\.rawValue) }
}
