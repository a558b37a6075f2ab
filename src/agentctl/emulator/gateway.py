"""The data plane: ``/agent-runtimes/<name>/endpoints/<endpoint>/invocations/<path>``.

Per request: parse the URL → look the runtime, endpoint and chosen version up
in the :class:`RouteSource` (the store) → reserve an instance in the pool (cold
start if needed) → proxy the request and stream the response back chunk by
chunk (SSE stays live), adding ``x-agentrun-request-id``, ``x-agentrun-version``
and ``x-agentrun-instance-id``. The request id also goes to the instance as
``x-agentrun-request-id``.

:meth:`Gateway.resolve` is the logic (no sockets); :meth:`Gateway.handle` is
the aiohttp handler. The hot path keeps one ``ClientSession`` with a keep-alive
connection pool to the instances, and uses aiohttp's low-level server (no
router). Errors are JSON ``{code, message, requestId}``.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol
from urllib.parse import unquote

import aiohttp
from aiohttp import web
from multidict import CIMultiDict
from yarl import URL

from agentctl.emulator.drivers.base import InstanceStartFailed
from agentctl.emulator.pool import InstancePool, Lease, Target
from agentctl.emulator.routing import LATEST, Router, split_of
from agentctl.errors import NotFound

PREFIX = "/agent-runtimes/"
URL_SHAPE = "/agent-runtimes/<name>/endpoints/<endpoint>/invocations/<path>"
REQUEST_ID = "x-agentrun-request-id"
VERSION = "x-agentrun-version"
INSTANCE_ID = "x-agentrun-instance-id"
HOP_BY_HOP = frozenset({
    "connection", "keep-alive", "proxy-authenticate", "proxy-authorization", "proxy-connection", "te",
    "trailer", "trailers", "transfer-encoding", "upgrade",
})
NOT_FORWARDED = HOP_BY_HOP | {"host", REQUEST_ID, VERSION, INSTANCE_ID}
NOT_RETURNED = HOP_BY_HOP | {"content-length", REQUEST_ID, VERSION, INSTANCE_ID}
SMALL_BODY = 256 * 1024  # responses with a known length up to this are sent in one write


class RouteSource(Protocol):
    """What the gateway reads from the store (``emulator.store.Store`` conforms).

    Each returns ``None`` (or raises ``agentctl.errors.NotFound``) when the thing does not exist.
    """

    def runtime_by_name(self, name: str) -> Mapping[str, Any] | None: ...

    def endpoint_by_name(self, runtime_id: str, name: str) -> Mapping[str, Any] | None: ...

    def version(self, runtime_id: str, version: str | int) -> Mapping[str, Any] | None:
        """``{"config": {runtime fields}, "codeDir": abs path}`` for ``"LATEST"`` or a number."""
        ...


class RouteError(Exception):
    """A request the gateway answers itself, with a JSON error."""

    def __init__(self, status: int, code: str, message: str, **extra: Any) -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.extra = status, code, message, extra


@dataclass(frozen=True)
class Invocation:
    runtime: str
    endpoint: str
    path: str  # what the instance sees: "/<path>" plus "?query" when there is one


def parse_path(raw_path: str) -> Invocation | None:
    """Split a gateway URL (raw, still percent-encoded) into its parts; None if it is not one."""
    path, sep, query = raw_path.partition("?")
    if not path.startswith(PREFIX):
        return None
    parts = path[len(PREFIX):].split("/", 4)
    if len(parts) < 4 or parts[1] != "endpoints" or parts[3] != "invocations" or not parts[0] or not parts[2]:
        return None
    rest = "/" + (parts[4] if len(parts) == 5 else "")
    return Invocation(unquote(parts[0]), unquote(parts[2]), rest + sep + query)


def revision_of(record: Mapping[str, Any]) -> str:
    """Fingerprint of a version's code dir + config: a changed LATEST gets new instances."""
    text = json.dumps(record, sort_keys=True, default=str)
    return hashlib.blake2b(text.encode(), digest_size=8).hexdigest()


