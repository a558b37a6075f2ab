"""A test agent that floods its output: /flood?n=N prints N lines as fast as it can, then answers.

Every other path answers {"ok": true} at once. GET /health → ok.
"""

import json
import os
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):
        pass

    def do_GET(self):
        url = urlsplit(self.path)
        if url.path == "/flood":
            lines = int(parse_qs(url.query).get("n", ["1000"])[0])
            sys.stdout.write("".join(f"flood line {n}\n" for n in range(lines)))
            sys.stdout.flush()
        body = json.dumps({"ok": True}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


server = ThreadingHTTPServer((os.environ.get("HOST", "127.0.0.1"), int(os.environ["PORT"])), Handler)
server.daemon_threads = True
print("flood app listening", flush=True)
server.serve_forever()
