"""A test agent whose child escapes its process group: it calls setsid() (its own session), as daemons do.

GET /health → ok; anything else → {"child": <pid>}. The child sleeps for five minutes.
"""

import json
import os
import subprocess
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

child = subprocess.Popen(["sleep", "300"], start_new_session=True)
print(f"escaped child pid {child.pid}", flush=True)


class Handler(BaseHTTPRequestHandler):
    def log_message(self, fmt, *args):
        pass

    def do_GET(self):
        body = json.dumps({"child": child.pid}).encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


ThreadingHTTPServer((os.environ.get("HOST", "127.0.0.1"), int(os.environ["PORT"])), Handler).serve_forever()
