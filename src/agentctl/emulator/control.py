"""The control API server: aiohttp routes and wire parsing only; the logic is ``AgentRunService``.

Every request except ``GET /health`` must carry an ACS3-HMAC-SHA256 signature
made with a key that ``lookup_secret`` knows (the ``local`` alias): a
``middleware`` checks it before routing, with replay protection (date window
and nonce cache). Replies are ``{code: "SUCCESS", data, requestId}``; errors are
``{code, message, requestId}`` with a 4xx/5xx status, as AgentRun sends them.

Service calls run through ``run`` (the daemon passes a one-thread executor), so
calls and the background jobs they schedule execute one at a time, in order.
"""

from __future__ import annotations

import json
import logging
import os
import uuid
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

from aiohttp import web

from agentctl.api.models import match_operation
from agentctl.api.signing import NonceCache, SignatureError, verify
from agentctl.emulator.service import AgentRunService
from agentctl.emulator.validation import ServiceError

T = TypeVar("T")
Runner = Callable[[Callable[[], T]], Awaitable[T]]
log = logging.getLogger("agentctl.emulator.control")

HEALTH_PATH = "/health"
REQUEST_ID_HEADER = "x-acs-request-id"
# Where the signature middleware leaves the request id for the handlers (typed request storage).
REQUEST_ID = web.RequestKey("request_id", str)


@dataclass(frozen=True)
class Call:
    """One parsed control request: path parameters, decoded query and JSON body."""

    params: Mapping[str, str]
    query: Mapping[str, str]
    body: Any


Handler = Callable[[AgentRunService, Call], dict[str, Any]]

HANDLERS: dict[str, Handler] = {
    "CreateAgentRuntime": lambda s, c: s.create_runtime(c.body),
    "UpdateAgentRuntime": lambda s, c: s.update_runtime(c.params["agentRuntimeId"], c.body),
    "GetAgentRuntime": lambda s, c: s.get_runtime(c.params["agentRuntimeId"], c.query.get("agentRuntimeVersion")),
    "ListAgentRuntimes": lambda s, c: s.list_runtimes(c.query),
    "DeleteAgentRuntime": lambda s, c: s.delete_runtime(c.params["agentRuntimeId"]),
    "PublishRuntimeVersion": lambda s, c: s.publish_version(c.params["agentRuntimeId"], c.body),
    "ListAgentRuntimeVersions": lambda s, c: s.list_versions(c.params["agentRuntimeId"], c.query),
    "CreateAgentRuntimeEndpoint": lambda s, c: s.create_endpoint(c.params["agentRuntimeId"], c.body),
    "UpdateAgentRuntimeEndpoint": lambda s, c: s.update_endpoint(
        c.params["agentRuntimeId"], c.params["agentRuntimeEndpointId"], c.body),
    "GetAgentRuntimeEndpoint": lambda s, c: s.get_endpoint(
        c.params["agentRuntimeId"], c.params["agentRuntimeEndpointId"]),
    "ListAgentRuntimeEndpoints": lambda s, c: s.list_endpoints(c.params["agentRuntimeId"], c.query),
    "DeleteAgentRuntimeEndpoint": lambda s, c: s.delete_endpoint(
        c.params["agentRuntimeId"], c.params["agentRuntimeEndpointId"]),
}


def new_request_id() -> str:
    return str(uuid.uuid4()).upper()


def error_reply(status: int, code: str, message: str, request_id: str) -> web.Response:
    return web.json_response({"code": code, "message": message, "requestId": request_id}, status=status,
                             headers={REQUEST_ID_HEADER: request_id})


def make_control_app(service: AgentRunService, run: Runner[Any], lookup_secret: Callable[[str], str | None],
                     nonces: NonceCache | None = None) -> web.Application:
    """The control API as an aiohttp application (see the module docstring)."""
    nonces = nonces or NonceCache()

    @web.middleware
    async def authenticate(request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
                           ) -> web.StreamResponse:
        request_id = new_request_id()
        request[REQUEST_ID] = request_id
        if request.method == "GET" and request.path == HEALTH_PATH:
            return await handler(request)
        body = await request.read()
        try:
            verify(request.method, request.raw_path.split("?", 1)[0], list(request.query.items()),
                   list(request.headers.items()), body, lookup_secret, nonces=nonces)
        except SignatureError as err:
            return error_reply(err.status, err.code, err.message, request_id)
        return await handler(request)

    async def health(request: web.Request) -> web.Response:
        return web.json_response({"status": "ok", "pid": os.getpid()})

    async def dispatch(request: web.Request) -> web.Response:
        request_id = request[REQUEST_ID]
        found = match_operation(request.method, request.raw_path)
        if found is None:
            return error_reply(404, "InvalidAction.NotFound",
                               f"no AgentRun operation is {request.method} {request.path}", request_id)
        operation, params = found
        try:
            call = Call(params, dict(request.query), _json_body(await request.read()))
            data = await run(lambda: HANDLERS[operation.name](service, call))
        except ServiceError as err:
            return error_reply(err.status, err.code, err.message, request_id)
        except Exception as exc:  # the server's boundary: a bug becomes a 500, the daemon keeps serving
            log.exception("%s failed", operation.name)
            return error_reply(500, "InternalError", f"{type(exc).__name__}: {exc}", request_id)
        return web.json_response({"code": "SUCCESS", "data": data, "requestId": request_id},
                                 headers={REQUEST_ID_HEADER: request_id})

    app = web.Application(middlewares=[authenticate], client_max_size=512 * 1024 * 1024)
    app.router.add_get(HEALTH_PATH, health)
    app.router.add_route("*", "/{tail:.*}", dispatch)
    return app


def _json_body(raw: bytes) -> Any:
    if not raw.strip():
        return None
    try:
        return json.loads(raw)
    except ValueError as exc:
        raise ServiceError(400, "InvalidParameter", f"the request body is not valid JSON ({exc})") from exc
