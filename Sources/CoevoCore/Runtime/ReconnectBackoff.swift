/// Reconnect delays that start at `initial` and double up to `maximum` (zguide's Paranoid
/// Pirate: 1 s doubling to 32 s); `reset` after a successful registration.
public struct ReconnectBackoff: Hashable, Sendable {
    public let initialMilliseconds: Int64
    public let maximumMilliseconds: Int64
    public private(set) var nextMilliseconds: Int64

    public init(initialMilliseconds: Int64 = 1000, maximumMilliseconds: Int64 = 32000) {
        self.initialMilliseconds = initialMilliseconds
        self.maximumMilliseconds = max(initialMilliseconds, maximumMilliseconds)
        self.nextMilliseconds = initialMilliseconds
    }

    /// The delay to wait now; the following call returns twice as much, up to the maximum.
    public mutating func take() -> Int64 {
        let delay = nextMilliseconds
        nextMilliseconds = min(maximumMilliseconds, nextMilliseconds * 2)
        return delay
    }

    public mutating func reset() { nextMilliseconds = initialMilliseconds }
}
