"""A pool with real process instances for the pool tests: targets of the test apps, and waiting helpers."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from agentctl.emulator.drivers import driver_named
from agentctl.emulator.drivers.base import LogLine
from agentctl.emulator.limits import Limits
from agentctl.emulator.pool import InstancePool, Target

APPS = Path(__file__).parent / "apps"


def target(app: str = "echo", *, version: str = "1", revision: str = "r1", capacity: int | None = None,
           **config: Any) -> Target:
    config.setdefault("codeConfiguration", {"language": "python3.12", "command": ["python3", "app.py"]})
    return Target("rt-1", "agent", version, str(APPS / app), config, revision, capacity)


class Lines(list[LogLine]):
    """The pool's log sink: every line, in order."""

    def texts(self, stream: str = "system") -> list[str]:
        return [line.text for line in self if line.stream == stream]


def run_pool(body: Callable[[InstancePool, Lines], Awaitable[None]], *, limits: Limits | None = None,
             idle_timeout: float | None = None, startup_timeout: float = 30) -> None:
    """Runs ``body`` against a fresh pool; every instance is stopped afterwards."""
    async def main() -> None:
        lines = Lines()
        pool = InstancePool(driver_named("process"), startup_timeout=startup_timeout, log_sink=lines.append,
                            limits=limits, idle_timeout=idle_timeout)
        try:
            await body(pool, lines)
        finally:
            await pool.close()
    asyncio.run(main())


async def until(condition: Callable[[], bool], what: str, timeout: float = 20) -> None:
    """Poll ``condition`` until true; fail naming ``what`` after ``timeout`` seconds (a bound, not a check)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not condition():
        assert loop.time() < deadline, f"timed out waiting until {what}"
        await asyncio.sleep(0.05)
