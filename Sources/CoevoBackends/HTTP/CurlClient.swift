import CCurl
import Foundation
import Synchronization

public struct HTTPRequest: Sendable {
    public var url: String
    public var headers: [String]
    /// POSTed when non-nil, else a GET.
    public var body: Data?
    public var timeoutMilliseconds: Int
    public var connectTimeoutMilliseconds: Int

    public init(url: String, headers: [String] = [], body: Data? = nil, timeoutMilliseconds: Int = 60_000,
                connectTimeoutMilliseconds: Int = 5_000) {
        self.url = url
        self.headers = headers
        self.body = body
        self.timeoutMilliseconds = timeoutMilliseconds
        self.connectTimeoutMilliseconds = connectTimeoutMilliseconds
    }
}

public struct HTTPResponse: Sendable {
    public var status: Int
    /// Header names lowercased; the last value wins.
    public var headers: [String: String]
    public var body: Data
}

/// A transfer that produced no HTTP response: each maps to a retry decision.
public enum HTTPTransportError: Error, Hashable, Sendable, CustomStringConvertible {
    case timeout(String)
    case connection(String)
    case other(String)
    /// The task that asked for it was cancelled.
    case cancelled

    public var description: String {
        switch self {
        case .cancelled: "cancelled"
        case .timeout(let s): "timed out: \(s)"
        case .connection(let s): "connection failed: \(s)"
        case .other(let s): "transfer failed: \(s)"
        }
    }

    public var retryFailure: RetryPolicy.Failure {
        switch self {
        case .timeout: .timeout
        case .connection(let s), .other(let s): .connection(s)
        case .cancelled: .connection("cancelled")
        }
    }
}

/// HTTP over libcurl's multi interface on one dedicated thread: every transfer of the
/// process shares it (no thread per request) and its connection cache (keep-alive reuse).
/// TLS uses the system CA store. Tasks hand requests over through a locked queue and
/// `curl_multi_wakeup`; answers come back through continuations.
public final class CurlClient: @unchecked Sendable {
    /// One transfer in flight; owned by the loop thread once queued.
    final class Transfer: @unchecked Sendable {
        let request: HTTPRequest
        let continuation: CheckedContinuation<Result<HTTPResponse, HTTPTransportError>, Never>
        var body = Data()
        var headers: [String: String] = [:]
        var headerList: UnsafeMutablePointer<curl_slist>?
        /// Set by a cancelled task; the loop removes the transfer on its next pass.
        let cancelled = Atomic<Bool>(false)
        init(_ request: HTTPRequest, _ continuation: CheckedContinuation<Result<HTTPResponse, HTTPTransportError>, Never>) {
            self.request = request
            self.continuation = continuation
        }
    }

    private struct Shared {
        var incoming: [Transfer] = []
        var stopping = false
    }

    /// Touched only by the loop thread, but for `curl_multi_wakeup`, which is thread-safe.
    private let multi: UnsafeMutableRawPointer
    private let shared = Mutex(Shared())
    private let finished = DispatchSemaphore(value: 0)
    private static let globalInit: Void = { curl_global_init(Int(CURL_GLOBAL_DEFAULT)) }()

    /// `maxConnections` caps the connection cache (0: libcurl's default).
    public init(maxConnections: Int = 0) {
        _ = Self.globalInit
        multi = curl_multi_init()!
        if maxConnections > 0 { coevo_multi_setopt_long(multi, CURLMOPT_MAXCONNECTS, maxConnections) }
        let thread = Thread { [self] in run() }
        thread.name = "coevo-curl"
        thread.start()
    }

    /// Performs one request. Never throws: transport failures come back as `.failure`.
    /// Cancelling the calling task aborts the transfer (the connection is closed, so a
    /// model server that notices stops generating) and returns `.cancelled`.
    public func send(_ request: HTTPRequest) async -> Result<HTTPResponse, HTTPTransportError> {
        let handle = Mutex<Transfer?>(nil)
        return await withTaskCancellationHandler {
            await withCheckedContinuation { continuation in
                let transfer = Transfer(request, continuation)
                let cancelledAlready = handle.withLock { held -> Bool in
                    held = transfer
                    return Task.isCancelled
                }
                if cancelledAlready { transfer.cancelled.store(true, ordering: .relaxed) }
                let accepted = shared.withLock { s -> Bool in
                    guard !s.stopping else { return false }
                    s.incoming.append(transfer)
                    return true
                }
                if accepted { curl_multi_wakeup(multi) } else { continuation.resume(returning: .failure(.other("client shut down"))) }
            }
        } onCancel: {
            handle.withLock { $0?.cancelled.store(true, ordering: .relaxed) }
            curl_multi_wakeup(multi)
        }
    }

    /// Fails what is queued, finishes the thread and frees libcurl's handles.
    public func shutdown() {
        let first = shared.withLock { s -> Bool in
            defer { s.stopping = true }
            return !s.stopping
        }
        guard first else { return }
        curl_multi_wakeup(multi)
        finished.wait()
    }

    // MARK: The loop thread

