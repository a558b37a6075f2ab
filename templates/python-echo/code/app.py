"""An echo agent with an OpenAI-compatible API, standard library only.

    POST /openai/v1/chat/completions   JSON reply, or server-sent events with "stream": true
    GET  /openai/v1/models             the one model this agent serves
    GET  /health                       {"status": "ok"}

It answers with the last user message, prefixed by VERSION: change VERSION (or set
AGENT_VERSION_TAG), deploy, publish, and watch the traffic split between versions.

Listens on $PORT (or $FC_SERVER_PORT / $AGENTRUN_PORT, default 9000) at $HOST: default
127.0.0.1 on your machine, 0.0.0.0 inside a cloud instance (FC_INSTANCE_ID set) so that the
platform can reach it; containers set HOST=0.0.0.0. One log line per request goes to stdout.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

VERSION = os.environ.get("AGENT_VERSION_TAG", "v1")
MODEL = os.environ.get("AGENT_MODEL_NAME", "echo")
STREAM_DELAY = float(os.environ.get("ECHO_STREAM_DELAY", "0"))  # seconds between chunks, to watch streaming


def reply_for(messages: list) -> str:
    """The agent's answer: the last user message, echoed."""
    for message in reversed(messages):
        if isinstance(message, dict) and message.get("role") == "user":
            return f"[{VERSION}] {text_of(message.get('content'))}"
    return f"[{VERSION}] (no user message)"


def text_of(content: object) -> str:
    """OpenAI content is a string or a list of parts like {"type": "text", "text": "..."}."""
    if isinstance(content, list):
        return " ".join(str(part.get("text", "")) for part in content if isinstance(part, dict))
    return "" if content is None else str(content)


def completion(reply: str, prompt: str) -> dict:
    return {
        "id": f"chatcmpl-{uuid.uuid4().hex[:24]}",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": MODEL,
        "choices": [{"index": 0, "message": {"role": "assistant", "content": reply}, "finish_reason": "stop"}],
        "usage": {
            "prompt_tokens": len(prompt.split()),
            "completion_tokens": len(reply.split()),
            "total_tokens": len(prompt.split()) + len(reply.split()),
        },
    }


def chunks(reply: str) -> list[dict]:
    """The reply as OpenAI stream chunks: the role, one chunk per word, then finish_reason."""
    base = {"id": f"chatcmpl-{uuid.uuid4().hex[:24]}", "object": "chat.completion.chunk",
            "created": int(time.time()), "model": MODEL}
    words = reply.split(" ")
    deltas = [{"role": "assistant", "content": ""}]
    deltas += [{"content": word if i == 0 else " " + word} for i, word in enumerate(words)]
    out = [{**base, "choices": [{"index": 0, "delta": delta, "finish_reason": None}]} for delta in deltas]
    out.append({**base, "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]})
    return out


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive for JSON, chunked transfer for streams
    # Small writes + delayed ACKs cost ~40 ms per keep-alive request without TCP_NODELAY.
    disable_nagle_algorithm = True
    server_version = "python-echo"

    def do_GET(self) -> None:
        path = self.path.split("?", 1)[0]
        if path == "/health":
            self.send_json(200, {"status": "ok", "version": VERSION})
        elif path == "/openai/v1/models":
            model = {"id": MODEL, "object": "model", "created": 0, "owned_by": "agentctl"}
            self.send_json(200, {"object": "list", "data": [model]})
        else:
            self.send_error_json(404, f"no route for GET {path}", "not_found")

    def do_POST(self) -> None:
        path = self.path.split("?", 1)[0]
        body = self.read_body()
        if path != "/openai/v1/chat/completions":
            self.send_error_json(404, f"no route for POST {path}", "not_found")
            return
        try:
            request = json.loads(body or b"{}")
            messages = request["messages"]
            if not isinstance(messages, list):
                raise TypeError("messages must be a list")
        except (ValueError, KeyError, TypeError) as exc:
            self.send_error_json(400, f"expected a JSON body with a messages list ({exc})", "invalid_request_error")
            return
        reply = reply_for(messages)
        if request.get("stream"):
            self.stream(chunks(reply))
        else:
            prompt = " ".join(text_of(m.get("content")) for m in messages if isinstance(m, dict))
            self.send_json(200, completion(reply, prompt))

    def read_body(self) -> bytes:
        """The whole request body, sent with Content-Length or chunked (as proxies and SDKs may send it)."""
        if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
            return self.read_chunked()
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length > 0 else b""

    def read_chunked(self) -> bytes:
        body = b""
        while True:
            size = int(self.rfile.readline().split(b";", 1)[0].strip() or b"0", 16)
            if size == 0:
                while self.rfile.readline() not in (b"\r\n", b"\n", b""):  # trailers, up to the blank line
                    pass
                return body
            body += self.rfile.read(size)
            self.rfile.readline()  # the CRLF after the chunk

    def send_json(self, status: int, payload: dict) -> None:
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def send_error_json(self, status: int, message: str, kind: str) -> None:
        self.send_json(status, {"error": {"message": message, "type": kind}})

    def stream(self, events: list[dict]) -> None:
        """Server-sent events, one HTTP chunk per event, each flushed as it is written."""
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Cache-Control", "no-cache")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        for event in [json.dumps(e) for e in events] + ["[DONE]"]:
            self.write_chunk(f"data: {event}\n\n".encode())
            if STREAM_DELAY:
                time.sleep(STREAM_DELAY)
        self.wfile.write(b"0\r\n\r\n")
        self.wfile.flush()

    def write_chunk(self, data: bytes) -> None:
        self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
        self.wfile.flush()

    def log_message(self, format: str, *args: object) -> None:
        stamp = time.strftime("%Y-%m-%dT%H:%M:%S")
        sys.stdout.write(f"{stamp} {self.client_address[0]} {format % args}\n")
        sys.stdout.flush()


def port_from_env() -> int:
    for name in ("PORT", "FC_SERVER_PORT", "AGENTRUN_PORT"):
        if os.environ.get(name):
            return int(os.environ[name])
    return 9000


def stop(signum: int, frame: object) -> None:
    """SIGTERM (how instances are stopped) ends serve_forever as Ctrl-C does."""
    raise KeyboardInterrupt


def host_from_env() -> str:
    if os.environ.get("HOST"):
        return os.environ["HOST"]
    return "0.0.0.0" if os.environ.get("FC_INSTANCE_ID") else "127.0.0.1"


def main() -> None:
    host = host_from_env()
    server = ThreadingHTTPServer((host, port_from_env()), Handler)
    server.daemon_threads = True
    signal.signal(signal.SIGTERM, stop)
    print(f"python-echo {VERSION} listening on http://{host}:{server.server_address[1]}", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()


if __name__ == "__main__":
    main()
