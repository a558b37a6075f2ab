"""Routes for the gateway: what ``<runtime>/<endpoint>`` resolves to, cached, switched without downtime.

:func:`load_route` reads the :class:`RouteSource` (the store) once and builds a
:class:`Route`: the endpoint's traffic split, a :class:`~agentctl.emulator.pool.Target`
(or the error to answer) per version in it, and the session affinity rule.
:class:`RouteCache` keeps them, so a request costs no SQLite read. When the
store commits a change (``subscribe`` calls back from the committing thread)
the cache re-reads its routes off the event loop; a route that would send
traffic to a (version, revision) not served before is not switched at once:
the new targets are prewarmed first (started and healthy), and until then
requests keep the old route. Old instances then drain (the pool stops an older
revision of the same version once a newer one is READY; other versions stop
when idle). While LATEST is being updated (its config is saved but its new
code is still being unpacked) the old LATEST target stays.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any, Protocol, runtime_checkable

from agentctl.emulator.drivers.base import runnable
from agentctl.emulator.pool import Target, capacity_of
from agentctl.emulator.rollout import NOT_SERVING
from agentctl.emulator.routing import LATEST, TrafficSplit, split_of
from agentctl.errors import NotFound

log = logging.getLogger("agentctl.emulator.gateway")

SETTLING = frozenset({"CREATING", "UPDATING"})
UNUSED_SECONDS = 600.0  # a route nobody asked for this long is dropped (and no longer prewarmed)
MAX_ROUTES = 4096
RETRY_FIRST, RETRY_MAX = 1.0, 30.0  # seconds between prewarm tries of a new target that does not start
HEADER, COOKIE = "header", "cookie"
SESSION_COOKIE = "agentrun-session"


class RouteSource(Protocol):
    """What the gateway reads from the store (``emulator.store.Store`` conforms).

    Each returns ``None`` (or raises ``agentctl.errors.NotFound``) when the thing does not exist.
    A source that also has ``subscribe(callback) -> unsubscribe`` is cached; others are read per request.
    """

    def runtime_by_name(self, name: str) -> Mapping[str, Any] | None: ...

    def endpoint_by_name(self, runtime_id: str, name: str) -> Mapping[str, Any] | None: ...

    def version(self, runtime_id: str, version: str | int) -> Mapping[str, Any] | None:
        """``{"config": {runtime fields}, "codeDir": abs path}`` for ``"LATEST"`` or a number."""
        ...


@runtime_checkable
class Announcing(Protocol):
    """A RouteSource that calls back after every change (``Store.subscribe``): the gateway then caches routes."""

    def subscribe(self, callback: Callable[[], None]) -> Callable[[], None]: ...


class RouteError(Exception):
    """A request the gateway answers itself, with a JSON error."""

    def __init__(self, status: int, code: str, message: str, **extra: Any) -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.extra = status, code, message, extra


@dataclass(frozen=True)
class Affinity:
    """Where a request's session id is: a header (``name``, lower case) or the gateway's cookie."""

    kind: str
    name: bytes


@dataclass(frozen=True)
class Route:
    runtime_id: str
    runtime_name: str
    split: TrafficSplit
    targets: Mapping[str, Target | RouteError]  # per version of the split
    affinity: Affinity | None = None
    settling: bool = False  # LATEST's new code is still being unpacked

    def target(self, version: str) -> Target:
        found = self.targets[version]
        if isinstance(found, RouteError):
            raise found
        return found

    def live(self) -> list[Target]:
        """The targets that get traffic (share > 0)."""
        return [t for v, share in self.split.shares if share > 0 and isinstance(t := self.targets[v], Target)]


def revision_of(record: Mapping[str, Any]) -> str:
    """Fingerprint of a version's code dir + config: a changed LATEST gets new instances."""
    text = json.dumps(record, sort_keys=True, default=str)
    return hashlib.blake2b(text.encode(), digest_size=8).hexdigest()


def affinity_of(config: Mapping[str, Any]) -> Affinity | None:
    """The session rule of a version's config (``sessionAffinityType``, ``headerFieldName``)."""
    if config.get("disableSessionAffinity"):
        return None
    kind = str(config.get("sessionAffinityType") or "").upper()
    header = str(config.get("headerFieldName") or "").strip()
    if kind == "HEADER_FIELD" and header:
        return Affinity(HEADER, header.lower().encode("latin-1"))
    if kind in ("GENERATED_COOKIE", "COOKIE"):
        return Affinity(COOKIE, SESSION_COOKIE.encode())
    return None


