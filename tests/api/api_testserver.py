"""A real loopback HTTP server for the API tests (used through the ``api_server`` fixture).

It records each request, checks its ACS3 signature with ``agentctl.api.signing.verify`` and answers
with what the test's responder returns."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl

from agentctl.api.models import match_operation
from agentctl.api.signing import NonceCache, SignatureError, verify

KEY_ID, SECRET = "LTAItestkey", "test-secret-0123456789"


@dataclass
class Captured:
    method: str
    raw_path: str       # as on the wire, percent-encoded, without the query
    query: list[tuple[str, str]]
    headers: list[tuple[str, str]]
    body: bytes


# (operation name or None, path params, decoded query, parsed JSON body) -> (status, JSON reply)
Responder = Callable[[str | None, dict[str, str], dict[str, str], Any], tuple[int, Any]]


def ok(data: Any) -> tuple[int, Any]:
    return 200, {"code": "SUCCESS", "data": data, "requestId": "req-1"}


@dataclass
class ApiServer:
    responder: Responder = lambda op, params, query, body: ok({})
    check_signature: bool = True
    captured: list[Captured] = field(default_factory=list)
    nonces: NonceCache = field(default_factory=NonceCache)
    url: str = ""

    def handle(self, req: Captured) -> tuple[int, Any]:
        self.captured.append(req)
        if self.check_signature:
            try:
                verify(req.method, req.raw_path, req.query, req.headers, req.body,
                       {KEY_ID: SECRET}.get, nonces=self.nonces)
            except SignatureError as exc:
                return exc.status, {"code": exc.code, "message": exc.message, "requestId": "req-sig"}
        found = match_operation(req.method, req.raw_path)
        op, params = found if found else (None, {})
        body = json.loads(req.body) if req.body else None
        return self.responder(op.name if op else None, params, dict(req.query), body)


def _handler(server: ApiServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def _serve(self) -> None:
            raw_path, _, raw_query = self.path.partition("?")
            body = self.rfile.read(int(self.headers.get("content-length") or 0))
            req = Captured(self.command, raw_path, parse_qsl(raw_query, keep_blank_values=True),
                           list(self.headers.items()), body)
            status, reply = server.handle(req)
            data = json.dumps(reply).encode()
            self.send_response(status)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        do_GET = do_POST = do_PUT = do_DELETE = _serve

        def log_message(self, *args: Any) -> None:
            pass

    return Handler


@contextmanager
def serve() -> Iterator[ApiServer]:
    state = ApiServer()
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _handler(state))
    state.url = f"http://127.0.0.1:{httpd.server_address[1]}"
    thread = threading.Thread(target=httpd.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield state
    finally:
        httpd.shutdown()
        httpd.server_close()
