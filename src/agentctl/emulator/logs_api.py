"""The logs routes of the control server, at FC3-shaped paths (a runtime runs as FC function ``agentrun-<id>``).

    GET /2023-03-30/functions/agentrun-{runtimeId}/logs
        → 200 {"logs": [record, …], "cursor": N, "requestId": …}   (records oldest first)
    GET /2023-03-30/functions/agentrun-{runtimeId}/logs/follow
        → 200 application/x-ndjson, chunked, never ends by itself: one record per line as it is stored,
          and ``{"cursor": N}`` after 10 s without records (a heartbeat; resume with ``after=N``)

Query parameters of both (all optional):
    from, to      epoch milliseconds, both included
    requestId     records of that request only
    instanceId    records of that instance only
    query         text the message contains (case-insensitive for ASCII)
    type          success | fail: records of requests that ended below / at or above HTTP 400
    after         cursor: only records stored after it (``id`` greater), oldest first
    limit         /logs only, 1–10000 (default 1000); without ``after``, the newest ``limit`` records

A record: ``{id, time (ISO 8601 UTC), timeNs, runtimeId, runtimeName, version, endpoint, instanceId,
requestId, kind (stdout|stderr|system|request-start|request-end), status, durationMs, message}``.
Errors: ``{code, message, requestId}`` with 400 (bad parameter). The routes are mounted on the control
application, so its middleware checks the ACS3 signature as for every other control route.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Mapping

from aiohttp import web

from agentctl.emulator.control import REQUEST_ID, REQUEST_ID_HEADER, error_reply, new_request_id
from agentctl.emulator.logs import OUTCOMES, LogQuery, LogStore

FUNCTION_PREFIX = "agentrun-"
LOGS_PATH = "/2023-03-30/functions/{functionName}/logs"
FOLLOW_PATH = LOGS_PATH + "/follow"
HEARTBEAT = 10.0
MAX_LIMIT = 10_000
NDJSON = "application/x-ndjson"


class BadParameter(Exception):
    pass


def parse_query(function_name: str, params: Mapping[str, str], *, paged: bool) -> LogQuery:
    """The ``LogQuery`` a request asks for; ``BadParameter`` names what is wrong."""
    runtime_id = function_name[len(FUNCTION_PREFIX):] if function_name.startswith(FUNCTION_PREFIX) else ""
    if not runtime_id:
        raise BadParameter(f"function name {function_name!r} is not agentrun-<agentRuntimeId>")
    outcome = params.get("type") or None
    if outcome is not None and outcome not in OUTCOMES:
        raise BadParameter(f"type must be success or fail, not {outcome!r}")
    start, end = _integer(params, "from"), _integer(params, "to")
    limit = _integer(params, "limit") if paged else None
    if limit is not None and not 1 <= limit <= MAX_LIMIT:
        raise BadParameter(f"limit must be between 1 and {MAX_LIMIT}, not {limit}")
    return LogQuery(runtime_id=runtime_id, start_ns=None if start is None else start * 1_000_000,
                    end_ns=None if end is None else end * 1_000_000 + 999_999,
                    request_id=params.get("requestId") or None, instance_id=params.get("instanceId") or None,
                    search=params.get("query") or None, outcome=outcome, limit=limit or 1000,
                    after=_integer(params, "after"))


def _integer(params: Mapping[str, str], name: str) -> int | None:
    text = params.get(name)
    if text is None or text == "":
        return None
    if not text.isdigit():
        raise BadParameter(f"{name} must be a non-negative integer, not {text!r}")
    return int(text)


class LogsApi:
    """The two handlers; ``heartbeat`` is how long the follow stream may stay silent."""

    def __init__(self, store: LogStore, *, heartbeat: float = HEARTBEAT) -> None:
        self.store, self.heartbeat = store, heartbeat

    async def query(self, request: web.Request) -> web.Response:
        request_id = request.get(REQUEST_ID) or new_request_id()
        try:
            query = parse_query(request.match_info["functionName"], request.query, paged=True)
        except BadParameter as exc:
            return error_reply(400, "InvalidParameter", str(exc), request_id)
        page = await asyncio.to_thread(self.store.query, query)
        return web.json_response({"logs": [r.to_json() for r in page.records], "cursor": page.cursor,
                                  "requestId": request_id}, headers={REQUEST_ID_HEADER: request_id})

    async def follow(self, request: web.Request) -> web.StreamResponse:
        request_id = request.get(REQUEST_ID) or new_request_id()
        try:
            query = parse_query(request.match_info["functionName"], request.query, paged=False)
        except BadParameter as exc:
            return error_reply(400, "InvalidParameter", str(exc), request_id)
        cursor = query.after if query.after is not None else await asyncio.to_thread(self.store.last_id)
        response = web.StreamResponse(headers={"Content-Type": NDJSON, "Cache-Control": "no-cache",
                                               REQUEST_ID_HEADER: request_id})
        await response.prepare(request)
        try:
            async with contextlib.aclosing(self.store.follow(query, cursor, idle=self.heartbeat)) as records:
                async for record in records:
                    if record is not None:
                        cursor = record.id or cursor
                    line = {"cursor": cursor} if record is None else record.to_json()
                    await response.write(json.dumps(line, ensure_ascii=False).encode() + b"\n")
        except ConnectionResetError:  # the client went away (Ctrl-C on `logs --tail`)
            pass
        return response


def mount_logs_api(app: web.Application, store: LogStore, *, heartbeat: float = HEARTBEAT) -> LogsApi:
    """Add the logs routes to the control ``app`` (before it starts), behind its signature check.

    aiohttp ≥ 3.10 resolves these fixed-prefix paths before the control app's catch-all route,
    whatever the order of registration.
    """
    api = LogsApi(store, heartbeat=heartbeat)
    app.router.add_get(LOGS_PATH, api.query)
    app.router.add_get(FOLLOW_PATH, api.follow)
    return api
