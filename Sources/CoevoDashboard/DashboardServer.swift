import CoevoCoordinator
import CoevoCore
import CoevoStore
import Foundation
import Hummingbird
import Logging
import NIOCore
import ServiceLifecycle
import Synchronization

/// Where the dashboard listens and who may read it.
public struct DashboardSettings: Sendable {
    public var host: String
    public var port: Int
    /// Required of every request that does not come from loopback.
    public var token: String?

    public init(host: String = "127.0.0.1", port: Int = 8080, token: String? = nil) {
        self.host = host
        self.port = port
        self.token = token
    }

    /// "HOST:PORT" or "PORT".
    public static func parse(_ text: String, token: String?) throws -> DashboardSettings {
        let parts = text.split(separator: ":", omittingEmptySubsequences: false)
        guard parts.count <= 2, let port = Int(parts.last!), (0...65_535).contains(port) else {
            throw DashboardError("--dashboard takes PORT or HOST:PORT (e.g. 8080 or 0.0.0.0:8080); got '\(text)'")
        }
        let host = parts.count == 2 ? String(parts[0]) : "127.0.0.1"
        let settings = DashboardSettings(host: host, port: port, token: token)
        if !settings.isLoopbackOnly && (token ?? "").isEmpty {
            throw DashboardError("the dashboard on \(host) is reachable from other machines: give it a --dashboard-token (or COEVO_DASHBOARD_TOKEN), or bind it to 127.0.0.1")
        }
        return settings
    }

    var isLoopbackOnly: Bool { host == "127.0.0.1" || host == "localhost" || host == "::1" }

    /// Throws, naming the port, when something already listens where the dashboard would:
    /// checked before a run writes anything, since the server itself binds only once the
    /// run is under way.
    public func checkPortIsFree() throws {
        guard port != 0 else { return }
        var hints = addrinfo()
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        hints.ai_flags = AI_PASSIVE
        var found: UnsafeMutablePointer<addrinfo>?
        guard getaddrinfo(host, String(port), &hints, &found) == 0, let address = found else {
            throw DashboardError("--dashboard: cannot resolve host '\(host)'")
        }
        defer { freeaddrinfo(found) }
        let fd = socket(address.pointee.ai_family, address.pointee.ai_socktype, address.pointee.ai_protocol)
        guard fd >= 0 else { return }
        defer { close(fd) }
        var on: Int32 = 1
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, socklen_t(MemoryLayout<Int32>.size))
        if bind(fd, address.pointee.ai_addr, address.pointee.ai_addrlen) != 0 {
            let why = String(cString: strerror(errno))
            throw DashboardError("--dashboard \(host):\(port): \(why) (another dashboard or server listens there? pick another port)")
        }
    }
}

public struct DashboardError: Error, CustomStringConvertible {
    public let description: String
    init(_ description: String) { self.description = description }
}

/// The live dashboard and `/metrics`, served by the coordinator's process over HTTP
/// (Hummingbird): the page, its server-sent summary stream, the run sections it swaps
/// in, the same figures as JSON, and the Prometheus exposition. Requests from other
/// machines need the token; loopback ones do not.
public final class DashboardServer: Service, Sendable {
    public let settings: DashboardSettings
    let store: CoevoStore
    public let metrics: CoordinatorMetrics
    let logger: Logger
    private let live = Mutex<LiveSummary?>(nil)
    private let bound = Mutex<Int?>(nil)
    /// Set on graceful shutdown: open event streams end, so a finished run's process
    /// exits with clients still connected.
    private let closing = Mutex(false)

    public init(settings: DashboardSettings, store: CoevoStore, metrics: CoordinatorMetrics = CoordinatorMetrics(), logger: Logger) {
        self.settings = settings
        self.store = store
        self.metrics = metrics
        self.logger = logger
    }

    /// The port bound, once the server runs (a `:0` asks the system for one).
    public var port: Int? { bound.withLock { $0 } }

    /// Chains the summary and the metrics onto `observer`.
    public func observing(_ observer: CoordinatorObserver) -> CoordinatorObserver {
        var chained = metrics.observing(observer)
        let previous = chained.progress
        chained.progress = { [self] progress in
            previous(progress)
            live.withLock { $0 = progress.summary }
        }
        return chained
    }

    public var summary: LiveSummary? { live.withLock { $0 } }

