import Foundation
import Glibc

/// How an agent that calls model endpoints reaches them and nothing else. Its sandbox has
/// no network but a loopback of its own; for each endpoint the worker listens on a Unix
/// socket in a directory the sandbox sees and relays every connection to the endpoint's
/// host and port, and inside the sandbox a relay listens where the agent dials (the
/// endpoint's own loopback address and port, or an address of its own that the sandbox's
/// `/etc/hosts` gives the endpoint's host name) and hands each connection to that socket.
/// TLS passes through untouched. Both relays are socat.
///
/// Hosts it may reach besides (`egress`: its CLI's vendor, its group's `egress`) it reaches
/// through an `EgressProxy` on another socket, dialled inside at `proxyURL`, which the
/// sandbox's `HTTPS_PROXY` names.
///
/// An endpoint whose host is a plain-HTTP address off loopback gets a loopback address of
/// its own inside, and the agent is given its URL with that address (`inside`): the sandbox
/// has no such address to dial. Over HTTPS that would break the certificate check, so
/// `plan` returns nil for one, and the agent shares the worker's network.
public struct EndpointRelay: Sendable {
    public struct Route: Hashable, Sendable {
        public let host: String
        public let port: Int
        /// Where the agent dials inside the sandbox.
        public let address: String
        public let socket: String
    }

    public let routes: [Route]
    public let directory: URL
    public let egress: EgressProxy?

    /// Where the agent finds its egress proxy inside: a loopback address no endpoint takes.
    static let proxyAddress = "127.0.3.1", proxyPort = 3128
    public static var proxyURL: String { "http://\(proxyAddress):\(proxyPort)" }

    /// The relay for `urls` and a proxy to `egress` (none when empty), with its sockets in
    /// `directory`; nil when an endpoint cannot be relayed.
    public static func plan(urls: [String], egress: [String] = [], directory: URL) -> EndpointRelay? {
        var routes: [Route] = []
        for url in urls {
            guard let parts = URLComponents(string: url), let host = parts.host?.lowercased() else { return nil }
            let port = parts.port ?? (parts.scheme?.lowercased() == "https" ? 443 : 80)
            guard !routes.contains(where: { $0.host == host && $0.port == port }) else { continue }
            let address: String
            if host == "localhost" || host.hasPrefix("127.") {
                address = host == "localhost" ? "127.0.0.1" : host
            } else if Self.isAddress(host) && parts.scheme?.lowercased() != "http" {
                return nil  // an address off loopback, over TLS
            } else {
                // A name or an address: an address of its own inside, so two may share a port.
                address = "127.0.2.\(routes.count + 1)"
            }
            routes.append(Route(host: host, port: port, address: address,
                                socket: directory.appendingPathComponent("\(routes.count).sock").path))
        }
        let proxy = egress.isEmpty ? nil : EgressProxy(domains: egress, socket: directory.appendingPathComponent("egress.sock").path)
        return EndpointRelay(routes: routes, directory: directory, egress: proxy)
    }

    static func isAddress(_ host: String) -> Bool { host.contains(":") || host.allSatisfy { $0.isNumber || $0 == "." } }

    /// `url` as the agent dials it inside: an address off loopback becomes its route's
    /// address; any other URL is unchanged (a name resolves to it through `hosts`).
    public func inside(_ url: String) -> String {
        guard var parts = URLComponents(string: url), let host = parts.host?.lowercased(), Self.isAddress(host),
              let route = routes.first(where: { $0.host == host && $0.port == (parts.port ?? 80) }),
              route.address != host else { return url }
        parts.host = route.address
        return parts.string ?? url
    }

    /// What the agent's environment says of the proxy: every HTTP client's variables, and
    /// its endpoints (relayed directly) past it.
    public var environment: [String: String] {
        guard egress != nil else { return [:] }
        var direct = ["localhost", "127.0.0.1"]
        for name in routes.flatMap({ [$0.host, $0.address] }) where !direct.contains(name) { direct.append(name) }
        let bypass = direct.joined(separator: ",")
        return ["HTTPS_PROXY": Self.proxyURL, "https_proxy": Self.proxyURL, "HTTP_PROXY": Self.proxyURL, "http_proxy": Self.proxyURL,
                "NO_PROXY": bypass, "no_proxy": bypass]
    }

