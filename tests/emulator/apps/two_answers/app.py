"""A broken test agent: every answer but /health is followed, in the same send, by a second answer.

The second answer is bytes nobody asked for; a gateway must treat them as a protocol error of that
connection (close it) and still deliver the first answer to the waiting client.
"""

import os
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

ANSWER = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 13\r\n\r\n{\"first\": 1}\n"
STRAY = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 14\r\n\r\n{\"second\": 2}\n"


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):
        print("request", self.path, flush=True)

    def do_GET(self):
        if self.path == "/health":
            body = b'{"status": "ok"}'
            self.wfile.write(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body))
            return
        self.wfile.write(ANSWER + STRAY)  # one write: both answers arrive in one read


server = ThreadingHTTPServer((os.environ.get("HOST", "127.0.0.1"), int(os.environ["PORT"])), Handler)
server.daemon_threads = True
print("two-answers app listening", flush=True)
server.serve_forever()
