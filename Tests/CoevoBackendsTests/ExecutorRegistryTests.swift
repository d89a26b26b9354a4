@testable import CoevoBackends
import CoevoCore
import Foundation
import Testing

@Suite struct ExecutorRegistryTests {
    /// A model-written mutation is an `llm.chat` call in all but name: it must wait on the
    /// same per-endpoint concurrency limit and trip the same breaker as the worker's chat
    /// jobs, which holds only if both go through one executor (one client per endpoint).
    @Test func discoveryStepsCallModelsThroughTheWorkersOwnChatExecutor() throws {
        let registry = ExecutorRegistry.standard(workspaceRoot: FileManager.default.temporaryDirectory)
        let chat = try #require(registry.executor(for: .llm) as? LLMChatExecutor)
        let step = try #require(registry.executor(for: .discoveryStep) as? DiscoveryStepExecutor)
        #expect(step.chat === chat)
        #expect(registry.kinds == ["discovery.grade", "discovery.step", "llm.chat", "noop", "sim.turn", "sleep"])
    }
}
