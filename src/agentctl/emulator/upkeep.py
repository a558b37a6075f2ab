"""What the pool does in the background: health checks, idle timeout, session expiry, warm instances.

- **Health rule**: with ``httpGetUrl`` set, a GET of that path must answer 200–399; without,
  ``GET /health`` answering below 500 counts, and so does a port that accepts connections but
  does not speak HTTP. A starting instance is polled at once (``until_healthy``).
- **Health** (one task per READY instance): every ``periodSeconds`` (default 10) a probe
  with ``timeoutSeconds`` (default 1); after ``failureThreshold`` (default 3) failures in a
  row the instance is marked FAILED, leaves rotation and stops ("instance unhealthy …");
  the next request, or the warm keeper, starts a replacement. ``initialDelaySeconds``
  delays the first of these checks (not the start-up readiness poll).
- **Sessions**: a session with nothing in flight for ``sessionIdleTimeoutSeconds`` (of the
  version's config, default 1800) is forgotten and frees its slot.
- **Idle timeout** (scale to zero): a READY instance with nothing in flight and no live
  session for ``idle_timeout`` stops — except the ones reserved concurrency keeps warm.
- **Warm instances**: a group with ``warm = (target, n)`` always has ``n`` instances of that
  target's revision starting or serving; one that died or went unhealthy is started again.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from agentctl.emulator.drivers.base import InstanceStartFailed
from agentctl.emulator.instance import SERVING, Instance, Status

if TYPE_CHECKING:
    from agentctl.emulator.pool import Group, InstancePool

PROBE_TIMEOUT = 1.0
HEALTH_PERIOD = 10.0
HEALTH_FAILURES = 3
SESSION_IDLE = 1800.0
log = logging.getLogger("agentctl.emulator")


def health_path(config: Mapping[str, Any]) -> str:
    health = config.get("healthCheckConfiguration") or {}
    return str(health.get("httpGetUrl") or "")


def _number(config: Mapping[str, Any], key: str, default: float) -> float:
    try:
        value = float(config.get(key) or default)
    except (TypeError, ValueError):
        return default
    return value if value > 0 else default


def _swallowed_cancel() -> None:
    """Re-raise a cancellation that ``asyncio.wait_for`` swallowed (a Python 3.11 race, fixed in 3.12).

    Without this a polling loop whose probe ate the one ``cancel()`` of a shutdown keeps polling forever.
    """
    task = asyncio.current_task()
    cancelling = getattr(task, "cancelling", None)  # 3.11+
    if cancelling is not None and cancelling():
        raise asyncio.CancelledError


async def until_healthy(instance: Instance, interval: float) -> None:
    """Poll a starting instance until its health check passes; raises if its process exits first."""
    handle = instance.handle
    assert handle is not None
    path = health_path(instance.spec.config)
    while True:
        if handle.exited.done():
            raise InstanceStartFailed(
                "InstanceStartFailed",
                f"instance {instance.id} of version {instance.spec.version} exited with code "
                f"{handle.exited.result()} before it became healthy",
                "run the app locally with PORT set to check it starts; its output is attached",
                logs=handle.tail_text(20))
        if await probe(handle.host, handle.port, path):
            return
        _swallowed_cancel()
        await asyncio.sleep(interval)


async def health_loop(pool: InstancePool, instance: Instance) -> None:
    """Probe a running instance until it stops; replace it after too many failures in a row."""
    config = instance.spec.config.get("healthCheckConfiguration") or {}
    period = _number(config, "periodSeconds", HEALTH_PERIOD)
    timeout = _number(config, "timeoutSeconds", PROBE_TIMEOUT)
    threshold = int(_number(config, "failureThreshold", HEALTH_FAILURES))
    path = health_path(instance.spec.config)
    await asyncio.sleep(max(_number(config, "initialDelaySeconds", period), period))
    failures = 0
    while instance.handle is not None and instance.status in (*SERVING, Status.DRAINING) and not instance.stopping:
        healthy = await probe(instance.handle.host, instance.handle.port, path, timeout)
        failures = 0 if healthy else failures + 1
        if failures >= threshold and not instance.stopping and instance.alive:
            instance.handle.record("system", f"instance unhealthy ({failures} failed health checks in a row)")
            pool.retire(instance, "unhealthy", failed=True)
            return
        _swallowed_cancel()
        await asyncio.sleep(period)


async def run(pool: InstancePool) -> None:
    """The upkeep loop; a failed sweep is logged and the next one runs anyway."""
    tick = 0.5 if pool.idle_timeout is None else min(0.5, max(0.05, pool.idle_timeout / 4))
    while True:
        await asyncio.sleep(tick)
        try:
            sweep(pool)
        except Exception:  # a bug here must not stop scale-to-zero for good
            log.exception("instance pool upkeep failed")


def sweep(pool: InstancePool, now: float | None = None) -> None:
    now = time.monotonic() if now is None else now
    for group in pool.groups():
        _expire_sessions(group, now)
        kept = kept_warm(group)
        if pool.idle_timeout is not None:
            for instance in list(group.instances):
                if (instance.status is Status.READY and instance not in kept and not instance.stopping
                        and instance.idle_for(now) >= pool.idle_timeout):
                    pool.retire(instance, "idle")
        fill_warm(pool, group)


def fill_warm(pool: InstancePool, group: Group) -> None:
    """Start what the group's reserved instances lack (dead, unhealthy or never started)."""
    if group.warm is None:
        return
    target, count = group.warm
    for _ in range(count - len(serving_or_starting(group, target.revision))):
        if pool.launch(target) is None:
            break


