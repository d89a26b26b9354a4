import CoevoCore
import Testing

@Suite struct CoordinatorLinkTests {
    func t(_ ms: Int64) -> MonotonicTime { MonotonicTime(milliseconds: ms) }

    @Test func backoffDoublesFromOneToThirtyTwoSecondsAndResets() {
        var backoff = ReconnectBackoff()
        #expect((0..<8).map { _ in backoff.take() } == [1000, 2000, 4000, 8000, 16000, 32000, 32000, 32000])
        backoff.reset()
        #expect(backoff.take() == 1000)
    }

    @Test func registersThenHeartbeatsWhenIdle() {
        var link = CoordinatorLink(now: t(0))
        #expect(link.tick(now: t(0)) == [.connectAndRegister])
        #expect(link.state == .registering)
        #expect(link.tick(now: t(999)).isEmpty)
        #expect(link.tick(now: t(1000)) == [.register])  // no WELCOME yet: ask again
        link.received(now: t(1100), isWelcome: true)
        #expect(link.state == .connected)
        #expect(link.nextDeadline == t(2000))  // one interval after the last send
        #expect(link.tick(now: t(2000)) == [.sendHeartbeat])
        link.sent(now: t(2500))
        #expect(link.tick(now: t(3000)).isEmpty)  // sent something 500 ms ago
    }

    @Test func aSilentCoordinatorIsLostAfterLivenessIntervalsAndRetriedWithBackoff() {
        var link = CoordinatorLink(now: t(0))
        _ = link.tick(now: t(0))
        link.received(now: t(10), isWelcome: true)
        link.sent(now: t(2900))
        #expect(link.tick(now: t(3009)).isEmpty)
        #expect(link.tick(now: t(3010)) == [.disconnect(silentForMilliseconds: 3000, retryInMilliseconds: 1000)])
        #expect(link.state == .waiting(until: t(4010)))
        #expect(link.tick(now: t(4009)).isEmpty)
        #expect(link.tick(now: t(4010)) == [.connectAndRegister])
        // Still nothing heard: the next wait is twice as long.
        #expect(link.tick(now: t(7010)) == [.disconnect(silentForMilliseconds: 3000, retryInMilliseconds: 2000)])
        #expect(link.tick(now: t(9010)) == [.connectAndRegister])
        link.received(now: t(9020), isWelcome: true)
        #expect(link.backoff.nextMilliseconds == 1000)
    }

    @Test func aForgetfulCoordinatorGetsReadyAtOnceButNotInALoop() {
        var link = CoordinatorLink(now: t(0))
        _ = link.tick(now: t(0))
        link.received(now: t(5), isWelcome: true)
        #expect(link.forgotten(now: t(100)) == [.register])
        #expect(link.forgotten(now: t(200)).isEmpty)  // already re-registering
        #expect(link.forgotten(now: t(1100)) == [.register])
    }

    @Test func goodbyeOrRefusalWaitsOutTheBackoff() {
        var link = CoordinatorLink(now: t(0))
        _ = link.tick(now: t(0))
        link.received(now: t(5), isWelcome: true)
        #expect(link.lost(now: t(50)) == [.disconnect(silentForMilliseconds: 45, retryInMilliseconds: 1000)])
        #expect(link.lost(now: t(60)).isEmpty)
        #expect(link.tick(now: t(1050)) == [.connectAndRegister])
    }
}
