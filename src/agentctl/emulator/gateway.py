"""The data plane: ``/agent-runtimes/<name>/endpoints/<endpoint>/invocations/<path>``.

Per request: parse the URL → the cached route (:mod:`route_cache`) → a version
by weight (a session's own point when the runtime has session affinity) →
an instance slot from the pool (cold start or queue if needed; ``Throttled`` →
429) → relay the request and stream the answer back as it arrives
(:mod:`upstream`), adding ``x-agentrun-request-id``, ``x-agentrun-version``,
``x-agentrun-instance-id``, ``x-agentrun-cold-start`` and
``x-agentrun-queue-wait-ms``. The request id also goes to the instance.

:meth:`Gateway.resolve` is the logic (no sockets); :meth:`Gateway.handle` is
the per-request handler of the HTTP front (:mod:`http_front`: asyncio Protocol
+ httptools, chosen over aiohttp's server and client: with them bench/gateway.py
measured about 0.27 of the bare instance's throughput, with this 0.42–0.68 on 2
shared cores). Errors are JSON ``{code, message, requestId}``; an instance that
dies under a request gives 502 ``InstanceCrashed`` naming it.
"""

from __future__ import annotations

import asyncio
import functools
import json
import random
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from http import HTTPStatus
from urllib.parse import unquote

from agentctl.emulator.drivers.base import InstanceStartFailed
from agentctl.emulator.http_front import FrontLimits, FrontServer, Reply, Request
from agentctl.emulator.instance import SERVING
from agentctl.emulator.limits import Throttled
from agentctl.emulator.log_recorder import LogRecorder
from agentctl.emulator.pool import InstancePool, Lease, Target
from agentctl.emulator.route_cache import (
    COOKIE,
    SESSION_COOKIE,
    Affinity,
    Announcing,
    Route,
    RouteCache,
    RouteError,
    RouteSource,
    load_route,
    revision_of,
)
from agentctl.emulator.routing import Router
from agentctl.emulator.upstream import NOT_FORWARDED, ClientGone, UpstreamFailed, UpstreamPool, filter_headers

__all__ = ["Gateway", "GatewayServer", "Invocation", "RouteError", "RouteSource", "parse_path", "revision_of",
           "start_gateway"]

PREFIX = "/agent-runtimes/"
URL_SHAPE = "/agent-runtimes/<name>/endpoints/<endpoint>/invocations/<path>"
REQUEST_ID = "x-agentrun-request-id"
VERSION = "x-agentrun-version"
INSTANCE_ID = "x-agentrun-instance-id"
COLD_START = "x-agentrun-cold-start"
QUEUE_WAIT = "x-agentrun-queue-wait-ms"
OURS = frozenset(name.encode() for name in (REQUEST_ID, VERSION, INSTANCE_ID, COLD_START, QUEUE_WAIT))
REQUEST_ID_B, VERSION_B, INSTANCE_ID_B, COLD_START_B, QUEUE_WAIT_B = (
    name.encode() for name in (REQUEST_ID, VERSION, INSTANCE_ID, COLD_START, QUEUE_WAIT))
CLIENT_GONE = 499  # logged when the client went away before its answer was complete


@dataclass(frozen=True)
class Invocation:
    runtime: str
    endpoint: str
    path: str  # what the instance sees: "/<path>" plus "?query" when there is one


@functools.lru_cache(maxsize=4096)  # clients call the same few URLs over and over
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


def session_of(request: Request, affinity: Affinity | None) -> tuple[str | None, bytes]:
    """(session id or None, a Set-Cookie line to add): the header's value, or the gateway's cookie."""
    if affinity is None:
        return None, b""
    if affinity.kind != COOKIE:
        value = request.header(affinity.name)
        return (value.decode("latin-1").strip() or None) if value else None, b""
    for name, value in request.headers:
        if name.lower() == b"cookie":
            for part in value.decode("latin-1").split(";"):
                key, _, found = part.strip().partition("=")
                if key == SESSION_COOKIE and found:
                    return found, b""
    session = uuid.uuid4().hex
    return session, b"set-cookie: %s=%s; Path=/; HttpOnly; SameSite=Lax\r\n" % (SESSION_COOKIE.encode(),
                                                                                  session.encode())


