"""A stdlib test agent: JSON echo, an SSE stream, and a stream held open until released.

Listens on $HOST:$PORT. Routes: GET /health; /echo (any method) → JSON of what
it received; /stream?n=N → N SSE events; /held → one event, then waits until
/release is called, then a last event (proves the gateway streams, no timings).
"""

import json
import os
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

RELEASED = threading.Event()


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):
        print("request", self.command, self.path, flush=True)

    def _body(self):
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _send(self, status, payload, ctype="application/json"):
        data = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(data)))
        self.send_header("X-App-Header", "yes")
        self.end_headers()
        self.wfile.write(data)

    def _start_sse(self):
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Cache-Control", "no-cache")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()

    def _chunk(self, text):
        data = text.encode()
        self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
        self.wfile.flush()

    def _route(self):
        url = urlsplit(self.path)
        if url.path == "/health":
            return self._send(200, b"ok", "text/plain")
        if url.path.startswith("/echo"):
            return self._send(200, {
                "method": self.command, "path": url.path, "query": url.query,
                "headers": {k.lower(): v for k, v in self.headers.items()},
                "body": self._body().decode(), "appVersion": os.environ.get("APP_VERSION", ""),
                "env": dict(os.environ), "cwd": os.getcwd(),
            })
        if url.path == "/stream":
            n = int(parse_qs(url.query).get("n", ["3"])[0])
            self._start_sse()
            for i in range(n):
                self._chunk(f"data: {i}\n\n")
            return self.wfile.write(b"0\r\n\r\n")
        if url.path == "/held":
            RELEASED.clear()
            self._start_sse()
            self._chunk("data: first\n\n")
            RELEASED.wait(120)
            self._chunk("data: last\n\n")
            return self.wfile.write(b"0\r\n\r\n")
        if url.path == "/release":
            RELEASED.set()
            return self._send(200, {"released": True})
        return self._send(404, {"error": "no such path"})

    do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = _route


if __name__ == "__main__":
    server = ThreadingHTTPServer((os.environ.get("HOST", "127.0.0.1"), int(os.environ["PORT"])), Handler)
    server.daemon_threads = True
    print(f"echo app listening on {server.server_address[1]}", flush=True)
    sys.stderr.write("a line on stderr\n")
    server.serve_forever()
