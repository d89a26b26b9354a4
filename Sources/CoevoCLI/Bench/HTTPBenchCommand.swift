import ArgumentParser
import CoevoBackends
import Foundation

/// `coevo bench http`: chat-completion requests/s against a fast local endpoint (nginx
/// answering a fixed completion), for coevo's libcurl client, `curl --parallel`, and a
/// Python httpx async client, all in one run with the same requests in flight.
struct HTTPBenchCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "http",
        abstract: "LLM-client requests/s vs curl --parallel and Python async clients, against a local nginx.",
        discussion: """
            Needs nginx, curl and python3 with httpx (apt-get install nginx-light; pip install httpx); aiohttp is \
            measured too when it is installed, and the ratio is taken against the faster Python client.
            """)

    @Option(help: "Requests per client.") var requests = 20_000
    @Option(help: "Requests in flight.") var inFlight = 256

    static let completion = #"{"id":"x","object":"chat.completion","choices":[{"index":0,"message":{"role":"assistant","content":"4"},"finish_reason":"stop"}],"usage":{"prompt_tokens":12,"completion_tokens":1,"total_tokens":13}}"#

    func run() async throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("coevo-bench-http-\(getpid())")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let port = 20_000 + Int(getpid() % 20_000)
        let url = "http://127.0.0.1:\(port)/v1/chat/completions"
        let nginx = try startNginx(dir: dir, port: port)
        defer { kill(nginx.processIdentifier, SIGTERM); nginx.waitUntilExit() }
        let body = String(decoding: ChatProtocol.body(.openai, ChatRequest(model: "m", messages: [ChatMessage(role: "user", content: "2+2?")])), as: UTF8.self)
        try await Task.sleep(for: .milliseconds(300))

        let client = CurlClient()
        _ = await client.send(HTTPRequest(url: url, headers: ["Content-Type: application/json"], body: Data(body.utf8)))
        let coevo = try await measureCoevo(client, url: url, body: body)
        let sequential = try await measureSequential(client, url: url, body: body, count: 2000)
        let threads = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/task").count) ?? 0
        let curl = try measureCurl(dir: dir, url: url, body: body)
        let httpx = try measurePython(dir: dir, script: Self.httpxScript(url: url, inFlight: inFlight, requests: requests), body: body)
        let aiohttp = Self.installed("aiohttp")
            ? try measurePython(dir: dir, script: Self.aiohttpScript(url: url, inFlight: inFlight, requests: requests), body: body) : nil
        let python = max(httpx, aiohttp ?? 0)

        print("HTTP client benchmark: \(requests) POST /v1/chat/completions per client, \(inFlight) in flight, nginx on loopback")
        print(String(format: "coevo (libcurl multi, one thread)  %9.0f req/s", coevo))
        print(String(format: "curl --parallel-max %d          %9.0f req/s", inFlight, curl))
        print(String(format: "python httpx (asyncio)           %9.0f req/s", httpx))
        if let aiohttp { print(String(format: "python aiohttp (asyncio)         %9.0f req/s", aiohttp)) }
        print(String(format: "coevo / curl: %.0f%% (target >= 90%%: %@); coevo / fastest python: %.1fx (target >= 3x: %@)",
                     coevo / curl * 100, coevo / curl >= 0.9 ? "met" : "NOT met", coevo / python, coevo / python >= 3 ? "met" : "NOT met"))
        print(String(format: "per call, one at a time: %.0f µs round trip; threads in this process: %d", sequential, threads))
        client.shutdown()
    }

    private func startNginx(dir: URL, port: Int) throws -> Process {
        let config = """
            worker_processes 1;
            daemon off;
            pid \(dir.path)/nginx.pid;
            error_log \(dir.path)/error.log;
            events { worker_connections 4096; }
            http {
              access_log off;
              client_body_temp_path \(dir.path);
              keepalive_requests 1000000;
              server {
                listen 127.0.0.1:\(port);
                location /v1/chat/completions { default_type application/json; return 200 '\(Self.completion)'; }
              }
            }
            """
        try config.write(to: dir.appendingPathComponent("nginx.conf"), atomically: true, encoding: .utf8)
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/sbin/nginx")
        process.arguments = ["-c", dir.appendingPathComponent("nginx.conf").path, "-p", dir.path]
        try process.run()
        return process
    }

    private func measureCoevo(_ client: CurlClient, url: String, body: String) async throws -> Double {
        let request = HTTPRequest(url: url, headers: ["Content-Type: application/json"], body: Data(body.utf8))
        let clock = ContinuousClock()
        let start = clock.now
        let ok = await withTaskGroup(of: Bool.self) { group in
            var started = 0, good = 0
            for _ in 0..<min(inFlight, requests) {
                group.addTask { if case .success(let r) = await client.send(request) { return r.status == 200 } else { return false } }
                started += 1
            }
            while let result = await group.next() {
                if result { good += 1 }
                if started < requests {
                    group.addTask { if case .success(let r) = await client.send(request) { return r.status == 200 } else { return false } }
                    started += 1
                }
            }
            return good
        }
        guard ok == requests else { throw UserFacingError("coevo: only \(ok) of \(requests) requests succeeded") }
        return Double(requests) / RawZeroMQBaseline.seconds(clock.now - start)
    }

    private func measureSequential(_ client: CurlClient, url: String, body: String, count: Int) async throws -> Double {
        let request = HTTPRequest(url: url, headers: ["Content-Type: application/json"], body: Data(body.utf8))
        let clock = ContinuousClock()
        let start = clock.now
        for _ in 0..<count { _ = await client.send(request) }
        return (clock.now - start).microseconds / Double(count)
    }

    private func measureCurl(dir: URL, url: String, body: String) throws -> Double {
        let configPath = dir.appendingPathComponent("curl.cfg").path
        var lines = ["silent", "header = \"Content-Type: application/json\"", "data = \"\(body.replacingOccurrences(of: "\"", with: "\\\""))\""]
        for _ in 0..<requests { lines.append("url = \"\(url)\"\noutput = \"/dev/null\"") }
        try lines.joined(separator: "\n").write(toFile: configPath, atomically: true, encoding: .utf8)
        return try time(["curl", "--silent", "--parallel", "--parallel-immediate", "--parallel-max", "\(inFlight)", "--config", configPath])
    }

    static func httpxScript(url: String, inFlight: Int, requests: Int) -> String {
        """
        import asyncio, httpx, sys
        async def main():
            sem = asyncio.Semaphore(\(inFlight))
            limits = httpx.Limits(max_connections=\(inFlight), max_keepalive_connections=\(inFlight))
            async with httpx.AsyncClient(limits=limits) as client:
                async def one():
                    async with sem:
                        r = await client.post("\(url)", content=sys.argv[1], headers={"Content-Type": "application/json"})
                        r.raise_for_status()
                await asyncio.gather(*(one() for _ in range(\(requests))))
        asyncio.run(main())
        """
    }

    static func aiohttpScript(url: String, inFlight: Int, requests: Int) -> String {
        """
        import asyncio, aiohttp, sys
        async def main():
            sem = asyncio.Semaphore(\(inFlight))
            connector = aiohttp.TCPConnector(limit=\(inFlight))
            async with aiohttp.ClientSession(connector=connector) as session:
                async def one():
                    async with sem:
                        async with session.post("\(url)", data=sys.argv[1], headers={"Content-Type": "application/json"}) as r:
                            r.raise_for_status()
                            await r.read()
                await asyncio.gather(*(one() for _ in range(\(requests))))
        asyncio.run(main())
        """
    }

    static func installed(_ module: String) -> Bool {
        let probe = Process()
        probe.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        probe.arguments = ["python3", "-c", "import \(module)"]
        probe.standardError = FileHandle.nullDevice
        guard (try? probe.run()) != nil else { return false }
        probe.waitUntilExit()
        return probe.terminationStatus == 0
    }

    private func measurePython(dir: URL, script: String, body: String) throws -> Double {
        let path = dir.appendingPathComponent("client_bench.py").path
        try script.write(toFile: path, atomically: true, encoding: .utf8)
        return try time(["python3", path, body])
    }

    /// Runs a command to completion; returns requests/s.
    private func time(_ arguments: [String]) throws -> Double {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = arguments
        process.standardOutput = FileHandle.nullDevice
        let start = Date()
        try process.run()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else { throw UserFacingError("\(arguments[0]) failed with status \(process.terminationStatus)") }
        return Double(requests) / Date().timeIntervalSince(start)
    }
}