def _expire_sessions(group: Group, now: float) -> None:
    for instance in group.instances:
        if not instance.sessions:
            continue
        idle = _number(instance.spec.config, "sessionIdleTimeoutSeconds", SESSION_IDLE)
        for session in instance.expire_sessions(idle, now):
            if group.sessions.get(session) is instance:
                del group.sessions[session]


def evict_one_idle(pool: InstancePool, wanted: tuple[str, str]) -> bool:
    """Stop an idle instance of another version (not kept warm) to make room; True if one went."""
    for group in pool.groups():
        if group.key == wanted:
            continue
        kept = kept_warm(group)
        for instance in group.instances:
            if instance.status is Status.READY and instance.idle_for() > 0 and instance not in kept:
                pool.retire(instance, "idle, to make room")
                return True
    return False


def serving_or_starting(group: Group, revision: str) -> list[Instance]:
    return [i for i in group.instances if i.revision == revision and not i.stopping
            and i.status in (Status.STARTING, *SERVING)]


def kept_warm(group: Group) -> set[Instance]:
    """The instances reserved concurrency keeps (the first ``n`` of the warm target's revision)."""
    if group.warm is None:
        return set()
    target, count = group.warm
    return set(serving_or_starting(group, target.revision)[:count])


async def probe(host: str, port: int, path: str, timeout: float = PROBE_TIMEOUT) -> bool:
    """One health probe; ``path`` empty means the default rule (``/health`` < 500, or the port accepts)."""
    try:
        reader, writer = await asyncio.wait_for(asyncio.open_connection(host, port), timeout)
    except (OSError, asyncio.TimeoutError):
        return False
    try:
        writer.write(f"GET {path or '/health'} HTTP/1.1\r\nHost: {host}:{port}\r\nConnection: close\r\n\r\n".encode())
        line = await asyncio.wait_for(reader.readline(), timeout)
    except (OSError, asyncio.TimeoutError):
        line = b""
    finally:
        writer.close()
        with contextlib.suppress(OSError):
            await writer.wait_closed()
    parts = line.split()
    if len(parts) < 2 or not parts[0].startswith(b"HTTP/") or not parts[1].isdigit():
        return not path  # not HTTP: the port accepts, which is all the default rule asks
    status = int(parts[1])
    return 200 <= status < 400 if path else status < 500
