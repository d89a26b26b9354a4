"""A local chat-completions server whose faults the backend tests script.

POST /<scenario>/v1/chat/completions answers according to <scenario>:
  ok         a valid chat completion with usage
  okslow     the same after 50 ms (for concurrency checks)
  429once    429 with Retry-After: 1 the first time, then ok
  500twice   500 twice, then ok
  slow       sleeps 3 s before answering (past the client's timeout)
  hang       sleeps 60 s before answering (only cancellation ends it in time)
  truncated  200 with half a JSON body
  reset      closes the connection without answering
  html       502 with an HTML error page
  echoauth   401 whose body repeats the Authorization header it got
  outage     503 for the first 12 requests, then ok (an endpoint that comes back)
  down       503 always (an endpoint that stays down)
  judge      a judge's reply ending in "Score: 0.8"
  judgemute  a judge's reply with no score in it
  scripted   a reply that is a function of the request body alone (so a replayed call
             gets the same answer): "TASK: a + b" and "ANSWER: c", right or off by one
GET /hits/<scenario> returns how many requests <scenario> got; /inflight/<scenario> the
most it had at once. Usage: fault_server.py; it takes a free port and prints "ready PORT"
once it listens.
"""
import hashlib
import json
import os
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

hits = {}
inflight = {}
most = {}
lock = threading.Lock()

OK = {
    "id": "x", "object": "chat.completion",
    "choices": [{"index": 0, "message": {"role": "assistant", "content": "4"}, "finish_reason": "stop"}],
    "usage": {"prompt_tokens": 12, "completion_tokens": 1, "total_tokens": 13},
}


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def send(self, status, body, content_type="application/json", extra=()):
        data = body if isinstance(body, bytes) else body.encode()
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        for name, value in extra:
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):
        parts = self.path.strip("/").split("/")
        with lock:
            table = hits if parts[0] == "hits" else most
            self.send(200, str(table.get(parts[1], 0)), "text/plain")

    def do_POST(self):
        length = int(self.headers.get("Content-Length", "0"))
        self.body = self.rfile.read(length)
        scenario = self.path.strip("/").split("/")[0]
        with lock:
            hits[scenario] = hits.get(scenario, 0) + 1
            n = hits[scenario]
            inflight[scenario] = inflight.get(scenario, 0) + 1
            most[scenario] = max(most.get(scenario, 0), inflight[scenario])
        try:
            self.answer(scenario, n)
        finally:
            with lock:
                inflight[scenario] -= 1

    def answer(self, scenario, n):
        if scenario == "ok":
            self.send(200, json.dumps(OK))
        elif scenario == "okslow":
            time.sleep(0.05)
            self.send(200, json.dumps(OK))
        elif scenario == "429once":
            if n == 1:
                self.send(429, '{"error": "slow down"}', extra=[("Retry-After", "1")])
            else:
                self.send(200, json.dumps(OK))
        elif scenario == "500twice":
            if n <= 2:
                self.send(500, '{"error": "internal"}')
            else:
                self.send(200, json.dumps(OK))
        elif scenario == "slow":
            time.sleep(3)
            self.send(200, json.dumps(OK))
        elif scenario == "hang":
            time.sleep(60)
            self.send(200, json.dumps(OK))
        elif scenario == "truncated":
            body = json.dumps(OK)
            self.send(200, body[: len(body) // 2])
        elif scenario == "reset":
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
            self.connection.close()
            self.close_connection = True
        elif scenario == "html":
            self.send(502, "<html><body><h1>502 Bad Gateway</h1></body></html>", "text/html")
        elif scenario == "down":
            self.send(503, '{"error": "down for maintenance"}')
        elif scenario == "outage":
            if n <= 12:
                self.send(503, '{"error": "model loading"}')
            else:
                self.send(200, json.dumps(OK))
        elif scenario in ("judge", "judgemute"):
            reply = dict(OK)
            text = "The answer is polite and complete.\nScore: 0.8" if scenario == "judge" else "I cannot grade this."
            reply["choices"] = [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}]
            self.send(200, json.dumps(reply))
        elif scenario == "scripted":
            digest = hashlib.sha256(self.body).digest()
            a, b, wrong = digest[0] % 50, digest[1] % 50, digest[2] % 3 == 0
            reply = dict(OK)
            text = "TASK: %d + %d\nANSWER: %d" % (a, b, a + b + (1 if wrong else 0))
            reply["choices"] = [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}]
            self.send(200, json.dumps(reply))
        elif scenario == "echoauth":
            self.send(401, "unauthorized: " + self.headers.get("Authorization", ""), "text/plain")
        else:
            self.send(404, "no such scenario")


if __name__ == "__main__":
    # Die with the test process, even if it crashes. Not PR_SET_PDEATHSIG: that fires
    # when the *thread* that spawned us exits, and an idle pool thread of the test
    # process does, killing the server under a running test (it did, now and then).
    parent = os.getppid()

    def watch_parent():
        while os.getppid() == parent:
            time.sleep(0.5)
        os._exit(0)

    threading.Thread(target=watch_parent, daemon=True).start()
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    print(f"ready {server.server_address[1]}", flush=True)
    server.serve_forever()
