import Foundation
import Glibc
import Synchronization

/// The way out of an agent's sandbox to the hosts its tool needs besides its endpoint (a
/// CLI's vendor API when it has no endpoint, a package index the pool allows): an HTTP
/// CONNECT proxy the worker runs for one step on a Unix socket that only the sandbox's
/// relay reaches. A tunnel opens only to a host named by `domains` (the name itself or
/// any name under it) on port 443, or on the port a domain names (`host:port`); the
/// request line and its headers are all the proxy reads, and what follows passes
/// through untouched, so TLS runs end to end. Every other request is answered 403.
public struct EgressProxy: Hashable, Sendable {
    /// `example.com` (port 443, the name and every name under it) or `host:port`.
    public let domains: [String]
    public let socket: String

    public init(domains: [String], socket: String) {
        self.domains = domains
        self.socket = socket
    }

    /// Whether a tunnel to `host`:`port` is allowed.
    public func allows(host: String, port: Int) -> Bool { Self.allows(host: host, port: port, under: domains) }

    /// Whether `domains` let a tunnel open to `host`:`port`.
    static func allows(host: String, port: Int, under domains: [String]) -> Bool {
        let host = host.lowercased().trimmingCharacters(in: CharacterSet(charactersIn: "."))
        guard !host.isEmpty else { return false }
        return domains.contains { rule in
            let (name, wanted) = hostAndPort(rule.lowercased())
            return port == wanted && (host == name || host.hasSuffix("." + name))
        }
    }

    /// A domain as it is written (`example.com`, `host:port`): its name and port (443 unless named).
    static func hostAndPort(_ domain: String) -> (host: String, port: Int?) {
        let parts = domain.split(separator: ":", maxSplits: 1)
        return (String(parts.first ?? ""), parts.count == 2 ? Int(parts[1]) : 443)
    }

    /// The request line of a CONNECT, or why it is refused.
    static func target(of header: String) -> (host: String, port: Int)? {
        guard let line = header.split(separator: "\r\n", maxSplits: 1).first else { return nil }
        let words = line.split(separator: " ")
        guard words.count == 3, words[0] == "CONNECT", words[2].hasPrefix("HTTP/1."),
              let colon = words[1].lastIndex(of: ":"), let port = Int(words[1][words[1].index(after: colon)...]),
              (1...65_535).contains(port) else { return nil }
        var host = String(words[1][..<colon])
        if host.hasPrefix("[") && host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
        return (host, port)
    }

