"""A stdlib test agent for the gateway's HTTP handling (HTTP/1.1 keep-alive, threads).

GET /health; /echo → JSON {method, path, headers, length, sha256} of what arrived (chunked request
bodies decoded); /head → 1234 bytes (HEAD: the length only); /status/<n> → that status, no body;
/big?n=N → N bytes with Content-Length, in 64 KiB writes; /hop → an answer with hop-by-hop headers;
/chunks?n=N → N chunks; /endless → a chunked stream until the client is gone (then counted);
/stats → {"gone": count}; /env → APP_VERSION and MARK; /die → the process exits mid-request.
$BOOT_DELAY seconds pass before it listens (a slow boot).
"""

import hashlib
import json
import os
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

GONE = []
LOCK = threading.Lock()


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):
        pass

    def _body(self):
        if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
            data = b""
            while True:
                size = int(self.rfile.readline().split(b";")[0], 16)
                if size == 0:
                    self.rfile.readline()
                    return data
                data += self.rfile.read(size)
                self.rfile.readline()
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _send(self, status, payload, extra=()):
        data = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for name, value in extra:
            self.send_header(name, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    def _route(self):
        url = urlsplit(self.path)
        if url.path == "/health":
            return self._send(200, b"ok")
        if url.path == "/echo":
            body = self._body()
            return self._send(200, {"method": self.command, "path": self.path, "length": len(body),
                                    "sha256": hashlib.sha256(body).hexdigest(),
                                    "headers": [[k.lower(), v] for k, v in self.headers.items()]})
        if url.path == "/head":
            return self._send(200, b"x" * 1234)
        if url.path.startswith("/status/"):
            self.send_response(int(url.path.rsplit("/", 1)[1]))
            self.send_header("X-Probe", "yes")
            self.end_headers()
            return None
        if url.path == "/big":
            total = int(parse_qs(url.query)["n"][0])
            self.send_response(200)
            self.send_header("Content-Length", str(total))
            self.end_headers()
            piece = b"b" * 65536
            while total > 0:
                self.wfile.write(piece[:total])
                total -= len(piece)
            return None
        if url.path == "/hop":
            return self._send(200, {"ok": True}, [("Connection", "X-Secret"), ("X-Secret", "hidden"),
                                                  ("Keep-Alive", "timeout=5"), ("Proxy-Connection", "keep-alive"),
                                                  ("X-Kept", "yes")])
        if url.path == "/chunks":
            self.send_response(200)
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            for i in range(int(parse_qs(url.query)["n"][0])):
                self.wfile.write(b"%x\r\n%s\r\n" % (len(str(i)), str(i).encode()))
            self.wfile.write(b"0\r\n\r\n")
            return None
        if url.path == "/endless":
            self.send_response(200)
            self.send_header("Content-Type", "text/event-stream")
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            try:
                while True:
                    self.wfile.write(b"7\r\ndata: x\r\n")
                    self.wfile.flush()
                    time.sleep(0.01)
            except OSError:
                with LOCK:
                    GONE.append(1)
                self.close_connection = True
            return None
        if url.path == "/env":
            return self._send(200, {"version": os.environ.get("APP_VERSION"), "mark": os.environ.get("MARK")})
        if url.path == "/stats":
            return self._send(200, {"gone": len(GONE)})
        if url.path == "/die":
            os._exit(7)
        return self._send(404, {"error": "no such path"})

    do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = _route


time.sleep(float(os.environ.get("BOOT_DELAY", "0")))
ThreadingHTTPServer.daemon_threads = True
ThreadingHTTPServer((os.environ.get("HOST", "127.0.0.1"), int(os.environ["PORT"])), Handler).serve_forever()
