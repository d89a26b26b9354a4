import Foundation

/// Token usage of one call, as the endpoint reported it.
public struct TokenUsage: Hashable, Sendable {
    public var promptTokens: Int
    public var completionTokens: Int
    public init(promptTokens: Int, completionTokens: Int) {
        self.promptTokens = promptTokens
        self.completionTokens = completionTokens
    }
    public var total: Int { promptTokens + completionTokens }
}

/// USD per million tokens, from the config's price table.
public struct Price: Hashable, Sendable, Codable {
    public var inputPerMillion: Double
    public var outputPerMillion: Double
    public init(inputPerMillion: Double = 0, outputPerMillion: Double = 0) {
        self.inputPerMillion = inputPerMillion
        self.outputPerMillion = outputPerMillion
    }
    public func cost(of usage: TokenUsage) -> Double {
        (Double(usage.promptTokens) * inputPerMillion + Double(usage.completionTokens) * outputPerMillion) / 1_000_000
    }
}

/// A run's spending limits. Dispatch stops cleanly once any is reached; what is already
/// running finishes and is counted.
public struct Budget: Hashable, Sendable {
    public var maxTokens: Int?
    public var maxUSD: Double?
    public var maxCalls: Int?
    public private(set) var tokens = 0
    public private(set) var usd = 0.0
    public private(set) var calls = 0

    public init(maxTokens: Int? = nil, maxUSD: Double? = nil, maxCalls: Int? = nil) {
        self.maxTokens = maxTokens
        self.maxUSD = maxUSD
        self.maxCalls = maxCalls
    }

    public mutating func charge(_ usage: TokenUsage, price: Price) {
        calls += 1
        tokens += usage.total
        usd += price.cost(of: usage)
    }

    /// Records a call whose cost was already worked out (by the worker that made it).
    public mutating func chargeCost(_ usage: TokenUsage, usd cost: Double) {
        calls += 1
        tokens += usage.total
        usd += cost
    }

    /// Why no new call may start, or nil while the budget lasts.
    public var exhausted: String? {
        if let maxCalls, calls >= maxCalls { return "call budget reached (\(calls) of \(maxCalls))" }
        if let maxTokens, tokens >= maxTokens { return "token budget reached (\(tokens) of \(maxTokens))" }
        if let maxUSD, usd >= maxUSD { return String(format: "USD budget reached ($%.4f of $%.4f)", usd, maxUSD) }
        return nil
    }
}