    /// What listens inside: each endpoint's route, then the proxy's.
    private var listeners: [(address: String, port: Int, socket: String)] {
        routes.map { ($0.address, $0.port, $0.socket) } + (egress.map { [(Self.proxyAddress, Self.proxyPort, $0.socket)] } ?? [])
    }

    /// The file shown as the sandbox's `/etc/hosts` (`hosts`), beside the sockets.
    public var hostsFile: URL { directory.appendingPathComponent("hosts") }

    /// The sandbox's `/etc/hosts`: loopback, and each endpoint name at its address.
    public var hosts: String {
        (["127.0.0.1 localhost", "::1 localhost"] + routes.filter { !$0.host.hasPrefix("127.") && $0.host != "localhost" && !Self.isAddress($0.host) }
            .map { "\($0.address) \($0.host)" }).joined(separator: "\n") + "\n"
    }

    /// `arguments` run inside the sandbox behind the inner relays: each listens first, and
    /// the agent starts once all do (read from the sandbox's own `/proc/net/tcp`).
    public func wrap(_ arguments: [String]) -> [String] {
        var script = listeners.map { listener in
            "socat TCP-LISTEN:\(listener.port),bind=\(listener.address),fork,reuseaddr UNIX-CONNECT:\(listener.socket) &"
        }
        let ports = listeners.map { String(format: ":%04X 00000000:0000 0A", $0.port) }
        script.append("""
            n=0; while [ $n -lt 250 ]; do up=1; for p in \(ports.map { "'\($0)'" }.joined(separator: " ")); do \
            grep -q "$p" /proc/net/tcp || up=0; done; [ $up = 1 ] && break; sleep 0.02; n=$((n+1)); done
            """)
        script.append(#"exec "$@""#)
        return ["/bin/sh", "-c", script.joined(separator: "\n"), "sh"] + arguments
    }

    /// Starts the worker's side afresh in `directory` (passable, not listable): the hosts
    /// file, and one relay per endpoint, its socket the agent's (`owner`) to connect to.
    /// Returns once every socket exists; `stop` ends them.
    public func start(owner: UInt32?) throws -> Running {
        try? FileManager.default.removeItem(at: directory)
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o711])
        try Data(hosts.utf8).write(to: hostsFile)
        let running = Running()
        if let egress { running.proxy = try egress.start(owner: owner) }
        for route in routes {
            let process = Process()
            process.executableURL = URL(fileURLWithPath: "/usr/bin/socat")
            let access = owner.map { ",user=\($0),mode=600" } ?? ",mode=600"
            process.arguments = ["UNIX-LISTEN:\(route.socket),fork,unlink-early\(access)", "TCP:\(route.host):\(route.port)"]
            process.standardOutput = FileHandle.nullDevice
            process.standardError = FileHandle.nullDevice
            try process.run()
            running.processes.append(process)
        }
        let deadline = Date(timeIntervalSinceNow: 5)
        while !routes.allSatisfy({ access($0.socket, F_OK) == 0 }) {
            guard Date() < deadline, running.processes.allSatisfy(\.isRunning) else {
                running.stop()
                throw RelayError(description: "the relay to \(routes.map { "\($0.host):\($0.port)" }.joined(separator: ", ")) did not start (is socat installed?)")
            }
            usleep(5_000)
        }
        return running
    }

    public final class Running: @unchecked Sendable {
        fileprivate var processes: [Process] = []
        fileprivate var proxy: EgressProxy.Running?
        /// SIGKILL: a relay keeps nothing, and SIGTERM may be ignored by what we inherited.
        /// A connection already relayed ends with its agent's side.
        public func stop() {
            proxy?.stop()
            for process in processes where process.isRunning { kill(process.processIdentifier, SIGKILL) }
            for process in processes { process.waitUntilExit() }
        }
    }

    struct RelayError: Error, CustomStringConvertible {
        let description: String
    }
}