class Gateway:
    def __init__(self, routes: RouteSource, pool: InstancePool, *, router: Router | None = None,
                 logs: LogRecorder | None = None) -> None:
        self.routes, self.pool, self.logs = routes, pool, logs
        self.router = router or Router()
        self.upstream = UpstreamPool()
        self._announcer = routes if isinstance(routes, Announcing) else None
        self.cache = RouteCache(routes, prewarm=self._prewarm, ready=self._has_ready) if self._announcer else None
        self._unsubscribe: Callable[[], None] | None = None

    # logic ---------------------------------------------------------------------
    def route(self, invocation: Invocation) -> Route:
        """The route of ``<runtime>/<endpoint>`` (cached when the source can notify changes)."""
        if self.cache is not None:
            return self.cache.get(invocation.runtime, invocation.endpoint)
        return load_route(self.routes, invocation.runtime, invocation.endpoint)

    def resolve(self, invocation: Invocation, session: str | None = None) -> Target:
        """Runtime → endpoint → weighted version (stable per session) → what to run. Raises RouteError."""
        route = self.route(invocation)
        return route.target(self.router.choose(route.split, session))

    async def _prewarm(self, target: Target) -> None:
        await self.pool.prewarm(target, 1)

    def _has_ready(self, target: Target) -> bool:
        return any(i.revision == target.revision and i.status in SERVING
                   and i.spec.runtime_id == target.runtime_id and i.spec.version == target.version
                   for i in self.pool.instances())

    # HTTP ----------------------------------------------------------------------
    async def open(self) -> None:
        if self.cache is not None and self._announcer is not None:
            self.cache.attach(asyncio.get_running_loop())
            self._unsubscribe = self._announcer.subscribe(self.cache.changed)

    async def close(self) -> None:
        """Stop every instance and drop the upstream connections."""
        if self._unsubscribe is not None:
            self._unsubscribe()
        if self.cache is not None:
            self.cache.close()
        await self.pool.close()
        self.upstream.close()

    async def handle(self, request: Request, reply: Reply) -> None:
        request_id = new_request_id()
        invocation = parse_path(request.target.decode("latin-1"))
        if invocation is None:
            raw = request.target.decode("latin-1").partition("?")[0]
            return _error(reply, request, request_id, RouteError(
                404, "NotFound", f"no such gateway path {raw!r}; gateway URLs look like {URL_SHAPE}"))
        target = None
        set_cookie = b""
        try:
            route = self.route(invocation)
            session, set_cookie = session_of(request, route.affinity)
            target = route.target(self.router.choose(route.split, session))
            lease = await self.pool.acquire(target, session=session)
        except (RouteError, InstanceStartFailed, Throttled) as exc:
            error = _route_error(exc)
            if self.logs is not None:
                self.logs.request_rejected(request_id, error.status, error.message, runtime_name=invocation.runtime,
                                           endpoint=invocation.endpoint,
                                           runtime_id=target.runtime_id if target else "",
                                           version=target.version if target else "")
            return _error(reply, request, request_id, error, _retry_after(exc))
        await self._serve(request, reply, invocation, target, session, lease, request_id, set_cookie)

    async def _serve(self, request: Request, reply: Reply, invocation: Invocation, target: Target,
                     session: str | None, lease: Lease, request_id: str, set_cookie: bytes) -> None:
        if self.logs is not None:
            self.logs.request_started(request_id, runtime_id=target.runtime_id, runtime_name=target.runtime_name,
                                      version=target.version, endpoint=invocation.endpoint,
                                      instance_id=lease.instance.id, method=request.method.decode("latin-1"),
                                      path=invocation.path)
        rid = request_id.encode()
        status, message = CLIENT_GONE, ""
        moved = False
        try:
            while True:
                instance = lease.instance
                handle = instance.handle
                assert handle is not None, "a leased instance has a handle"
                host, fixed = _instance_lines(instance.id, target.version, handle.host, handle.port)
                tags = b"%s%s: %s\r\n%s: %d\r\n%s" % (fixed, COLD_START_B, b"true" if lease.cold_start else b"false",
                                                       QUEUE_WAIT_B, round(lease.queue_wait_ms), set_cookie)
                try:
                    head = b"%s %s HTTP/1.1\r\n%s%s%s: %s\r\n" % (
                        request.method, invocation.path.encode("latin-1"), host,
                        filter_headers(request.headers, NOT_FORWARDED, OURS), REQUEST_ID_B, rid)
                    ours = b"%s: %s\r\n%s" % (REQUEST_ID_B, rid, tags)
                    status = await self.upstream.forward(instance.id, handle.host, handle.port, request, reply, head,
                                                         ours, OURS)
                except UpstreamFailed as exc:
                    if not moved and _may_resend(exc, request) and not reply.closed and (
                            await self.pool.unreachable(instance, refused=exc.refused)):
                        # The instance has just died (or stopped listening) and nothing of an answer came:
                        # once, the request goes to a healthy or new instance instead of failing.
                        moved = True
                        lease = await self._elsewhere(lease, target, session, request_id, f"{instance.id} {exc}")
                        continue
                    status = 502
                    message = f"instance {instance.id} of version {target.version} {exc}"
                    if exc.answered:
                        reply.abort()  # mid-answer: the client must see the answer is cut, not a clean end
                    else:
                        _error(reply, request, request_id,
                               RouteError(502, "InstanceCrashed", message, instanceId=instance.id), extra=tags)
                except ClientGone:
                    status = reply.lost_status  # 499, or 408 when the client stopped sending its body
                return
        except (InstanceStartFailed, Throttled) as exc:  # no other instance could take the request
            error = _route_error(exc)
            status, message = error.status, error.message
            _error(reply, request, request_id, error, _retry_after(exc))
        finally:
            lease.release()
            if self.logs is not None:
                self.logs.request_ended(request_id, status, message=message, cold_start=lease.cold_start,
                                        queue_wait_ms=lease.queue_wait_ms)

    async def _elsewhere(self, lease: Lease, target: Target, session: str | None, request_id: str,
                         reason: str) -> Lease:
        """Give back a dead instance's slot and lease another (maybe a new one)."""
        lease.release()
        fresh = await self.pool.acquire(target, session=session)
        if self.logs is not None:
            self.logs.request_moved(request_id, fresh.instance.id, f"instance {reason}")
        return fresh


