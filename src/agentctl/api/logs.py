"""The client of the emulator's logs routes (see ``agentctl.emulator.logs_api`` for the wire format).

``query`` goes through the shared ``SignedSession`` (signing, error mapping, ``--debug``). ``follow``
reads the chunked NDJSON stream with the same ACS3 signing; when the connection drops (the daemon
restarts) it reconnects after the last record it saw, so a ``logs --tail`` keeps going.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import httpx

from agentctl.access import Credentials
from agentctl.api.client import AcsAuth, SignedSession, base_url
from agentctl.errors import ApiError, BackendError

FC3_VERSION = "2023-03-30"
RECONNECT_DELAY = 1.0
READ_TIMEOUT = 35.0  # the server sends a heartbeat every 10 s; silence longer than this is a dead link


@dataclass(frozen=True)
class LogFilters:
    """What to select; times in epoch milliseconds, both ends included."""

    start_ms: int | None = None
    end_ms: int | None = None
    request_id: str | None = None
    instance_id: str | None = None
    search: str | None = None
    type: str | None = None  # success | fail

    def params(self) -> dict[str, str]:
        values = {"from": self.start_ms, "to": self.end_ms, "requestId": self.request_id,
                  "instanceId": self.instance_id, "query": self.search, "type": self.type}
        return {k: str(v) for k, v in values.items() if v is not None and v != ""}


@dataclass(frozen=True)
class LogPage:
    records: list[dict[str, Any]]
    cursor: int


def _stderr(line: str) -> None:
    sys.stderr.write(line + "\n")


def logs_path(runtime_id: str) -> str:
    return f"/{FC3_VERSION}/functions/{quote('agentrun-' + runtime_id, safe='')}/logs"


class LogsClient:
    def __init__(self, endpoint: str, credentials: Credentials, *, debug: bool = False,
                 log: Callable[[str], None] = _stderr, transport: httpx.BaseTransport | None = None) -> None:
        self.session = SignedSession(endpoint, credentials, api_version=FC3_VERSION, debug=debug, log=log,
                                     transport=transport)
        self._stream = httpx.Client(
            base_url=base_url(endpoint), transport=transport, trust_env=False,
            auth=AcsAuth(credentials.access_key_id, credentials.access_key_secret, credentials.security_token),
            timeout=httpx.Timeout(10.0, read=READ_TIMEOUT), headers={"user-agent": "agentctl"})
        self._log, self.debug = log, debug

    def close(self) -> None:
        self.session.close()
        self._stream.close()

    def __enter__(self) -> LogsClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def query(self, runtime_id: str, filters: LogFilters, *, limit: int = 1000, after: int | None = None) -> LogPage:
        """Matching records, oldest first: the newest ``limit`` ones, or the first ``limit`` after a cursor."""
        query: dict[str, Any] = {**filters.params(), "limit": limit, "after": after}
        reply = self.session.call("GetFunctionLogs", "GET", logs_path(runtime_id), query=query) or {}
        return LogPage(list(reply.get("logs") or []), int(reply.get("cursor") or 0))

    def follow(self, runtime_id: str, filters: LogFilters, *, after: int | None = None,
               on_reconnect: Callable[[str], None] | None = None) -> Iterator[dict[str, Any]]:
        """Records as they are stored, forever (stop by closing the iterator or Ctrl-C)."""
        cursor = after
        while True:
            try:
                for item in self._stream_once(runtime_id, filters, cursor):
                    cursor = int(item.get("id") or item.get("cursor") or cursor or 0)
                    if "kind" in item:
                        yield item
            except (httpx.TransportError, BackendError) as exc:
                if isinstance(exc, ApiError):
                    raise
                if on_reconnect is not None:
                    on_reconnect(f"lost the log stream ({exc}); reconnecting…")
                time.sleep(RECONNECT_DELAY)

    def _stream_once(self, runtime_id: str, filters: LogFilters, after: int | None) -> Iterator[dict[str, Any]]:
        params = {**filters.params(), **({"after": str(after)} if after is not None else {})}
        headers = {"x-acs-action": "FollowFunctionLogs", "x-acs-version": FC3_VERSION, "accept": "application/x-ndjson"}
        if self.debug:
            self._log(f"[debug] → GET {logs_path(runtime_id)}/follow {params}")
        with self._stream.stream("GET", logs_path(runtime_id) + "/follow", params=params, headers=headers) as reply:
            if reply.status_code >= 400:
                raise _error(reply)
            for line in reply.iter_lines():
                if line.strip():
                    yield _parse(line)
        raise BackendError("the emulator ended the log stream", hint="It restarts; the stream resumes by itself.")


def _parse(line: str) -> dict[str, Any]:
    try:
        item = json.loads(line)
    except ValueError as exc:
        raise BackendError(f"the log stream sent a line that is not JSON: {line[:100]!r}",
                           hint="Restart the emulator (`agentctl local stop`) and report it with --debug.") from exc
    return item if isinstance(item, dict) else {}


def _error(reply: httpx.Response) -> ApiError:
    reply.read()
    try:
        body = reply.json()
    except ValueError:
        body = {}
    body = body if isinstance(body, dict) else {}
    code = str(body.get("code") or f"HTTP{reply.status_code}")
    hint = ("Check the `local` alias keys (`agentctl local stop`, then retry)." if reply.status_code in (401, 403)
            else "Check the flags (`agentctl logs --help`).")
    return ApiError(reply.status_code, code, f"FollowFunctionLogs failed: {body.get('message') or reply.text[:200]}",
                    body.get("requestId"), hint=hint)
