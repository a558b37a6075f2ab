"""Small offline agents for the flow quickstart: each one transforms text, deterministically.

One program, several agents: $TRANSFORM picks what this one does to the last user message:

    upper     HELLO WORLD                 (shout)
    exclaim   hello world!                (cheer: one more "!" per call)
    words     ["hello", "world"]          (words: a JSON array, for a forEach loop)
    reverse   world hello
    echo      hello world

It speaks the OpenAI chat completions protocol (POST /openai/v1/chat/completions, JSON or
"stream": true server-sent events, one chunk per word) and GET /health, standard library only.
Listens on $PORT (or $FC_SERVER_PORT / $AGENTRUN_PORT, default 9000) at $HOST, else 0.0.0.0 in a
cloud instance (FC_INSTANCE_ID set), else 127.0.0.1. One log line per request on stdout.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

TRANSFORMS = {
    "upper": str.upper,
    "exclaim": lambda text: text + "!",
    "words": lambda text: json.dumps(text.split(), ensure_ascii=False),
    "reverse": lambda text: " ".join(reversed(text.split())),
    "echo": lambda text: text,
}
TRANSFORM = os.environ.get("TRANSFORM", "echo")
STREAM_DELAY = float(os.environ.get("STREAM_DELAY", "0"))  # seconds between streamed words, to watch a stream


def last_user_text(messages: list) -> str:
    for message in reversed(messages):
        if isinstance(message, dict) and message.get("role") == "user":
            content = message.get("content")
            if isinstance(content, list):  # content parts
                return " ".join(str(p.get("text", "")) for p in content if isinstance(p, dict))
            return "" if content is None else str(content)
    return ""


class Agent(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True

    def do_GET(self) -> None:
        if self.path.split("?")[0] == "/health":
            self.reply(200, {"status": "ok", "transform": TRANSFORM})
        else:
            self.reply(404, {"error": {"message": f"no route for GET {self.path}", "type": "not_found"}})

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        if self.path.split("?")[0] != "/openai/v1/chat/completions":
            self.reply(404, {"error": {"message": f"no route for POST {self.path}", "type": "not_found"}})
            return
        try:
            request = json.loads(body or b"{}")
            answer = TRANSFORMS[TRANSFORM](last_user_text(request["messages"]))
        except (ValueError, KeyError, TypeError) as exc:
            self.reply(400, {"error": {"message": f"expected {{messages: [...]}}: {exc}", "type": "invalid_request"}})
            return
        made = {"id": f"chatcmpl-{uuid.uuid4().hex[:12]}", "created": int(time.time()), "model": TRANSFORM}
        if not request.get("stream"):
            choice = {"index": 0, "message": {"role": "assistant", "content": answer}, "finish_reason": "stop"}
            self.reply(200, {**made, "object": "chat.completion", "choices": [choice]})
            return
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        words = answer.split(" ")
        deltas = [{"role": "assistant", "content": ""}]
        deltas += [{"content": (" " if i else "") + word} for i, word in enumerate(words)]
        for delta in [*deltas, {}]:
            choice = {"index": 0, "delta": delta, "finish_reason": None if delta else "stop"}
            self.chunk(f"data: {json.dumps({**made, 'object': 'chat.completion.chunk', 'choices': [choice]})}\n\n")
            time.sleep(STREAM_DELAY)
        self.chunk("data: [DONE]\n\n")
        self.wfile.write(b"0\r\n\r\n")

    def chunk(self, text: str) -> None:
        data = text.encode()
        self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
        self.wfile.flush()

    def reply(self, status: int, payload: dict) -> None:
        data = json.dumps(payload, ensure_ascii=False).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: object) -> None:
        print(f"{TRANSFORM} {format % args}", flush=True)


def stop(signum: int, frame: object) -> None:
    """SIGTERM (how instances are stopped) ends serve_forever as Ctrl-C does."""
    raise KeyboardInterrupt


def main() -> None:
    port = next((int(os.environ[n]) for n in ("PORT", "FC_SERVER_PORT", "AGENTRUN_PORT") if os.environ.get(n)), 9000)
    host = os.environ.get("HOST") or ("0.0.0.0" if os.environ.get("FC_INSTANCE_ID") else "127.0.0.1")
    if TRANSFORM not in TRANSFORMS:
        sys.exit(f"TRANSFORM={TRANSFORM!r} is not one of {', '.join(TRANSFORMS)}")
    server = ThreadingHTTPServer((host, port), Agent)
    server.daemon_threads = True
    signal.signal(signal.SIGTERM, stop)
    print(f"{TRANSFORM} agent listening on http://{host}:{server.server_address[1]}", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()


if __name__ == "__main__":
    main()
