"""A scripted OpenAI-compatible model server: the stand-in for an LLM API in the flow tests.

It answers POST /v1/chat/completions (JSON, or SSE with "stream": true, one chunk per word)
according to a script keyed by the request's "model":

    {"router":  {"replies": ["nobody", "billing"]},        # one per call, the last one repeats
     "writer":  {"reply": "Dear {input}", "hold": "w1"},   # {input}: the last user message
     "slow-a":  {"reply": "A {input}", "barrier": "multi", "parties": 3}}

- ``hold``: a streamed answer sends its first word, then waits until POST /_release/<name>
  (a non-streamed one waits before answering); after 20 s it sends "HOLD-TIMEOUT" instead, so a
  test that never saw the first word in time fails on the content.
- ``barrier``: the request waits until ``parties`` requests of that barrier are in flight at once
  (20 s, then 500 "barrier broken"): proof that calls overlap, without timing anything.
- ``status``: answer that HTTP status with an error body instead; ``fail_first: N``: answer 503
  to the first N calls, then as scripted.

POST /_script replaces the script; GET /_log lists the requests (model, messages, start, end —
time.time()); POST /_reset clears the log and call counters. Listens on $PORT at 127.0.0.1.
"""

from __future__ import annotations

import json
import os
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

LOCK = threading.Lock()
SCRIPT: dict = json.loads(os.environ.get("SCRIPT", "{}"))
CALLS: dict[str, int] = {}
LOG: list[dict] = []
BARRIERS: dict[str, threading.Barrier] = {}
HOLDS: dict[str, threading.Event] = {}
WAIT = 20.0


def hold_event(name: str) -> threading.Event:
    with LOCK:
        return HOLDS.setdefault(name, threading.Event())


def barrier(name: str, parties: int) -> threading.Barrier:
    with LOCK:
        if name not in BARRIERS or BARRIERS[name].broken:
            BARRIERS[name] = threading.Barrier(parties, timeout=WAIT)
        return BARRIERS[name]


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True

    def log_message(self, fmt: str, *args: object) -> None:
        pass

    def body(self) -> bytes:
        return self.rfile.read(int(self.headers.get("Content-Length") or 0))

    def send(self, status: int, payload: object) -> None:
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:
        if self.path == "/_log":
            with LOCK:
                self.send(200, list(LOG))
        else:
            self.send(200, {"status": "ok"})

    def do_POST(self) -> None:
        global SCRIPT
        body = self.body()
        if self.path == "/_script":
            with LOCK:
                SCRIPT = json.loads(body)
            return self.send(200, {"ok": True})
        if self.path == "/_reset":
            with LOCK:
                LOG.clear()
                CALLS.clear()
                HOLDS.clear()
            return self.send(200, {"ok": True})
        if self.path.startswith("/_release/"):
            hold_event(self.path.removeprefix("/_release/")).set()
            return self.send(200, {"released": True})
        if self.path != "/v1/chat/completions":
            return self.send(404, {"error": {"message": f"no route {self.path}"}})
        self.complete(json.loads(body))

    def complete(self, request: dict) -> None:
        model = request.get("model", "")
        entry = {"model": model, "messages": request["messages"], "stream": bool(request.get("stream")),
                 "headers": {k.lower(): v for k, v in self.headers.items()}, "start": time.time()}
        with LOCK:
            rule = SCRIPT.get(model)
            call = CALLS.get(model, 0)
            CALLS[model] = call + 1
            LOG.append(entry)
        try:
            if rule is None:
                return self.send(400, {"error": {"message": f"no script for model {model!r}"}})
            if call < rule.get("fail_first", 0):
                return self.send(503, {"error": {"message": f"scripted failure {call + 1}"}})
            if "status" in rule:
                return self.send(rule["status"], {"error": {"message": rule.get("reply", "scripted failure")}})
            if "barrier" in rule:
                try:
                    barrier(rule["barrier"], rule["parties"]).wait()
                except threading.BrokenBarrierError:
                    return self.send(500, {"error": {"message": "barrier broken: requests did not overlap"}})
            replies = rule.get("replies") or [rule.get("reply", "")]
            user = [m for m in request["messages"] if m.get("role") == "user"]
            text = replies[min(call, len(replies) - 1)].replace("{input}", user[-1]["content"] if user else "")
            if request.get("stream"):
                self.stream(text, rule.get("hold"))
            else:
                if rule.get("hold") and not hold_event(rule["hold"]).wait(WAIT):
                    text = "HOLD-TIMEOUT"
                self.send(200, {"id": "x", "object": "chat.completion", "created": 0, "model": model,
                                "choices": [{"index": 0, "message": {"role": "assistant", "content": text},
                                             "finish_reason": "stop"}]})
        finally:
            entry["end"] = time.time()

    def stream(self, text: str, hold: str | None) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        words = text.split(" ")
        for i, word in enumerate(words):
            self.event({"choices": [{"index": 0, "delta": {"content": (" " if i else "") + word}}]})
            if i == 0 and hold and not hold_event(hold).wait(WAIT):
                self.event({"choices": [{"index": 0, "delta": {"content": " HOLD-TIMEOUT"}}]})
        self.event({"choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]})
        self.chunk(b"data: [DONE]\n\n")
        self.wfile.write(b"0\r\n\r\n")
        self.wfile.flush()

    def event(self, payload: dict) -> None:
        self.chunk(b"data: " + json.dumps({"object": "chat.completion.chunk", **payload}).encode() + b"\n\n")

    def chunk(self, data: bytes) -> None:
        self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
        self.wfile.flush()


if __name__ == "__main__":
    server = ThreadingHTTPServer(("127.0.0.1", int(os.environ["PORT"])), Handler)
    server.daemon_threads = True
    print(f"scripted model listening on {server.server_address[1]}", flush=True)
    server.serve_forever()
