"""A test agent whose requests wait at a gate: holds requests in flight until the test lets them go.

The gate is a TCP port on 127.0.0.1 that the test serves (the network is shared even in the sandbox):
a held request connects to it and waits until the test sends something or closes it.
GET /health → ok; /hold?gate=PORT → an SSE event at once, then waits at the gate, then a last event;
/block?gate=PORT → waits at the gate, then answers JSON (nothing is sent before: a crash meanwhile is a
clean 502); anything else → JSON {"ok": true}.
"""

import json
import os
import socket
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit


def wait_for(port):
    if port:
        with socket.create_connection(("127.0.0.1", int(port))) as gate:
            gate.recv(16)


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):
        print("request", self.path, flush=True)

    def _json(self, payload):
        data = json.dumps(payload).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _chunk(self, text):
        self.wfile.write(b"%x\r\n%s\r\n" % (len(text), text.encode()))
        self.wfile.flush()

    def do_GET(self):
        url = urlsplit(self.path)
        gate = parse_qs(url.query).get("gate", [""])[0]
        if url.path == "/hold":
            self.send_response(200)
            self.send_header("Content-Type", "text/event-stream")
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            self._chunk("data: first\n\n")
            wait_for(gate)
            self._chunk("data: last\n\n")
            self.wfile.write(b"0\r\n\r\n")
            return
        if url.path == "/block":
            wait_for(gate)
        self._json({"ok": True, "path": url.path})


server = ThreadingHTTPServer((os.environ.get("HOST", "127.0.0.1"), int(os.environ["PORT"])), Handler)
server.daemon_threads = True
print("gate app listening", flush=True)
server.serve_forever()