class Gateway:
    def __init__(self, routes: RouteSource, pool: InstancePool, *, router: Router | None = None,
                 logs: Any = None) -> None:
        self.routes, self.pool, self.logs = routes, pool, logs
        self.router = router or Router()
        self._session: aiohttp.ClientSession | None = None

    # logic ---------------------------------------------------------------------
    def resolve(self, invocation: Invocation) -> Target:
        """Runtime → endpoint → weighted version → what to run. Raises RouteError (404) otherwise."""
        runtime = _lookup(self.routes.runtime_by_name, invocation.runtime)
        if runtime is None:
            raise RouteError(404, "AgentRuntimeNotFound", f"agent runtime {invocation.runtime!r} does not exist")
        runtime_id = str(runtime.get("agentRuntimeId") or runtime.get("id"))
        endpoint = _lookup(self.routes.endpoint_by_name, runtime_id, invocation.endpoint)
        if endpoint is None:
            raise RouteError(404, "AgentRuntimeEndpointNotFound",
                             f"endpoint {invocation.endpoint!r} of agent runtime {invocation.runtime!r} does not exist")
        version = self.router.choose(split_of(endpoint))
        record = None
        if version == LATEST or version.isdigit():
            record = _lookup(self.routes.version, runtime_id, version if version == LATEST else int(version))
        if record is None:
            raise RouteError(404, "RuntimeVersionNotFound",
                             f"endpoint {invocation.endpoint!r} routes to version {version} of "
                             f"{invocation.runtime!r}, which does not exist")
        if not record.get("codeDir"):
            raise RouteError(503, "CodeNotReady",
                             f"version {version} of {invocation.runtime!r} has no code to run here (a container "
                             "runtime, or its code is still being unpacked)", hint="retry in a moment")
        return Target(runtime_id, invocation.runtime, version, str(record["codeDir"]), record.get("config") or {},
                      revision_of(record))

    # HTTP ----------------------------------------------------------------------
    async def open(self) -> None:
        connector = aiohttp.TCPConnector(limit=0, keepalive_timeout=30, ttl_dns_cache=None)
        self._session = aiohttp.ClientSession(
            connector=connector, auto_decompress=False, cookie_jar=aiohttp.DummyCookieJar(),
            timeout=aiohttp.ClientTimeout(total=None, sock_connect=10),
            skip_auto_headers=("User-Agent", "Accept-Encoding", "Accept", "Content-Type"),
        )

    async def close(self) -> None:
        """Stop every instance and drop the upstream connections."""
        await self.pool.close()
        if self._session is not None:
            await self._session.close()

    async def handle(self, request: web.BaseRequest) -> web.StreamResponse:
        request_id = str(uuid.uuid4())
        invocation = parse_path(request.raw_path)
        if invocation is None:
            return error_response(request_id, RouteError(
                404, "NotFound", f"no such gateway path {request.path!r}; gateway URLs look like {URL_SHAPE}"))
        target = None
        try:
            target = self.resolve(invocation)
            lease = await self.pool.acquire(target)
        except (RouteError, InstanceStartFailed) as exc:
            error = exc if isinstance(exc, RouteError) else RouteError(exc.status, exc.code, exc.message,
                                                                       hint=exc.hint, logs=exc.logs)
            if self.logs is not None:
                self.logs.request_rejected(request_id, error.status, error.message, runtime_name=invocation.runtime,
                                           endpoint=invocation.endpoint,
                                           runtime_id=target.runtime_id if target else "",
                                           version=target.version if target else "")
            return error_response(request_id, error)
        if self.logs is not None:
            self.logs.request_started(request_id, runtime_id=target.runtime_id, runtime_name=target.runtime_name,
                                      version=target.version, endpoint=invocation.endpoint,
                                      instance_id=lease.instance.id, method=request.method, path=invocation.path)
        status = 499  # the client went away before the answer was complete
        try:
            response = await self._proxy(request, invocation, target, lease, request_id)
            status = response.status
            return response
        finally:
            lease.release()
            if self.logs is not None:
                self.logs.request_ended(request_id, status)

    async def _proxy(self, request: web.BaseRequest, invocation: Invocation, target: Target, lease: Lease,
                     request_id: str) -> web.StreamResponse:
        assert self._session is not None, "Gateway.open() was not called"
        instance = lease.instance
        ours = {REQUEST_ID: request_id, VERSION: target.version, INSTANCE_ID: instance.id}
        headers = CIMultiDict((k, v) for k, v in request.headers.items() if k.lower() not in NOT_FORWARDED)
        headers[REQUEST_ID] = request_id
        url = URL(instance.base_url + invocation.path, encoded=True)
        try:
            upstream = await self._session.request(
                request.method, url, headers=headers, allow_redirects=False,
                data=request.content if request.body_exists else None)
        except aiohttp.ClientError as exc:
            return error_response(request_id, RouteError(
                502, "InstanceUnavailable", f"instance {instance.id} of version {target.version} failed to answer: "
                f"{exc}", instanceId=instance.id), ours)
        response: web.StreamResponse | None = None
        try:
            back = CIMultiDict((k, v) for k, v in upstream.headers.items() if k.lower() not in NOT_RETURNED)
            back.update(ours)
            length = upstream.content_length
            if length is not None and length <= SMALL_BODY:
                body = await upstream.read()
                return web.Response(status=upstream.status, reason=upstream.reason, headers=back, body=body)
            response = web.StreamResponse(status=upstream.status, reason=upstream.reason, headers=back)
            if length is not None:
                response.content_length = length
            await response.prepare(request)
            async for chunk in upstream.content.iter_any():
                await response.write(chunk)
            await response.write_eof()
            return response
        except (aiohttp.ClientError, ConnectionResetError) as exc:
            if response is None or not response.prepared:
                return error_response(request_id, RouteError(
                    502, "InstanceUnavailable", f"instance {instance.id} of version {target.version} broke off "
                    f"its answer: {exc}", instanceId=instance.id), ours)
            # mid-stream: end the connection without a clean finish, so the client sees the answer is cut
            if request.transport is not None:
                request.transport.close()
            return response
        finally:
            upstream.release()


def _lookup(method: Any, *args: Any) -> Mapping[str, Any] | None:
    try:
        result: Mapping[str, Any] | None = method(*args)
    except NotFound:
        return None
    return result


def error_response(request_id: str, error: RouteError, headers: Mapping[str, str] | None = None) -> web.Response:
    body = {"code": error.code, "message": error.message, "requestId": request_id, **error.extra}
    return web.json_response(body, status=error.status, headers={**(headers or {}), REQUEST_ID: request_id})


class GatewayServer:
    """A running gateway: ``url``, ``port`` and a graceful ``close()`` that stops all instances."""

    def __init__(self, gateway: Gateway, runner: web.ServerRunner, host: str, port: int) -> None:
        self.gateway, self._runner, self.host, self.port = gateway, runner, host, port

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    async def close(self) -> None:
        await self._runner.cleanup()
        await self.gateway.close()


async def start_gateway(gateway: Gateway, host: str = "127.0.0.1", port: int = 0) -> GatewayServer:
    """Serve ``gateway`` on ``host:port`` (0 = a free port) in the running event loop."""
    await gateway.open()
    runner = web.ServerRunner(web.Server(gateway.handle), shutdown_timeout=2.0, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, host, port)
    await site.start()
    bound = runner.addresses[0][1] if runner.addresses else port
    return GatewayServer(gateway, runner, host, int(bound))
