"""What the data plane calls to fill the log store: instance lines and a start/end record per request.

The pool hands ``LogRecorder.line`` to the driver as the log sink; the gateway reports each request
(``request_started`` once an instance is leased, ``request_ended`` when the answer is done, or
``request_rejected`` when it answered without an instance: 404, 429, a failed start). The wiring is
described in docs/architecture.md ("logs").

Attribution (DESIGN §5): a line is given to a request when that request is the only one in flight on
the instance that printed it (``attribute``); with two or more in flight, nobody can tell, so it stays
unattributed. The recorder keeps the in-flight set per instance from the gateway's calls. Many servers
write their access line just after the answer went out, so a request still counts as the one in flight
for ``linger`` seconds (default 0.1) after its end, until another request starts on that instance.

Every method returns at once (the store writes on its own thread) and is safe to call from any thread.

Cold start and queue wait (for metrics) ride on the request-end record's message as leading tags,
``[cold start] [queue 12 ms] <message>`` (``end_note``/``read_end_note``): the store's columns stay as they are,
and ``logs`` shows them after the duration.
"""

from __future__ import annotations

import re
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Collection
from dataclasses import dataclass

from agentctl.emulator.drivers.base import InstanceSpec, LogLine
from agentctl.emulator.logs import LogRecord, LogStore

KNOWN_INSTANCES = 4096  # instance id → runtime/version entries kept for lines that arrive late
LINGER = 0.1


_NOTE = re.compile(r"^(\[cold start\] ?)?(?:\[queue (\d+(?:\.\d+)?) ms\] ?)?")


@dataclass(frozen=True)
class EndNote:
    """What a request-end message says besides its text."""

    cold_start: bool
    queue_wait_ms: float
    message: str


def end_note(message: str = "", *, cold_start: bool = False, queue_wait_ms: float = 0.0) -> str:
    """The request-end message: ``[cold start]`` and ``[queue N ms]`` (when ≥ 1 ms) before ``message``."""
    tags = ["[cold start]"] if cold_start else []
    if queue_wait_ms >= 1:
        tags.append(f"[queue {queue_wait_ms:.0f} ms]")
    return " ".join([*tags, message] if message else tags)


def read_end_note(message: str | None) -> EndNote:
    """The inverse of ``end_note``."""
    text = message or ""
    match = _NOTE.match(text)
    assert match is not None  # every part of the pattern is optional
    return EndNote(bool(match.group(1)), float(match.group(2) or 0.0), text[match.end():])


def attribute(in_flight: Collection[str]) -> str | None:
    """The request a line belongs to: the only one in flight on its instance, else None."""
    return next(iter(in_flight)) if len(in_flight) == 1 else None


@dataclass(frozen=True)
class _Source:
    runtime_id: str
    runtime_name: str
    version: str


@dataclass(frozen=True)
class _Request:
    source: _Source
    endpoint: str
    instance_id: str
    started: float  # time.monotonic()


