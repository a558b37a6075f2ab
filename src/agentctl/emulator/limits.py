"""The limiter: how many instances may run, and who may wait for a slot and for how long.

The pool's assigner asks it three things (DESIGN §5, ``local start`` settings):

- may another instance start? (``max_instances``, all runtimes together; an
  instance the pool is stopping no longer counts);
- a request found no free slot and no instance may start: may it queue?
  (``queue_depth`` waiting requests per version) — else :class:`Throttled`;
- it queued: wait until something frees up, at most ``queue_wait_seconds``
  from when it first queued — else :class:`Throttled`.

The gateway turns :class:`Throttled` into 429 with ``Retry-After`` and a JSON body.

And one thing per revision of a version: did its last starts fail? A revision whose instance failed to
start (or crashed within ``STABLE_SECONDS`` of becoming ready) is not started again for a while
(:class:`Backoff`: at once after the first failure, then 1 s, doubling up to 30 s, as Kubernetes'
CrashLoopBackOff): requests meanwhile
get the last failure at once, with when the next start will be tried.
"""

from __future__ import annotations

import asyncio
import math
import time
from dataclasses import dataclass

from agentctl.emulator.drivers.base import InstanceStartFailed

RETRY_AFTER = 1.0  # seconds: slots usually free up within a request's time
BACKOFF_FIRST, BACKOFF_MAX = 1.0, 30.0  # seconds between starts of a revision whose starts keep failing
BACKOFF_RESET = 60.0  # seconds without a failure after which the count starts again
STABLE_SECONDS = 10.0  # an instance that crashes sooner than this after it was ready counts as a failed start


class Throttled(Exception):
    """No slot, no room for another instance, and the queue is full or the wait ran out (→ 429)."""

    status = 429
    code = "Throttled"

    def __init__(self, retry_after: float, message: str) -> None:
        super().__init__(message)
        self.retry_after, self.message = retry_after, message

    @property
    def retry_after_header(self) -> str:
        """``Retry-After`` wants whole seconds; never 0."""
        return str(max(1, math.ceil(self.retry_after)))


@dataclass(frozen=True)
class Limits:
    max_instances: int = 50
    queue_depth: int = 100
    queue_wait_seconds: float = 10.0


class Signal:
    """Wakes everyone waiting when something changed (a slot freed, an instance got ready or stopped)."""

    __slots__ = ("_event", "waiters")

    def __init__(self) -> None:
        self._event = asyncio.Event()
        self.waiters = 0

    def notify(self) -> None:
        if self.waiters:
            self._event.set()
            self._event = asyncio.Event()

    async def wait(self, timeout: float) -> bool:
        """True when notified, False when ``timeout`` passed first."""
        event = self._event
        self.waiters += 1
        try:
            await asyncio.wait_for(event.wait(), timeout)
            return True
        except asyncio.TimeoutError:
            return False
        finally:
            self.waiters -= 1


class Queue:
    """The waiting room of one version: bounded in size, and in time per request."""

    __slots__ = ("label", "limits", "queued", "signal")

    def __init__(self, label: str, limits: Limits) -> None:
        self.label, self.limits = label, limits
        self.queued = 0
        self.signal = Signal()

    def enter(self) -> float:
        """Take a place in the queue; returns the deadline (loop time). Raises Throttled when full."""
        if self.queued >= self.limits.queue_depth:
            raise Throttled(RETRY_AFTER, f"{self.label}: every instance is busy, no more instances may start "
                                         f"(--max-instances {self.limits.max_instances}) and the queue is full "
                                         f"({self.limits.queue_depth} waiting)")
        self.queued += 1
        return asyncio.get_running_loop().time() + self.limits.queue_wait_seconds

    def leave(self) -> None:
        self.queued -= 1

    async def wait(self, deadline: float) -> None:
        """Wait for a change; raises Throttled once the deadline has passed."""
        left = deadline - asyncio.get_running_loop().time()
        if left <= 0 or not await self.signal.wait(left):
            raise Throttled(RETRY_AFTER, f"{self.label}: no slot freed up within the queue wait "
                                         f"({self.limits.queue_wait_seconds:g}s; every instance is busy and "
                                         f"--max-instances {self.limits.max_instances} are running)")


def may_start(running: int, limits: Limits) -> bool:
    return running < limits.max_instances


@dataclass
class Backoff:
    """Failed starts in a row of one revision, and until when (monotonic) no new start is tried."""

    failures: int = 0
    until: float = 0.0

    def failed(self, now: float | None = None) -> float:
        """One more failure; returns the delay before the next start. Long after the last one, it counts anew."""
        now = time.monotonic() if now is None else now
        if self.until and now - self.until > BACKOFF_RESET:
            self.failures = 0
        self.failures += 1
        # the first failure is retried at once (a one-off crash); then 1 s, 2 s, 4 s … up to BACKOFF_MAX
        delay = 0.0 if self.failures == 1 else min(BACKOFF_MAX, BACKOFF_FIRST * 2.0 ** (self.failures - 2))
        self.until = now + delay
        return delay

    def waiting(self, now: float | None = None) -> float:
        """Seconds until a start may be tried again (0: now)."""
        return max(0.0, self.until - (time.monotonic() if now is None else now))

    def holding(self, error: InstanceStartFailed | None) -> InstanceStartFailed | None:
        """The answer while no start may be tried: the last failure, saying when the next start is."""
        wait = self.waiting()
        if wait <= 0 or error is None:
            return None
        times = f"{self.failures} time{'s' * (self.failures > 1)}"
        return InstanceStartFailed(error.code, f"{error.message} (it failed {times} in a row; the next start is "
                                   f"in {math.ceil(wait)}s)", error.hint or "", status=error.status, logs=error.logs)