    public func run() async throws {
        let router = Router(context: DashboardContext.self)
        router.add(middleware: TokenCheck(token: settings.token))
        router.get("/") { [self] request, _ in
            // The first view comes whole from the server; the script keeps it current.
            let top = try Self.count(request, "top", default: 20)
            let runs = try store.runs().compactMap { try RunFigures.read($0.id, from: store, leaderboardSize: top) }
            return html(ReportPage.document(title: "coevo dashboard", summary: summary, runs: runs, live: true))
        }
        router.get("/metrics") { [self] _, _ in
            Response(status: .ok, headers: [.contentType: "text/plain; version=0.0.4"], body: .init(byteBuffer: ByteBuffer(string: metrics.exposition())))
        }
        router.get("/api/summary") { [self] _, _ in
            guard let summary else {
                throw HTTPError(.serviceUnavailable, message: "no summary yet: the coordinator makes one a second after it starts")
            }
            return try json(summary)
        }
        router.get("/api/runs") { [self] _, _ in try json(try store.runs().map(\.id)) }
        router.get("/api/runs/:run") { [self] request, context in
            let id = try context.parameters.require("run")
            let top = try Self.count(request, "top", default: 20)
            guard let figures = try RunFigures.read(id, from: store, leaderboardSize: top) else {
                throw HTTPError(.notFound, message: "no run '\(id)' in \(store.path)")
            }
            return try json(figures)
        }
        router.get("/fragment/runs") { [self] request, _ in
            let top = try Self.count(request, "top", default: 20)
            let runs = try store.runs().compactMap { try RunFigures.read($0.id, from: store, leaderboardSize: top) }
            return html(ReportPage.runSections(runs, summary: summary, live: true))
        }
        router.get("/runs/:run/words") { [self] request, context in
            let words = try self.words(request, context)
            return html(ReportPage.wordsDocument(words))
        }
        router.get("/api/runs/:run/words") { [self] request, context in try json(try self.words(request, context)) }
        router.get("/api/stream") { [self] _, _ in
            Response(status: .ok, headers: [.contentType: "text/event-stream", .cacheControl: "no-cache"],
                     body: ResponseBody { writer in
                         var sent = ContinuousClock.now - .seconds(1)
                         while !Task.isCancelled && !self.isClosing {
                             if ContinuousClock.now - sent >= .seconds(1), let summary = self.summary {
                                 sent = .now
                                 let event = StreamEvent(html: ReportPage.summarySection(summary), version: summary.resultsDurable, summary: summary)
                                 let data = try JSONEncoder().encode(event)
                                 try await writer.write(ByteBuffer(string: "event: summary\ndata: \(String(decoding: data, as: UTF8.self))\n\n"))
                             }
                             try await Task.sleep(for: .milliseconds(100))
                         }
                         try await writer.finish(nil)
                     })
        }
        let app = Application(
            router: router,
            configuration: .init(address: .hostname(settings.host, port: settings.port), serverName: "coevo"),
            onServerRunning: { [self] channel in
                let port = channel.localAddress?.port ?? settings.port
                bound.withLock { $0 = port }
                logger.info("dashboard at http://\(settings.host):\(port)/ (metrics at /metrics)")
            },
            logger: logger)
        try await withGracefulShutdownHandler {
            try await app.runService()
        } onGracefulShutdown: { [self] in
            closing.withLock { $0 = true }
        }
    }

    private var isClosing: Bool { closing.withLock { $0 } }

    private func html(_ text: String) -> Response {
        Response(status: .ok, headers: [.contentType: "text/html; charset=utf-8"], body: .init(byteBuffer: ByteBuffer(string: text)))
    }

    private func json<T: Encodable>(_ value: T, status: HTTPResponse.Status = .ok) throws -> Response {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return Response(status: status, headers: [.contentType: "application/json"],
                        body: .init(byteBuffer: ByteBuffer(bytes: try encoder.encode(value))))
    }

    /// The run's agents' words the query's filter admits, or a 404 or 400 that says why.
    private func words(_ request: Request, _ context: DashboardContext) throws -> AgentWords {
        let id = try context.parameters.require("run")
        let query = request.uri.queryParameters
        func text(_ name: String) -> String? { query[name[...]].map(String.init).flatMap { $0.isEmpty ? nil : $0 } }
        var round: Int?
        if let given = text("round") {
            guard let number = Int(given) else { throw HTTPError(.badRequest, message: "'round' takes a whole number; got '\(given)'") }
            round = number
        }
        let filter = AgentWords.Filter(agent: text("agent"), role: text("role"), round: round, phase: text("phase"))
        guard let words = try AgentWords.read(id, from: store, filter: filter, limit: try Self.count(request, "top", default: 300)) else {
            throw HTTPError(.notFound, message: "no run '\(id)' in \(store.path)")
        }
        return words
    }

    /// A positive count from the query, or a 400 that says what was wrong.
    static func count(_ request: Request, _ name: String, default value: Int) throws -> Int {
        guard let text = request.uri.queryParameters[name[...]] else { return value }
        guard let number = Int(text), (1...10_000).contains(number) else {
            throw HTTPError(.badRequest, message: "'\(name)' takes a whole number from 1 to 10000; got '\(text)'")
        }
        return number
    }

    struct StreamEvent: Encodable {
        var html: String
        var version: UInt64
        var summary: LiveSummary
    }
}

/// Hummingbird's request context with the peer's address, which the token check reads.
struct DashboardContext: RequestContext {
    var coreContext: CoreRequestContextStorage
    let remoteAddress: SocketAddress?

    init(source: ApplicationRequestContextSource) {
        coreContext = .init(source: source)
        remoteAddress = source.channel.remoteAddress
    }
}

/// Loopback peers pass; anyone else shows the token as `Authorization: Bearer TOKEN` or
/// `?token=TOKEN` (the page passes on the one it was opened with).
struct TokenCheck: RouterMiddleware {
    typealias Context = DashboardContext
    let token: String?

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        if Self.isLoopback(context.remoteAddress) { return try await next(request, context) }
        guard let token, !token.isEmpty else {
            throw HTTPError(.forbidden, message: "this dashboard answers loopback requests only (start it with --dashboard-token to open it to others)")
        }
        let bearer = request.headers[.authorization].map { $0.hasPrefix("Bearer ") ? String($0.dropFirst(7)) : "" }
        let query = request.uri.queryParameters["token"].map(String.init)
        guard Self.same(bearer ?? query ?? "", token) || Self.same(query ?? "", token) else {
            throw HTTPError(.unauthorized, message: "a token is needed: Authorization: Bearer TOKEN or ?token=TOKEN")
        }
        return try await next(request, context)
    }

    static func isLoopback(_ address: SocketAddress?) -> Bool {
        guard let ip = address?.ipAddress else { return false }
        return ip.hasPrefix("127.") || ip == "::1" || ip.hasPrefix("::ffff:127.")
    }

    /// Compares without stopping at the first difference.
    static func same(_ a: String, _ b: String) -> Bool {
        let x = Array(a.utf8), y = Array(b.utf8)
        guard x.count == y.count else { return false }
        return zip(x, y).reduce(0) { $0 | ($1.0 ^ $1.1) } == 0
    }
}
