"""The FC3-shaped routes of the emulator's control port that read the data plane.

``ListInstances`` (``GET /2023-03-30/functions/agentrun-<runtimeId>/instances?qualifier=``) answers the FC3
``InstanceInfo`` list, plus two emulator fields that ``instance list`` shows: ``inFlight`` and
``lastUsedTimeMs``. ``Get/Put/DeleteConcurrencyConfig`` (``/2023-03-30/functions/agentrun-<runtimeId>/concurrency``)
read and set the runtime's reserved concurrency (``emulator.reserved``): ``{functionArn, reservedConcurrency}``
(no ``reservedConcurrency`` when none is set); Put takes ``{"reservedConcurrency": N}``; Delete answers 204.
Errors are ``{code, message, requestId}``. Requests are signed like every control request (the control app's
middleware).
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from agentctl.emulator.control import REQUEST_ID, REQUEST_ID_HEADER, error_reply
from agentctl.emulator.pool import InstancePool
from agentctl.emulator.reserved import ReservedConcurrency, ReservedError

FUNCTION_PREFIX = "agentrun-"
INSTANCES_PATH = "/2023-03-30/functions/{functionName}/instances"
CONCURRENCY_PATH = "/2023-03-30/functions/{functionName}/concurrency"
Handler = Callable[[web.Request], Awaitable[web.Response]]


def instance_info(row: dict[str, Any]) -> dict[str, Any]:
    """FC3 ``InstanceInfo`` from a ``pool.snapshot()`` row, plus ``inFlight`` and ``lastUsedTimeMs``."""
    return {
        "instanceId": row["id"],
        "versionId": row["version"],
        "qualifier": row["version"],
        "status": row["status"],
        "createdTimeMs": int(row["started_at"] * 1000),
        "inFlight": row["in_flight"],
        "lastUsedTimeMs": int(row["last_used"] * 1000),
    }


def mount_fc3_api(app: web.Application, pool: InstancePool, reserved: ReservedConcurrency | None = None) -> None:
    async def list_instances(request: web.Request) -> web.Response:
        function = request.match_info["functionName"]
        runtime_id = function.removeprefix(FUNCTION_PREFIX)
        qualifier = request.query.get("qualifier")
        found = [instance_info(row) for row in pool.snapshot()
                 if row["runtime_id"] == runtime_id and (not qualifier or row["version"] == qualifier)]
        return _reply(request, {"instances": found})

    app.router.add_get(INSTANCES_PATH, list_instances)
    if reserved is not None:
        mount_concurrency(app, reserved)


def mount_concurrency(app: web.Application, reserved: ReservedConcurrency) -> None:
    """FC3 Get/Put/DeleteConcurrencyConfig on the runtime's function."""
    def config(function: str, value: int | None) -> dict[str, Any]:
        body: dict[str, Any] = {"functionArn": f"acs:fc:local:local:functions/{function}"}
        if value is not None:
            body["reservedConcurrency"] = value
        return body

    async def get(request: web.Request, runtime_id: str) -> web.Response:
        return _reply(request, config(request.match_info["functionName"], reserved.get(runtime_id)))

    async def put(request: web.Request, runtime_id: str) -> web.Response:
        try:
            body = json.loads(await request.read() or b"{}")
        except ValueError as exc:
            raise ReservedError(400, "InvalidArgument", f"the request body is not valid JSON ({exc})") from exc
        value = body.get("reservedConcurrency") if isinstance(body, dict) else None
        return _reply(request, config(request.match_info["functionName"], reserved.put(runtime_id, value)))

    async def delete(request: web.Request, runtime_id: str) -> web.Response:
        reserved.delete(runtime_id)
        request_id = request[REQUEST_ID]
        return web.Response(status=204, headers={REQUEST_ID_HEADER: request_id})

    for method, handler in (("GET", get), ("PUT", put), ("DELETE", delete)):
        app.router.add_route(method, CONCURRENCY_PATH, _guarded(handler))


def _guarded(handler: Callable[[web.Request, str], Awaitable[web.Response]]) -> Handler:
    """Checks the function name and turns ReservedError into the JSON error reply."""
    async def route(request: web.Request) -> web.Response:
        function = request.match_info["functionName"]
        runtime_id = function.removeprefix(FUNCTION_PREFIX)
        try:
            if not function.startswith(FUNCTION_PREFIX) or not runtime_id:
                raise ReservedError(404, "FunctionNotFound", f"function {function!r} is not agentrun-<runtimeId>")
            return await handler(request, runtime_id)
        except ReservedError as err:
            return error_reply(err.status, err.code, err.message, request[REQUEST_ID])
    return route


def _reply(request: web.Request, body: dict[str, Any]) -> web.Response:
    request_id = request[REQUEST_ID]
    return web.json_response({**body, "requestId": request_id}, headers={REQUEST_ID_HEADER: request_id})
