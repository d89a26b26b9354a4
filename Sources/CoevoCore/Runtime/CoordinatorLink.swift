/// The worker's view of its coordinator as a pure state machine: when to send READY and
/// HEARTBEAT, when the coordinator counts as lost, and when to reconnect. Any message
/// from the coordinator counts as a heartbeat; any message to it resets the send timer.
public struct CoordinatorLink: Sendable {
    public enum State: Hashable, Sendable {
        /// Socket closed; reconnect at the given time.
        case waiting(until: MonotonicTime)
        /// Socket open, READY sent, no WELCOME yet.
        case registering
        /// WELCOME received.
        case connected
    }

    /// What the shell must do.
    public enum Action: Hashable, Sendable {
        /// Open a fresh socket to the coordinator and send READY.
        case connectAndRegister
        /// Send READY again on the open socket (e.g. the coordinator restarted and forgot us).
        case register
        case sendHeartbeat
        /// Close the socket: the coordinator has been silent for `silentForMilliseconds`;
        /// the link will reconnect after `retryInMilliseconds`.
        case disconnect(silentForMilliseconds: Int64, retryInMilliseconds: Int64)
    }

    public let heartbeatIntervalMilliseconds: Int64
    public let liveness: Int64
    public private(set) var state: State
    public private(set) var backoff: ReconnectBackoff
    private var lastHeard: MonotonicTime
    private var lastSent: MonotonicTime

    public init(heartbeatIntervalMilliseconds: Int64 = 1000, liveness: Int64 = 3,
                backoff: ReconnectBackoff = ReconnectBackoff(), now: MonotonicTime) {
        self.heartbeatIntervalMilliseconds = heartbeatIntervalMilliseconds
        self.liveness = liveness
        self.backoff = backoff
        self.state = .waiting(until: now)
        self.lastHeard = now
        self.lastSent = now
    }

    private var silenceLimit: Int64 { heartbeatIntervalMilliseconds * liveness }

    /// Something arrived from the coordinator. `isWelcome` marks the registration answer.
    public mutating func received(now: MonotonicTime, isWelcome: Bool) {
        lastHeard = now
        if isWelcome {
            state = .connected
            backoff.reset()
        }
    }

    /// Something was sent to the coordinator.
    public mutating func sent(now: MonotonicTime) { lastSent = now }

    /// The coordinator answered that it does not know this worker (it restarted, or it
    /// expired us while we were cut off): register again at once on the same socket.
    public mutating func forgotten(now: MonotonicTime) -> [Action] {
        guard state != .registering || now - lastSent >= heartbeatIntervalMilliseconds else { return [] }
        state = .registering
        lastSent = now
        return [.register]
    }

    /// The coordinator said goodbye (DISCONNECT) or refused our registration (a duplicate
    /// id): close the socket and try again after the backoff delay.
    public mutating func lost(now: MonotonicTime) -> [Action] {
        if case .waiting = state { return [] }
        let delay = backoff.take()
        state = .waiting(until: now + delay)
        return [.disconnect(silentForMilliseconds: now - lastHeard, retryInMilliseconds: delay)]
    }

    /// Advances the timers; call when the deadline from `nextDeadline` passes.
    public mutating func tick(now: MonotonicTime) -> [Action] {
        switch state {
        case .waiting(let until):
            guard now >= until else { return [] }
            state = .registering
            lastHeard = now
            lastSent = now
            return [.connectAndRegister]
        case .registering, .connected:
            let silence = now - lastHeard
            if silence >= silenceLimit {
                let delay = backoff.take()
                state = .waiting(until: now + delay)
                return [.disconnect(silentForMilliseconds: silence, retryInMilliseconds: delay)]
            }
            guard now - lastSent >= heartbeatIntervalMilliseconds else { return [] }
            lastSent = now
            return state == .connected ? [.sendHeartbeat] : [.register]
        }
    }

    /// When `tick` next has something to do.
    public var nextDeadline: MonotonicTime {
        switch state {
        case .waiting(let until):
            return until
        case .registering, .connected:
            return min(lastHeard + silenceLimit, lastSent + heartbeatIntervalMilliseconds)
        }
    }
}