IDEMPOTENT = frozenset({b"GET", b"HEAD", b"OPTIONS", b"PUT", b"DELETE", b"TRACE"})


def _may_resend(exc: UpstreamFailed, request: Request) -> bool:
    """A refused connection carried nothing; after any other failure, only an idempotent request is resent."""
    return exc.refused or (exc.resendable and request.method.upper() in IDEMPOTENT)


@functools.lru_cache(maxsize=1024)
def _instance_lines(instance_id: str, version: str, host: str, port: int) -> tuple[bytes, bytes]:
    """(the Host line for the instance, the answer's version + instance header lines): the same every request."""
    return (b"host: %s:%d\r\n" % (host.encode(), port),
            b"%s: %s\r\n%s: %s\r\n" % (VERSION_B, version.encode(), INSTANCE_ID_B, instance_id.encode()))


def new_request_id() -> str:
    """A random id in UUID form (not for secrets: ``random`` is several times faster than ``uuid4``)."""
    h = f"{random.getrandbits(128):032x}"
    return f"{h[:8]}-{h[8:12]}-4{h[13:16]}-{'89ab'[int(h[16], 16) & 3]}{h[17:20]}-{h[20:]}"


def _route_error(exc: RouteError | InstanceStartFailed | Throttled) -> RouteError:
    if isinstance(exc, RouteError):
        return exc
    if isinstance(exc, Throttled):
        return RouteError(429, "Throttled", exc.message)
    return RouteError(exc.status, exc.code, exc.message, hint=exc.hint, logs=exc.logs)


def _retry_after(exc: Exception) -> bytes:
    if isinstance(exc, Throttled):
        return b"retry-after: %s\r\n" % exc.retry_after_header.encode()
    return b""


def _error(reply: Reply, request: Request, request_id: str, error: RouteError, extra: bytes = b"") -> None:
    body = {"code": error.code, "message": error.message, "requestId": request_id, **error.extra}
    if request.has_body and not request.complete:
        reply.keep_alive = False  # the rest of the body is not read: the connection ends with this answer
    request.detach()
    lines = b"content-type: application/json\r\n%s: %s\r\n%s" % (REQUEST_ID.encode(), request_id.encode(), extra)
    try:
        reason = HTTPStatus(error.status).phrase.encode()
    except ValueError:
        reason = b"Error"
    reply.send(error.status, reason, lines, b"" if request.method == b"HEAD" else json.dumps(body).encode(),
               http11=request.http11)


class GatewayServer:
    """A running gateway: ``url``, ``port`` and a graceful ``close()`` that stops all instances."""

    def __init__(self, gateway: Gateway, front: FrontServer, host: str, port: int) -> None:
        self.gateway, self._front, self.host, self.port = gateway, front, host, port

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    async def close(self) -> None:
        await self._front.close()
        await self.gateway.close()


async def start_gateway(gateway: Gateway, host: str = "127.0.0.1", port: int = 0, *,
                        limits: FrontLimits | None = None) -> GatewayServer:
    """Serve ``gateway`` on ``host:port`` (0 = a free port) in the running event loop."""
    front = FrontServer(gateway.handle, limits=limits)
    bound = await front.start(host, port)
    await gateway.open()
    return GatewayServer(gateway, front, host, bound)

