"""The metrics route of the control server, at an FC3-shaped path (a runtime runs as FC function ``agentrun-<id>``).

    GET /2023-03-30/functions/agentrun-{runtimeId}/metrics?from=&to=
        → 200 {"runtimeId", "from", "to" (ISO 8601 UTC), "rows": [row, …], "total": row, "requestId"}

``from``/``to`` are epoch milliseconds, both included; ``to`` defaults to now and ``from`` to one hour
before ``to``. A row: ``{version, endpoint, invocations, errors, throttles, coldStarts, durationP50Ms,
durationP90Ms, durationP99Ms, queueWaitP99Ms, instancesNow, instancesPeak}`` (meanings in
``agentctl.emulator.metrics``). Errors: ``{code, message, requestId}`` with 400. Mounted on the control
application, so its middleware checks the ACS3 signature as for every other control route.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from aiohttp import web

from agentctl.emulator.control import REQUEST_ID, REQUEST_ID_HEADER, error_reply, new_request_id
from agentctl.emulator.logs import LogStore
from agentctl.emulator.logs_api import FUNCTION_PREFIX, BadParameter
from agentctl.emulator.metrics import Window, compute

METRICS_PATH = "/2023-03-30/functions/{functionName}/metrics"
DEFAULT_WINDOW_MS = 3_600_000
FLUSH_TIMEOUT = 2.0  # records are written by a background thread: wait for what is queued, but not long

Snapshot = Callable[[], Sequence[Mapping[str, Any]]]


def parse_window(function_name: str, params: Mapping[str, str], now_ms: int) -> tuple[str, Window]:
    """``(runtime id, window)`` of a request; ``BadParameter`` names what is wrong."""
    runtime_id = function_name[len(FUNCTION_PREFIX):] if function_name.startswith(FUNCTION_PREFIX) else ""
    if not runtime_id:
        raise BadParameter(f"function name {function_name!r} is not agentrun-<agentRuntimeId>")
    end = _millis(params, "to", now_ms)
    start = _millis(params, "from", end - DEFAULT_WINDOW_MS)
    if start > end:
        raise BadParameter(f"from ({start}) is after to ({end})")
    return runtime_id, Window(start * 1_000_000, end * 1_000_000 + 999_999)


def _millis(params: Mapping[str, str], name: str, default: int) -> int:
    text = params.get(name) or ""
    if not text:
        return default
    if not text.isdigit():
        raise BadParameter(f"{name} must be epoch milliseconds, not {text!r}")
    return int(text)


def mount_metrics_api(app: web.Application, store: LogStore, snapshot: Snapshot) -> None:
    """Add the metrics route to the control ``app`` (before it starts), behind its signature check."""

    async def metrics(request: web.Request) -> web.Response:
        request_id = request.get(REQUEST_ID) or new_request_id()
        try:
            runtime_id, window = parse_window(request.match_info["functionName"], request.query,
                                              time.time_ns() // 1_000_000)
        except BadParameter as exc:
            return error_reply(400, "InvalidParameter", str(exc), request_id)
        live = list(snapshot())  # on the loop: the pool is not thread-safe
        await asyncio.to_thread(store.flush, FLUSH_TIMEOUT)
        report = await asyncio.to_thread(compute, store.path, runtime_id, window, live)
        return web.json_response({**report, "requestId": request_id}, headers={REQUEST_ID_HEADER: request_id})

    app.router.add_get(METRICS_PATH, metrics)
