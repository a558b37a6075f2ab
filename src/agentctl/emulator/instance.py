"""One running copy of one version: an explicit status and the only transitions allowed.

    STARTING ──> READY <──> BUSY        (BUSY = every slot taken; only with a capacity)
       │           │         │
       │           └──> DRAINING <──┘   (a newer revision took over; stops when idle)
       ▼                   ▼
     FAILED ──────────> STOPPED

Transitions are plain synchronous methods: the pool drives every instance from
one event loop, so a method without ``await`` runs atomically, which is the
lock. An illegal transition is a bug in the pool and raises.
"""

from __future__ import annotations

import asyncio
import enum
import time
from dataclasses import dataclass, field

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


class IllegalTransition(RuntimeError):
    pass


@dataclass(eq=False)
class Instance:
    spec: InstanceSpec
    revision: str  # fingerprint of the version's code + config: LATEST changes, its revision too
    capacity: int | None = None  # max in-flight requests; None = no cap (first version)
    status: Status = Status.STARTING
    handle: Handle | None = None
    in_flight: int = 0
    started_at: float = field(default_factory=time.time)
    ready_at: float | None = None
    last_used: float = field(default_factory=time.monotonic)
    error: InstanceStartFailed | None = None
    stopping: bool = False  # the pool asked it to stop: its exit is not a crash
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
        if self.status in (Status.READY, Status.BUSY):
            self._move(Status.DRAINING)

    async def wait_ready(self) -> None:
        """Returns once READY (or later states); raises the start error if it failed."""
        await self._settled.wait()
        if self.error is not None:
            raise self.error

    # slots ---------------------------------------------------------------
    def try_reserve(self) -> bool:
        if self.status is not Status.READY:
            return False
        self.in_flight += 1
        if self.capacity is not None and self.in_flight >= self.capacity:
            self._move(Status.BUSY)
        return True

    def release(self) -> None:
        self.in_flight -= 1
        self.last_used = time.monotonic()
        if self.status is Status.BUSY:
            self._move(Status.READY)

    @property
    def idle(self) -> bool:
        return self.in_flight == 0
