"""A test agent that exits at once (code 3) while the file named by $CRASH_FLAG exists; else it serves."""

import json
import os
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

if os.path.exists(os.environ.get("CRASH_FLAG", "")):
    print("crash flag set: exiting", flush=True)
    sys.exit(3)


class Handler(BaseHTTPRequestHandler):
    def log_message(self, fmt, *args):
        pass

    def do_GET(self):
        body = json.dumps({"pid": os.getpid()}).encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


ThreadingHTTPServer((os.environ.get("HOST", "127.0.0.1"), int(os.environ["PORT"])), Handler).serve_forever()