    private func run() {
        var active: [UnsafeMutableRawPointer: Transfer] = [:]
        var running: Int32 = 0
        while true {
            let (incoming, stopping) = shared.withLock { s in
                defer { s.incoming.removeAll() }
                return (s.incoming, s.stopping)
            }
            for transfer in incoming {
                guard let easy = curl_easy_init() else {
                    transfer.continuation.resume(returning: .failure(.other("curl_easy_init failed")))
                    continue
                }
                configure(easy, transfer)
                active[easy] = transfer
                curl_multi_add_handle(multi, easy)
            }
            if stopping {
                for (easy, transfer) in active {
                    curl_multi_remove_handle(multi, easy)
                    release(easy, transfer)
                    transfer.continuation.resume(returning: .failure(.other("client shut down")))
                }
                curl_multi_cleanup(multi)
                finished.signal()
                return
            }
            for (easy, transfer) in active where transfer.cancelled.load(ordering: .relaxed) {
                active[easy] = nil
                curl_multi_remove_handle(multi, easy)
                release(easy, transfer)
                transfer.continuation.resume(returning: .failure(.cancelled))
            }
            curl_multi_perform(multi, &running)
            var left: Int32 = 0
            while let message = curl_multi_info_read(multi, &left) {
                guard message.pointee.msg == CURLMSG_DONE, let easy = message.pointee.easy_handle,
                      let transfer = active.removeValue(forKey: easy) else { continue }
                let code = message.pointee.data.result
                var status = 0
                coevo_easy_getinfo_long(easy, CURLINFO_RESPONSE_CODE, &status)
                curl_multi_remove_handle(multi, easy)
                release(easy, transfer)
                transfer.continuation.resume(returning: Self.outcome(code: code, status: status, transfer))
            }
            curl_multi_poll(multi, nil, 0, 1000, nil)
        }
    }

    private func configure(_ easy: UnsafeMutableRawPointer, _ transfer: Transfer) {
        let request = transfer.request
        coevo_easy_setopt_string(easy, CURLOPT_URL, request.url)
        coevo_easy_setopt_long(easy, CURLOPT_NOSIGNAL, 1)
        coevo_easy_setopt_long(easy, CURLOPT_TIMEOUT_MS, request.timeoutMilliseconds)
        coevo_easy_setopt_long(easy, CURLOPT_CONNECTTIMEOUT_MS, request.connectTimeoutMilliseconds)
        coevo_easy_setopt_long(easy, CURLOPT_TCP_KEEPALIVE, 1)
        if let body = request.body {
            coevo_easy_setopt_long(easy, CURLOPT_POSTFIELDSIZE, body.count)
            body.withUnsafeBytes { bytes in
                // COPYPOSTFIELDS copies now, so the buffer need only live through this call.
                _ = coevo_easy_setopt_pointer(easy, CURLOPT_COPYPOSTFIELDS, UnsafeMutableRawPointer(mutating: bytes.baseAddress ?? UnsafeRawPointer(bitPattern: 1)!))
            }
        }
        var list: UnsafeMutablePointer<curl_slist>?
        for header in request.headers + ["Expect:"] { list = curl_slist_append(list, header) }
        transfer.headerList = list
        coevo_easy_setopt_slist(easy, CURLOPT_HTTPHEADER, list)
        let context = Unmanaged.passUnretained(transfer).toOpaque()
        coevo_easy_setopt_write_function(easy, CURLOPT_WRITEFUNCTION) { data, size, count, context in
            let transfer = Unmanaged<Transfer>.fromOpaque(context!).takeUnretainedValue()
            let length = size * count
            if let data { transfer.body.append(UnsafeRawPointer(data).assumingMemoryBound(to: UInt8.self), count: length) }
            return length
        }
        coevo_easy_setopt_pointer(easy, CURLOPT_WRITEDATA, context)
        coevo_easy_setopt_write_function(easy, CURLOPT_HEADERFUNCTION) { data, size, count, context in
            let transfer = Unmanaged<Transfer>.fromOpaque(context!).takeUnretainedValue()
            let length = size * count
            if let data {
                let line = String(decoding: UnsafeRawBufferPointer(start: data, count: length), as: UTF8.self)
                if let colon = line.firstIndex(of: ":") {
                    let name = line[..<colon].lowercased()
                    transfer.headers[name] = line[line.index(after: colon)...].trimmingCharacters(in: .whitespacesAndNewlines)
                }
            }
            return length
        }
        coevo_easy_setopt_pointer(easy, CURLOPT_HEADERDATA, context)
    }

    private func release(_ easy: UnsafeMutableRawPointer, _ transfer: Transfer) {
        curl_easy_cleanup(easy)
        curl_slist_free_all(transfer.headerList)
        transfer.headerList = nil
    }

    private static func outcome(code: CURLcode, status: Int, _ transfer: Transfer) -> Result<HTTPResponse, HTTPTransportError> {
        let why = String(cString: curl_easy_strerror(code))
        switch code {
        case CURLE_OK:
            return .success(HTTPResponse(status: status, headers: transfer.headers, body: transfer.body))
        case CURLE_OPERATION_TIMEDOUT:
            return .failure(.timeout(why))
        case CURLE_COULDNT_CONNECT, CURLE_COULDNT_RESOLVE_HOST, CURLE_RECV_ERROR, CURLE_SEND_ERROR, CURLE_GOT_NOTHING,
             CURLE_PARTIAL_FILE, CURLE_SSL_CONNECT_ERROR:
            return .failure(.connection(why))
        default:
            return .failure(.other(why))
        }
    }
}