    /// Listens on `socket` (the agent's `owner` may connect) until `stop`.
    public func start(owner: UInt32?) throws -> Running {
        unlink(socket)
        let listener = Glibc.socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard listener >= 0 else { throw Failure(description: "socket: \(String(cString: strerror(errno)))") }
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        let path = Array(socket.utf8)
        guard path.count < MemoryLayout.size(ofValue: address.sun_path) else {
            close(listener)
            throw Failure(description: "the proxy's socket path is too long: \(socket)")
        }
        withUnsafeMutableBytes(of: &address.sun_path) { buffer in
            for (i, byte) in path.enumerated() { buffer[i] = byte }
        }
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(listener, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        guard bound == 0, listen(listener, 64) == 0 else {
            close(listener)
            throw Failure(description: "cannot listen on \(socket): \(String(cString: strerror(errno)))")
        }
        _ = chmod(socket, 0o600)
        if let owner { _ = chown(socket, owner, owner) }
        let running = Running(listener: listener)
        let rules = self
        let thread = Thread { running.accept { client in rules.serve(client, running: running) } }
        thread.name = "coevo-egress"
        thread.start()
        return running
    }

    /// One connection: its CONNECT, then the tunnel.
    private func serve(_ client: Int32, running: Running) {
        defer { running.forget(client); close(client) }
        guard let header = Self.readHeader(client) else { return }
        guard let (host, port) = Self.target(of: header) else {
            Self.send("HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n", to: client)
            return
        }
        guard allows(host: host, port: port) else {
            let body = "coevo: \(host):\(port) is not among the hosts this agent may reach\n"
            Self.send("HTTP/1.1 403 Forbidden\r\nContent-Type: text/plain\r\nContent-Length: \(body.utf8.count)\r\n\r\n\(body)", to: client)
            return
        }
        guard let upstream = Self.dial(host: host, port: port) else {
            Self.send("HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\n\r\n", to: client)
            return
        }
        running.remember(upstream)
        defer { running.forget(upstream); close(upstream) }
        Self.send("HTTP/1.1 200 Connection established\r\n\r\n", to: client)
        Self.splice(client, upstream)
    }

    /// The request's header (at most 8 KiB, within 10 s), or nil.
    private static func readHeader(_ fd: Int32) -> String? {
        var timeout = timeval(tv_sec: 10, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        var header = [UInt8]()
        var byte: UInt8 = 0
        // Byte by byte: nothing after the header may be read, it belongs to the tunnel.
        while header.count < 8192 {
            guard read(fd, &byte, 1) == 1 else { return nil }
            header.append(byte)
            if header.count >= 4 && header.suffix(4) == [13, 10, 13, 10] { return String(decoding: header, as: UTF8.self) }
        }
        return nil
    }

    private static func send(_ text: String, to fd: Int32) {
        let bytes = Array(text.utf8)
        _ = bytes.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
    }

    private static func dial(host: String, port: Int) -> Int32? {
        var hints = addrinfo()
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        var found: UnsafeMutablePointer<addrinfo>?
        guard getaddrinfo(host, String(port), &hints, &found) == 0, let first = found else { return nil }
        defer { freeaddrinfo(first) }
        var cursor: UnsafeMutablePointer<addrinfo>? = first
        while let entry = cursor {
            let fd = Glibc.socket(entry.pointee.ai_family, entry.pointee.ai_socktype | Int32(SOCK_CLOEXEC.rawValue), entry.pointee.ai_protocol)
            if fd >= 0 {
                // A host that drops the SYN holds a connect for minutes: 10 s is enough.
                var timeout = timeval(tv_sec: 10, tv_usec: 0)
                setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
                if connect(fd, entry.pointee.ai_addr, entry.pointee.ai_addrlen) == 0 {
                    timeout = timeval(tv_sec: 0, tv_usec: 0)  // the tunnel itself waits as long as its peers do
                    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
                    return fd
                }
                close(fd)
            }
            cursor = entry.pointee.ai_next
        }
        return nil
    }

    /// Copies both ways until both sides have closed.
    private static func splice(_ a: Int32, _ b: Int32) {
        var timeout = timeval(tv_sec: 0, tv_usec: 0)
        setsockopt(a, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        var open = (a: true, b: true)
        var buffer = [UInt8](repeating: 0, count: 65_536)
        while open.a || open.b {
            var fds = [pollfd(fd: open.a ? a : -1, events: Int16(POLLIN), revents: 0), pollfd(fd: open.b ? b : -1, events: Int16(POLLIN), revents: 0)]
            guard poll(&fds, 2, -1) >= 0 || errno == EINTR else { return }
            for (index, (from, to)) in [(a, b), (b, a)].enumerated() where fds[index].revents != 0 {
                let n = read(from, &buffer, buffer.count)
                if n <= 0 {
                    shutdown(to, Int32(SHUT_WR))
                    if index == 0 { open.a = false } else { open.b = false }
                    continue
                }
                var sent = 0
                while sent < n {
                    let w = buffer.withUnsafeBytes { write(to, $0.baseAddress! + sent, n - sent) }
                    if w <= 0 { return }
                    sent += w
                }
            }
        }
    }

    public final class Running: Sendable {
        private let listener: Int32
        /// Open descriptors, shut down at `stop` so their threads end.
        private let open = Mutex<Set<Int32>>([])

        init(listener: Int32) { self.listener = listener }

        func accept(_ serve: @escaping @Sendable (Int32) -> Void) {
            while true {
                let client = Glibc.accept(listener, nil, nil)
                if client < 0 {
                    if errno == EINTR { continue }
                    close(listener)  // shut down by `stop`; closed here, so its number is not reused under us
                    return
                }
                _ = fcntl(client, F_SETFD, FD_CLOEXEC)
                remember(client)
                let thread = Thread { serve(client) }
                thread.name = "coevo-egress-tunnel"
                thread.start()
            }
        }

        func remember(_ fd: Int32) { open.withLock { _ = $0.insert(fd) } }
        /// Call before closing `fd`: `stop` then never touches a number reused since.
        func forget(_ fd: Int32) { open.withLock { _ = $0.remove(fd) } }

        /// Stops listening and ends every tunnel.
        public func stop() {
            shutdown(listener, Int32(SHUT_RDWR))
            open.withLock { for fd in $0 { shutdown(fd, Int32(SHUT_RDWR)) } }
        }
    }

    struct Failure: Error, CustomStringConvertible {
        let description: String
    }
}
