"""One running copy of one version: an explicit status and the only transitions allowed.

    STARTING ──> READY <──> BUSY        (BUSY = every slot taken; only with a capacity)
       │           │         │
       │           └──> DRAINING <──┘   (a newer revision took over; stops when idle)
       ▼                   ▼
     FAILED ──────────> STOPPED

A *slot* is what ``capacity`` (``sessionConcurrencyLimitPerInstance``) counts: one
request without a session, or one live session however many requests it has in
flight. A request of a session already bound here always gets in, even when BUSY.

Transitions are plain synchronous methods: the pool drives every instance from
one event loop, so a method without ``await`` runs atomically, which is the
lock. An illegal transition is a bug in the pool and raises.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from agentctl.emulator.drivers.base import Handle, InstanceSpec, InstanceStartFailed


class Status(enum.Enum):
    STARTING = "STARTING"
    READY = "READY"
    BUSY = "BUSY"
    DRAINING = "DRAINING"
    STOPPED = "STOPPED"
    FAILED = "FAILED"


ALLOWED: dict[Status, frozenset[Status]] = {
    Status.STARTING: frozenset({Status.READY, Status.FAILED, Status.STOPPED}),
    Status.READY: frozenset({Status.BUSY, Status.DRAINING, Status.FAILED, Status.STOPPED}),
    Status.BUSY: frozenset({Status.READY, Status.DRAINING, Status.FAILED, Status.STOPPED}),
    Status.DRAINING: frozenset({Status.FAILED, Status.STOPPED}),
    Status.FAILED: frozenset({Status.STOPPED}),
    Status.STOPPED: frozenset(),
}
SERVING = (Status.READY, Status.BUSY)


class IllegalTransition(RuntimeError):
    pass


@dataclass(eq=False)
class Instance:
    spec: InstanceSpec
    revision: str  # fingerprint of the version's code + config: LATEST changes, its revision too
    capacity: int | None = None  # max slots; None = no cap
    status: Status = Status.STARTING
    handle: Handle | None = None
    in_flight: int = 0  # requests, with or without a session
    started_at: float = field(default_factory=time.time)
    ready_at: float | None = None
    last_used: float = field(default_factory=time.monotonic)
    error: InstanceStartFailed | None = None
    stopping: bool = False  # the pool asked it to stop: its exit is not a crash
    crashed: bool = False  # its process exited on its own while serving (``exit_code`` says how)
    exit_code: int | None = None
    claims: int = 0  # requests waiting for this STARTING instance (so a burst starts one, not N)
    sessions: dict[str, float] = field(default_factory=dict)  # session id → last use (monotonic)
    shells: int = 0  # open `instance exec` sessions: the instance is not idle while one is open
    _session_flight: dict[str, int] = field(default_factory=dict)  # session id → its requests in flight
    _plain: int = 0  # requests in flight without a session
    _settled: asyncio.Event = field(default_factory=asyncio.Event)  # set on READY or failure

    @property
    def id(self) -> str:
        return self.spec.instance_id

    @property
    def base_url(self) -> str:
        assert self.handle is not None
        return f"http://{self.handle.host}:{self.handle.port}"

    @property
    def alive(self) -> bool:
        return self.status in (Status.STARTING, Status.READY, Status.BUSY, Status.DRAINING)

    def _move(self, new: Status) -> None:
        if new not in ALLOWED[self.status]:
            raise IllegalTransition(f"instance {self.id}: {self.status.value} → {new.value}")
        self.status = new

    # lifecycle -----------------------------------------------------------
    def mark_ready(self) -> None:
        self._move(Status.READY)
        self.ready_at = time.time()
        self.last_used = time.monotonic()
        self._settled.set()

    def mark_failed(self, error: InstanceStartFailed | None = None) -> None:
        if self.status in (Status.FAILED, Status.STOPPED):
            return
        self._move(Status.FAILED)
        self.error = error
        self._settled.set()

    def mark_stopped(self) -> None:
        if self.status is not Status.STOPPED:
            self._move(Status.STOPPED)
        self._settled.set()

    def drain(self) -> None:
        if self.status in SERVING:
            self._move(Status.DRAINING)

    async def wait_ready(self) -> None:
        """Returns once READY (or later states); raises the start error if it failed."""
        await self._settled.wait()
        if self.error is not None:
            raise self.error

    # slots ---------------------------------------------------------------
    @property
    def used(self) -> int:
        """Slots taken: live sessions plus requests without a session."""
        return len(self.sessions) + self._plain

    @property
    def free(self) -> int | None:
        """Slots left (None: unlimited)."""
        return None if self.capacity is None else max(0, self.capacity - self.used)

    def holds(self, session: str) -> bool:
        return session in self.sessions

    def try_reserve(self, session: str | None = None, *, draining: bool = False) -> bool:
        """Take a slot (or join the session's slot); False when not serving or full.

        ``draining``: a DRAINING instance with room may take it too (a request routed before a switch).
        """
        if session is not None and session in self.sessions and self.status in SERVING:
            self._session_flight[session] = self._session_flight.get(session, 0) + 1
            self.sessions[session] = time.monotonic()
            self.in_flight += 1
            return True
        late = draining and self.status is Status.DRAINING and (self.free is None or self.free > 0)
        if self.status is not Status.READY and not late:
            return False
        if session is None:
            self._plain += 1
        else:
            self.sessions[session] = time.monotonic()
            self._session_flight[session] = 1
        self.in_flight += 1
        self._settle_busy()
        return True

    def release(self, session: str | None = None) -> None:
        self.in_flight -= 1
        self.last_used = time.monotonic()
        if session is None:
            self._plain -= 1
        elif session in self._session_flight:
            self.sessions[session] = self.last_used
            left = self._session_flight[session] - 1
            if left:
                self._session_flight[session] = left
            else:
                del self._session_flight[session]
        self._settle_busy()

    def expire_sessions(self, idle_seconds: float, now: float | None = None) -> list[str]:
        """Forget sessions with nothing in flight, unused for ``idle_seconds``; returns them."""
        now = time.monotonic() if now is None else now
        gone = [s for s, used in self.sessions.items()
                if s not in self._session_flight and now - used >= idle_seconds]
        for session in gone:
            del self.sessions[session]
        if gone:
            self._settle_busy()
        return gone

    def _settle_busy(self) -> None:
        full = self.capacity is not None and self.used >= self.capacity
        if full and self.status is Status.READY:
            self._move(Status.BUSY)
        elif not full and self.status is Status.BUSY:
            self._move(Status.READY)

    @property
    def idle(self) -> bool:
        return self.in_flight == 0

    def idle_for(self, now: float | None = None) -> float:
        """Seconds with nothing in flight, no live session and no open shell (0 while in use)."""
        if self.in_flight or self.sessions or self.shells:
            return 0.0
        return (time.monotonic() if now is None else now) - self.last_used

    @contextlib.contextmanager
    def shell_open(self) -> Iterator[None]:
        """Hold the instance for an `instance exec` session: scale-to-zero waits until it ends."""
        self.shells += 1
        try:
            yield
        finally:
            self.shells -= 1
            self.last_used = time.monotonic()

    def describe(self, now: float, wall: float) -> dict[str, Any]:
        """A snapshot row (``now`` monotonic, ``wall`` epoch; times in epoch seconds)."""
        return {"id": self.id, "runtime_id": self.spec.runtime_id, "runtime_name": self.spec.runtime_name,
                "version": self.spec.version, "revision": self.revision, "status": self.status.value,
                "in_flight": self.in_flight, "capacity": self.capacity, "sessions": len(self.sessions),
                "started_at": self.started_at, "ready_at": self.ready_at,
                "last_used": wall - (now - self.last_used), "idle_seconds": self.idle_for(now)}
