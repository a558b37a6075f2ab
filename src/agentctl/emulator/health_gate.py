"""The daemon's rollout gate (``emulator.rollout.Gate``): start each candidate in the instance pool and wait
until it is healthy, so that a change takes traffic only once its code runs.

The check is the pool's own start-up (the process or container starts, then passes its health check
within the startup timeout). A candidate that fails gives the rollout's ``statusReason``: what failed and
the last lines the instance printed. When every instance slot is busy, one instance may start past
``--max-instances`` for the check (``surge``); if even that is taken, the check waits for room until the
startup timeout. The instance that passed stays up: the gateway switches to it without a cold start.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
from collections.abc import Sequence

from agentctl.emulator.drivers.base import InstanceStartFailed
from agentctl.emulator.limits import Throttled
from agentctl.emulator.pool import InstancePool
from agentctl.emulator.rollout import Candidate, GateClosed, RolloutFailed
from agentctl.emulator.route_cache import target_of

ROOM_POLL = 0.5  # seconds between tries while no instance may start
TAIL_LINES = 15  # lines of the instance's output in the reason


class HealthGate:
    def __init__(self, pool: InstancePool, loop: asyncio.AbstractEventLoop, *, timeout: float) -> None:
        self._pool, self._loop, self._timeout = pool, loop, timeout

    def __call__(self, candidates: Sequence[Candidate]) -> concurrent.futures.Future[None]:
        """Called from the control service's thread; the check runs on the daemon's loop."""
        return asyncio.run_coroutine_threadsafe(self._check(list(candidates)), self._loop)

    async def _check(self, candidates: list[Candidate]) -> None:
        results = await asyncio.gather(*(self._one(c) for c in candidates), return_exceptions=True)
        reasons = []
        for result in results:
            if isinstance(result, GateClosed):
                raise result
            if isinstance(result, RolloutFailed):
                reasons.append(result.reason)
            elif isinstance(result, BaseException):
                reasons.append(f"the health check itself failed: {type(result).__name__}: {result}")
        if reasons:
            raise RolloutFailed("\n".join(reasons))

    async def _one(self, candidate: Candidate) -> None:
        target = target_of(candidate.runtime_id, candidate.runtime_name, candidate.version, candidate.record)
        deadline = self._loop.time() + self._timeout
        while True:
            try:
                await self._pool.prewarm(target, 1, surge=True)
                return
            except Throttled as exc:
                if self._loop.time() >= deadline:
                    raise RolloutFailed(f"version {candidate.version} could not be started for its health "
                                        f"check: {exc.message}") from exc
                await asyncio.sleep(ROOM_POLL)
            except InstanceStartFailed as exc:
                if exc.code == "ShuttingDown":
                    raise GateClosed() from exc
                raise RolloutFailed(failure_reason(candidate.version, exc)) from exc


def failure_reason(version: str, error: InstanceStartFailed) -> str:
    """``statusReason`` of a failed rollout: what failed, then the instance's last output lines."""
    text = f"version {version} did not pass its health check: {error.message}"
    tail = [line for line in error.logs if line.strip()][-TAIL_LINES:]
    if tail:
        text += "\nits output (last lines):\n" + "\n".join(f"  {line}" for line in tail)
    return text