def load_route(source: RouteSource, runtime_name: str, endpoint_name: str) -> Route:
    """Read one route from the source; RouteError (404) when the runtime or endpoint does not exist."""
    runtime = _lookup(source.runtime_by_name, runtime_name)
    if runtime is None:
        raise RouteError(404, "AgentRuntimeNotFound", f"agent runtime {runtime_name!r} does not exist")
    runtime_id = str(runtime.get("agentRuntimeId") or runtime.get("id"))
    endpoint = _lookup(source.endpoint_by_name, runtime_id, endpoint_name)
    if endpoint is None:
        raise RouteError(404, "AgentRuntimeEndpointNotFound",
                         f"endpoint {endpoint_name!r} of agent runtime {runtime_name!r} does not exist")
    status = str(endpoint.get("status") or "")
    if status in NOT_SERVING:  # a new endpoint whose versions have not passed their health check (yet)
        reason = endpoint.get("statusReason")
        raise RouteError(503, "EndpointNotReady", f"endpoint {endpoint_name!r} of agent runtime {runtime_name!r} "
                         f"is {status}" + (f": {reason}" if reason else "; retry in a moment"))
    split = split_of(endpoint)
    targets = {version: _target(source, runtime_id, runtime_name, endpoint_name, version)
               for version, _ in split.shares}
    main = targets[split.target]
    config = main.config if isinstance(main, Target) else runtime
    return Route(runtime_id, runtime_name, split, targets, affinity_of(config),
                 str(runtime.get("status") or "") in SETTLING)


def _target(source: RouteSource, runtime_id: str, runtime: str, endpoint: str, version: str) -> Target | RouteError:
    record = None
    if version == LATEST or version.isdigit():
        record = _lookup(source.version, runtime_id, version if version == LATEST else int(version))
    if record is None:
        return RouteError(404, "RuntimeVersionNotFound",
                          f"endpoint {endpoint!r} routes to version {version} of {runtime!r}, which does not exist")
    if not runnable(record):
        return RouteError(503, "CodeNotReady", f"version {version} of {runtime!r} has no code to run yet (it is "
                          "still being unpacked)", hint="retry in a moment")
    return target_of(runtime_id, runtime, version, record)


def target_of(runtime_id: str, runtime_name: str, version: str, record: Mapping[str, Any]) -> Target:
    """What the pool runs for a stored version record (``RouteSource.version``)."""
    config = record.get("config") or {}
    return Target(runtime_id=runtime_id, runtime_name=runtime_name, version=version,
                  code_dir=str(record.get("codeDir") or ""),
                  config=config, revision=revision_of(record), capacity=capacity_of(config))


def _lookup(method: Any, *args: Any) -> Mapping[str, Any] | None:
    try:
        result: Mapping[str, Any] | None = method(*args)
    except NotFound:
        return None
    return result


Prewarm = Callable[[Target], Awaitable[None]]
Loaded = Route | RouteError


@dataclass(eq=False)
class _Entry:
    route: Loaded
    used: float = field(default_factory=time.monotonic)
    pending: Route | None = None  # the next route, waiting for its new targets to be healthy
    cold: tuple[Target, ...] = ()  # those targets


