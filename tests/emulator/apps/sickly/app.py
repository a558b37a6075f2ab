"""A test agent whose health check fails once told to: GET /health is 200 until GET /sicken, then 500."""

import os
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

SICK = threading.Event()


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):
        pass

    def do_GET(self):
        if self.path == "/sicken":
            SICK.set()
        status = 500 if self.path == "/health" and SICK.is_set() else 200
        self.send_response(status)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"ok")


ThreadingHTTPServer((os.environ.get("HOST", "127.0.0.1"), int(os.environ["PORT"])), Handler).serve_forever()
