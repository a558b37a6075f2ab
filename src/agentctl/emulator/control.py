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
from agentctl.api.signing import (
    NonceCache,
    SignatureError,
    declared_hash,
    hash_payload,
    parse_authorization,
    verify_head,
)
from agentctl.emulator.service import AgentRunService
from agentctl.emulator.validation import ServiceError

T = TypeVar("T")
Runner = Callable[[Callable[[], T]], Awaitable[T]]
log = logging.getLogger("agentctl.emulator.control")

HEALTH_PATH = "/health"
UNDECLARED_BODY_LIMIT = 1024 * 1024  # bytes read before the signature is checked when no body hash is signed
MAX_BODY = 512 * 1024 * 1024  # a signed body (a code zip, base64) may be this large
MAX_JSON_DEPTH = 64  # the API's bodies nest a few levels; deeper is refused before anything uses it
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
    nonces = NonceCache() if nonces is None else nonces  # (an empty cache is falsy: `or` would replace it)

    @web.middleware
    async def authenticate(request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
                           ) -> web.StreamResponse:
        request_id = new_request_id()
        request[REQUEST_ID] = request_id
        if request.method == "GET" and request.path == HEALTH_PATH:
            return await handler(request)
        headers = list(request.headers.items())
        declared = declared_hash(headers)
        try:
            if declared is None and (request.content_length or 0) > UNDECLARED_BODY_LIMIT:
                parse_authorization(request.headers.get("authorization"))  # unsigned: 401 comes first
                return error_reply(413, "RequestEntityTooLarge", "a request without x-acs-content-sha256 may carry "
                                   f"at most {UNDECLARED_BODY_LIMIT} bytes; sign the body's hash", request_id)
            # With a declared hash the signature is checked before a byte of the body is read: an unsigned or
            # forged request is refused at once, however large a body it announces.
            head = None if declared is None else verify_head(
                request.method, request.raw_path.split("?", 1)[0], list(request.query.items()), headers,
                lookup_secret)
            body = await request.read()
            if head is None:
                head = verify_head(request.method, request.raw_path.split("?", 1)[0], list(request.query.items()),
                                   headers, lookup_secret, payload_hash=hash_payload(body))
            head.check_body(body)
            head.record_nonce(nonces)
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

    app = web.Application(middlewares=[authenticate], client_max_size=MAX_BODY)
    app.router.add_get(HEALTH_PATH, health)
    app.router.add_route("*", "/{tail:.*}", dispatch)
    return app


def _json_body(raw: bytes) -> Any:
    if not raw.strip():
        return None
    too_deep = ServiceError(400, "InvalidParameter", f"the request body is nested more than {MAX_JSON_DEPTH} "
                                                     "levels deep")
    try:
        body = json.loads(raw)
    except RecursionError as exc:  # the parser's own bound (about 1,000 levels)
        raise too_deep from exc
    except ValueError as exc:
        raise ServiceError(400, "InvalidParameter", f"the request body is not valid JSON ({exc})") from exc
    if _deeper_than(body, MAX_JSON_DEPTH):
        raise too_deep
    return body


def _deeper_than(value: Any, limit: int) -> bool:
    if limit < 0:
        return True
    if isinstance(value, dict):
        return any(_deeper_than(v, limit - 1) for v in value.values())
    if isinstance(value, list):
        return any(_deeper_than(v, limit - 1) for v in value)
    return False
