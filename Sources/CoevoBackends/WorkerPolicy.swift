import CoevoCore
import Foundation

/// What a worker lets its jobs use, set by whoever starts the worker and never by a job:
/// which endpoints an `llm.chat` job may call, which of the worker's environment
/// variables (API keys) may be sent to which endpoint, and which programs an
/// discovery agent may run, and how code it does not trust is confined. A job asking
/// for anything else fails, and the error names what was refused and the flag that would
/// allow it. Pure: decides, does nothing.
public struct WorkerPolicy: Hashable, Sendable {
    /// Base URLs an endpoint may live under (scheme, host and port equal, path under).
    /// Endpoints on this machine (loopback) are always allowed.
    public var endpoints: [String]
    /// Environment variable -> base URLs its value may be sent to.
    public var keys: [String: [String]]
    /// Programs (argv[0], exactly) a discovery agent may start.
    public var commands: [String]
    /// Environment variables whose values a discovery agent may be given.
    public var agentKeys: [String]
    /// Hosts a group's `egress` may name (`EgressProxy` domains; a group's domain must be one
    /// of these or under one). A CLI's own vendor needs none: allowing the program allows it.
    public var egress: [String]
    /// How agents, candidates and graders run here (by default: sandboxed where this
    /// machine can, each with a user id of its own where the worker is root).
    public var confinement: Confinement

    public init(endpoints: [String] = [], keys: [String: [String]] = [:], commands: [String] = [], agentKeys: [String] = [],
                egress: [String] = [], confinement: Confinement = .detected) {
        self.endpoints = endpoints
        self.keys = keys
        self.commands = commands
        self.agentKeys = agentKeys
        self.egress = egress
        self.confinement = confinement
    }

    /// Why this worker may not call `endpoint`, or nil when it may.
    public func refusal(for endpoint: LLMJob.Endpoint) -> String? {
        // Judged by where calls go (every API path is under the base's /v1), so an
        // allowed `https://host/v1` and an endpoint written `https://host` agree.
        guard URLComponents(string: endpoint.url)?.host != nil, let url = URLComponents(string: endpoint.url + "/v1") else {
            return "endpoint \(endpoint.name) has no usable URL ('\(endpoint.url)')"
        }
        if !Self.isLoopback(url) && !endpoints.contains(where: { Self.url(url, isUnder: $0) }) {
            return "endpoint \(endpoint.name) (\(endpoint.url)) is not allowed on this worker: start it with --allow-endpoint \(Self.base(of: url))"
        }
        if let variable = endpoint.apiKeyEnv, !(keys[variable] ?? []).contains(where: { Self.url(url, isUnder: $0) }) {
            return "endpoint \(endpoint.name) asks for the key in \(variable); this worker sends it to no endpoint it was not told to: start it with --allow-key \(variable)=\(Self.base(of: url))"
        }
        return nil
    }

    /// Why this worker may not run `command` with the secrets named, or nil when it may.
    /// `noun` names what asks ("agent command", "grade command").
    public func refusal(forCommand command: [String], secretNames: [String] = [], noun: String = "agent command") -> String? {
        guard let program = command.first else { return "an \(noun) needs a program" }
        guard commands.contains(program) else {
            return "\(noun) '\(program)' is not allowed on this worker: start it with --allow-command \(program)"
        }
        if let name = secretNames.first(where: { !agentKeys.contains($0) }) {
            return "\(noun) '\(program)' asks for $\(name); this worker gives agents no variable it was not told to: start it with --allow-agent-key \(name)"
        }
        return nil
    }

    /// Why an agent may not reach the hosts its group's `egress` names here, or nil.
    public func refusal(forEgress domains: [String]) -> String? {
        for domain in domains {
            let (host, port) = EgressProxy.hostAndPort(domain)
            if !EgressProxy.allows(host: host, port: port ?? 0, under: egress) {
                return "egress to \(domain) is not allowed on this worker: start it with --allow-egress \(domain)"
            }
        }
        return nil
    }

    /// `url` lies under `base`: same scheme, host (any case) and port, and its path under
    /// base's path at a segment boundary (so `https://api.x.com` does not allow
    /// `https://api.x.com.evil.org` nor `/v1` allow `/v10`).
    static func url(_ url: URLComponents, isUnder base: String) -> Bool {
        guard let allowed = URLComponents(string: base), let host = allowed.host,
              url.scheme?.lowercased() == allowed.scheme?.lowercased(),
              url.host?.lowercased() == host.lowercased(),
              port(of: url) == port(of: allowed) else { return false }
        let prefix = allowed.path.hasSuffix("/") ? String(allowed.path.dropLast()) : allowed.path
        return prefix.isEmpty || url.path == prefix || url.path.hasPrefix(prefix + "/")
    }

    static func isLoopback(_ url: URLComponents) -> Bool {
        guard let host = url.host?.lowercased() else { return false }
        return host == "localhost" || host.hasPrefix("127.") || host == "::1" || host == "[::1]"
    }

    private static func port(of url: URLComponents) -> Int? {
        url.port ?? (url.scheme?.lowercased() == "https" ? 443 : url.scheme?.lowercased() == "http" ? 80 : nil)
    }

    private static func base(of url: URLComponents) -> String {
        "\(url.scheme ?? "https")://\(url.host ?? "")" + (url.port.map { ":\($0)" } ?? "")
    }
}
