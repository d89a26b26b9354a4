import CoevoBackends
import CoevoCore
import CoevoTestSupport
import Foundation
import Testing

/// Graders in their own processes and a judge on a scripted endpoint. Bad input tried: a
/// grader that crashes, one that hangs, one that prints nonsense, a judge reply without a
/// score, a judge endpoint that is down.
@Suite struct GraderProcessTests {
    let directory: String = {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("coevo-grader-\(UUID().uuidString.prefix(8))").path
        try? FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        return dir
    }()

    func grader(_ python: String, timeout: Int = 20_000) -> CommandGrader {
        var spec = CommandSpec(arguments: ["python3", "-c", python], workingDirectory: directory)
        spec.timeoutMilliseconds = timeout
        return CommandGrader(spec: spec)
    }

    @Test func aCommandGraderGradesAndItsFailuresAreGraderErrors() async throws {
        try "42".write(toFile: directory + "/private-key.txt", atomically: true, encoding: .utf8)
        let exact = grader("""
            import json, sys
            d = json.load(sys.stdin)
            key = open("private-key.txt").read().strip()
            ok = d["answer"].strip() == key
            print(json.dumps({"score": 1.0 if ok else 0.0, "passed": ok, "detail": "checked against the private key"}))
            """)
        let right = await exact.grade(answer: "42", expected: "")
        #expect(right == Grade(score: 1, passed: true, detail: "checked against the private key"))
        #expect(await exact.grade(answer: "41", expected: "").passed == false)

        let crash = await grader("raise SystemExit(3)").grade(answer: "x", expected: "y")
        #expect(crash.graderError == "grader exit code 3")
        let hang = await grader("import time; time.sleep(30)", timeout: 300).grade(answer: "x", expected: "y")
        #expect(hang.graderError == "grader killed after its timeout")
        let nonsense = await grader("print('looks fine to me')").grade(answer: "x", expected: "y")
        #expect(nonsense.graderError?.contains("not {\"score\"") == true)
    }

    @Test func aJudgeScoreIsReadAndAMuteOrDeadJudgeIsAGraderError() async throws {
        let server = try LLMClientFaultTests.FaultServer()
        var retry = RetryPolicy()
        retry.maxAttempts = 2
        retry.baseDelayMilliseconds = 10
        let down = EndpointConfig(name: "down", url: "http://127.0.0.1:\(TestSupport.freePort())", model: "m",
                                  timeoutMilliseconds: 500)
        let llm = try LLMClient(endpoints: [server.endpoint("judge"), server.endpoint("judgemute"), down],
                                http: CurlClient(), retry: retry, seed: 1, environment: [:])
        let judged = await JudgeGrader(endpoint: "judge", rubric: "Score politeness.").grade(answer: "hello", task: "greet", using: llm)
        #expect(judged.score == 0.8 && judged.passed && judged.graderError == nil)
        let mute = await JudgeGrader(endpoint: "judgemute", rubric: "r").grade(answer: "a", task: "t", using: llm)
        #expect(mute.graderError == "judge gave no score: I cannot grade this.")
        let dead = await JudgeGrader(endpoint: "down", rubric: "r").grade(answer: "a", task: "t", using: llm)
        #expect(dead.graderError?.contains("judge endpoint failed") == true)
        #expect(dead.graderError?.contains("connection failed") == true)
    }

    @Test func threeCrashesInThirtySecondsPauseAnAgent() {
        var breaker = CrashBreaker()
        let t = { (ms: Int64) in MonotonicTime(milliseconds: ms) }
        let pauses = [0, 20_000, 31_000, 40_000].map { breaker.crashed(now: t($0)) }
        // The first crash has left the 30 s window by the third; the fourth makes three in it.
        #expect(pauses == [false, false, false, true])
        #expect(breaker.isPaused(now: t(339_999)))
        #expect(!breaker.isPaused(now: t(340_000)))
    }
}