class RouteCache:
    """Routes by (runtime, endpoint); refreshed on store changes, switched after prewarming."""

    def __init__(self, source: RouteSource, *, prewarm: Prewarm | None = None,
                 ready: Callable[[Target], bool] | None = None) -> None:
        self.source, self._prewarm, self._ready = source, prewarm, ready
        self._entries: dict[tuple[str, str], _Entry] = {}
        self._loop: asyncio.AbstractEventLoop | None = None
        self._refreshing: asyncio.Task[None] | None = None
        self._dirty = False
        self._tasks: set[asyncio.Task[None]] = set()
        self._first_tries: set[asyncio.Event] = set()  # set once a switch's first prewarm round is over

    def get(self, runtime: str, endpoint: str) -> Route:
        """The current route (raises its RouteError); a first request for it reads the source."""
        key = (runtime, endpoint)
        entry = self._entries.get(key)
        if entry is None:
            entry = self._entries[key] = _Entry(_load(self.source, key))
            if len(self._entries) > MAX_ROUTES:
                self._evict()
        entry.used = time.monotonic()
        if entry.pending is not None and self._ready is not None and all(map(self._ready, entry.cold)):
            self._switch(entry, entry.pending)  # the pool already moved on (it drains an older revision)
        if isinstance(entry.route, RouteError):
            raise entry.route
        return entry.route

    # refreshing ------------------------------------------------------------------
    def attach(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop

    def changed(self) -> None:
        """The source changed (any thread): re-read the cached routes on the loop."""
        if self._loop is not None and not self._loop.is_closed():
            with contextlib.suppress(RuntimeError):  # the loop closed meanwhile
                self._loop.call_soon_threadsafe(self._schedule)

    def _schedule(self) -> None:
        self._dirty = True
        if self._refreshing is None or self._refreshing.done():
            self._refreshing = asyncio.get_running_loop().create_task(self._refresh())

    async def _refresh(self) -> None:
        while self._dirty:
            self._dirty = False
            self._drop_unused()
            fresh = await asyncio.to_thread(self._load_all, list(self._entries))
            for key, new in fresh.items():
                entry = self._entries.get(key)
                if entry is not None:
                    self._apply(entry, new)

    def _load_all(self, keys: list[tuple[str, str]]) -> dict[tuple[str, str], Loaded]:
        return {key: _load(self.source, key) for key in keys}

    def _apply(self, entry: _Entry, new: Loaded) -> None:
        old = entry.pending or entry.route
        if isinstance(new, Route) and isinstance(old, Route) and new.settling and LATEST in old.targets:
            new = replace(new, targets={**new.targets, LATEST: old.targets[LATEST]})
        if new == old:
            return
        serving = entry.route.live() if isinstance(entry.route, Route) else []
        cold = tuple(t for t in new.live() if t not in serving) if isinstance(new, Route) else ()
        if isinstance(new, RouteError) or not serving or not cold or self._prewarm is None:
            self._switch(entry, new)  # nothing served before, nothing new to start, or an error to answer now
            return
        entry.pending, entry.cold = new, cold
        tried = asyncio.Event()
        self._first_tries.add(tried)
        task = asyncio.get_running_loop().create_task(self._warm_then_switch(entry, new, cold, tried))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        task.add_done_callback(lambda _: self._first_tries.discard(tried))

    async def _warm_then_switch(self, entry: _Entry, new: Route, cold: tuple[Target, ...],
                                tried: asyncio.Event) -> None:
        """Switch once every new target is up. One that fails to start keeps the old route (traffic never goes
        to code that does not run, DESIGN §8) and is tried again later, until a newer change replaces it."""
        assert self._prewarm is not None
        delay = RETRY_FIRST
        while entry.pending is new:
            results = await asyncio.gather(*(self._prewarm(t) for t in cold), return_exceptions=True)
            failed = [(t, r) for t, r in zip(cold, results, strict=True) if isinstance(r, BaseException)]
            if not failed and entry.pending is new:
                self._switch(entry, new)
            tried.set()
            self._first_tries.discard(tried)
            if not failed:
                return
            for target, result in failed:
                log.warning("version %s of %s does not start (%s): its route keeps the old targets; retrying "
                            "in %gs", target.version, target.runtime_name, result, delay)
            await asyncio.sleep(delay)
            delay = min(delay * 2, RETRY_MAX)

    @staticmethod
    def _switch(entry: _Entry, new: Loaded) -> None:
        entry.route, entry.pending, entry.cold = new, None, ()

    def _drop_unused(self) -> None:
        before = time.monotonic() - UNUSED_SECONDS
        for key in [k for k, e in self._entries.items() if e.used < before and e.pending is None]:
            del self._entries[key]

    def _evict(self) -> None:
        self._drop_unused()
        while len(self._entries) > MAX_ROUTES:
            del self._entries[next(iter(self._entries))]

    async def settled(self) -> None:
        """Returns once the changes announced so far are applied (prewarms done, routes switched) or have
        been tried once and did not start (those keep their old route and are retried in the background)."""
        while (self._refreshing is not None and not self._refreshing.done()) or self._first_tries:
            if self._refreshing is not None and not self._refreshing.done():
                await asyncio.gather(self._refreshing, return_exceptions=True)
            for tried in list(self._first_tries):
                await tried.wait()

    def close(self) -> None:
        for task in [*self._tasks, *([self._refreshing] if self._refreshing else [])]:
            task.cancel()


def _load(source: RouteSource, key: tuple[str, str]) -> Loaded:
    try:
        return load_route(source, *key)
    except RouteError as exc:
        return exc