class LogRecorder:
    """Turns data-plane events into ``LogRecord``s. ``locate`` finds an instance's spec by id (the pool's)."""

    def __init__(self, store: LogStore, *, locate: Callable[[str], InstanceSpec | None] | None = None,
                 linger: float = LINGER, clock: Callable[[], float] = time.monotonic) -> None:
        self.store = store
        self.locate = locate
        self.linger, self._clock = linger, clock
        self._lock = threading.Lock()
        self._requests: dict[str, _Request] = {}
        self._in_flight: dict[str, set[str]] = {}  # instance id → request ids
        self._just_ended: dict[str, tuple[str, _Request, float]] = {}  # instance id → (request id, request, when)
        self._sources: OrderedDict[str, _Source] = OrderedDict()

    # instance output -------------------------------------------------------------
    def line(self, line: LogLine) -> None:
        """The pool's log sink: one line an instance printed (stdout, stderr or a system note)."""
        request_id, request = self._owner(line.instance_id)
        source = request.source if request else self._source(line.instance_id)
        self.store.append(LogRecord(
            time_ns=int(line.time * 1e9), runtime_id=source.runtime_id, runtime_name=source.runtime_name,
            version=source.version, kind=line.stream if line.stream in ("stdout", "stderr") else "system",
            message=line.text, endpoint=request.endpoint if request else None, instance_id=line.instance_id,
            request_id=request_id))

    def _owner(self, instance_id: str) -> tuple[str | None, _Request | None]:
        with self._lock:
            flying = self._in_flight.get(instance_id)
            if flying:
                request_id = attribute(flying)
                return request_id, self._requests.get(request_id) if request_id else None
            ended = self._just_ended.get(instance_id)
        if ended is not None and self._clock() - ended[2] <= self.linger:
            return ended[0], ended[1]
        return None, None

    def _source(self, instance_id: str) -> _Source:
        with self._lock:
            known = self._sources.get(instance_id)
        if known is not None:
            return known
        spec = self.locate(instance_id) if self.locate else None
        if spec is None:
            return _Source("", "", "")
        return self._remember(instance_id, _Source(spec.runtime_id, spec.runtime_name, spec.version))

    def _remember(self, instance_id: str, source: _Source) -> _Source:
        with self._lock:
            self._sources[instance_id] = source
            self._sources.move_to_end(instance_id)
            while len(self._sources) > KNOWN_INSTANCES:
                self._sources.popitem(last=False)
        return source

    # requests ----------------------------------------------------------------------
    def request_started(self, request_id: str, *, runtime_id: str, runtime_name: str, version: str,
                        endpoint: str, instance_id: str, method: str = "", path: str = "") -> None:
        """A request got a slot on ``instance_id`` and is about to be proxied."""
        source = self._remember(instance_id, _Source(runtime_id, runtime_name, version))
        with self._lock:
            self._requests[request_id] = _Request(source, endpoint, instance_id, self._clock())
            self._in_flight.setdefault(instance_id, set()).add(request_id)
            self._just_ended.pop(instance_id, None)
        self.store.append(LogRecord(
            time_ns=time.time_ns(), runtime_id=runtime_id, runtime_name=runtime_name, version=version,
            kind="request-start", message=f"{method} {path}".strip(), endpoint=endpoint, instance_id=instance_id,
            request_id=request_id))

    def request_moved(self, request_id: str, instance_id: str, reason: str) -> None:
        """A started request is sent again to ``instance_id`` (its first instance was dead): one record."""
        with self._lock:
            request = self._requests.get(request_id)
            if request is None:
                return
            old = self._in_flight.get(request.instance_id)
            if old is not None:
                old.discard(request_id)
                if not old:
                    del self._in_flight[request.instance_id]
            self._requests[request_id] = _Request(request.source, request.endpoint, instance_id, request.started)
            self._in_flight.setdefault(instance_id, set()).add(request_id)
        self.store.append(LogRecord(
            time_ns=time.time_ns(), runtime_id=request.source.runtime_id, runtime_name=request.source.runtime_name,
            version=request.source.version, kind="system", message=f"request sent again to instance "
            f"{instance_id}: {reason}", endpoint=request.endpoint, instance_id=instance_id, request_id=request_id))

    def request_ended(self, request_id: str, status: int, *, message: str = "", cold_start: bool = False,
                      queue_wait_ms: float = 0.0) -> bool:
        """The answer to a started request is complete (or failed with ``status``); False if unknown.

        ``cold_start``: the request waited for its instance to start; ``queue_wait_ms``: how long it waited
        for a slot (both from the pool's ``Lease``).
        """
        with self._lock:
            request = self._requests.pop(request_id, None)
            if request is not None:
                flying = self._in_flight.get(request.instance_id)
                if flying is not None:
                    flying.discard(request_id)
                    if not flying:
                        del self._in_flight[request.instance_id]
                        self._just_ended[request.instance_id] = (request_id, request, self._clock())
                        if len(self._just_ended) > KNOWN_INSTANCES:  # instances come and go: forget the oldest
                            del self._just_ended[next(iter(self._just_ended))]
        if request is None:
            return False
        duration = (self._clock() - request.started) * 1000
        self.store.append(LogRecord(
            time_ns=time.time_ns(), runtime_id=request.source.runtime_id,
            runtime_name=request.source.runtime_name, version=request.source.version, kind="request-end",
            message=end_note(message, cold_start=cold_start, queue_wait_ms=queue_wait_ms), endpoint=request.endpoint,
            instance_id=request.instance_id, request_id=request_id, status=status, duration_ms=round(duration, 3)))
        return True

    def request_rejected(self, request_id: str, status: int, message: str, *, runtime_name: str, endpoint: str,
                         runtime_id: str = "", version: str = "", duration_ms: float = 0.0) -> None:
        """The gateway answered by itself (no instance): one end record with the status and why.

        Give ``runtime_id`` whenever the runtime is known: queries select by it.
        """
        self.store.append(LogRecord(
            time_ns=time.time_ns(), runtime_id=runtime_id, runtime_name=runtime_name, version=version,
            kind="request-end", message=message, endpoint=endpoint, request_id=request_id, status=status,
            duration_ms=round(duration_ms, 3)))

    def in_flight(self, instance_id: str) -> frozenset[str]:
        with self._lock:
            return frozenset(self._in_flight.get(instance_id, ()))
