"""The instance pool: per (runtime, version) a set of instances, started on demand.

``acquire(target)`` is the assigner: it reserves a slot on a READY instance of
the target's revision, or waits for one that is starting, or starts one (cold
start) and waits until it is healthy. The returned :class:`Lease` gives the
slot back on ``release()``. A target's *revision* fingerprints its code and
configuration, so an update of LATEST starts fresh instances; once one of them
is READY the older ones drain (stop when idle).

Health (per ``healthCheckConfiguration``): with ``httpGetUrl`` set, a GET of
that path must answer 200–399; without, ``GET /health`` answering anything
below 500 counts, and so does a port that accepts connections but does not
speak HTTP. A process that exits, or does not get healthy within the startup
timeout, fails the start with the tail of its output.

Shaped for issue 4: ``Instance.capacity`` caps in-flight requests (the
assigner already starts another instance when every slot is taken), instances
carry ``last_used`` for idle timeouts, and a limiter can refuse in ``acquire``.
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from agentctl.emulator.drivers.base import Driver, InstanceSpec, InstanceStartFailed, LogSink
from agentctl.emulator.instance import Instance, Status

STARTUP_TIMEOUT = 60.0
PROBE_TIMEOUT = 1.0
PROBE_INTERVAL = 0.02  # fast polling: a cold start should cost little more than the app's own boot


@dataclass(frozen=True)
class Target:
    """What to run: one version of one runtime, as the route resolved it."""

    runtime_id: str
    runtime_name: str
    version: str
    code_dir: str
    config: Mapping[str, Any]
    revision: str
    capacity: int | None = None

    @property
    def key(self) -> tuple[str, str]:
        return (self.runtime_id, self.version)


class Lease:
    """One reserved slot on one instance; release exactly once."""

    __slots__ = ("_pool", "cold_start", "instance")

    def __init__(self, pool: InstancePool, instance: Instance, cold_start: bool) -> None:
        self._pool, self.instance, self.cold_start = pool, instance, cold_start

    def release(self) -> None:
        if self._pool is not None:
            self._pool._release(self.instance)
            self._pool = None  # type: ignore[assignment]


class InstancePool:
    def __init__(self, driver: Driver, *, startup_timeout: float = STARTUP_TIMEOUT,
                 log_sink: LogSink | None = None) -> None:
        self.driver = driver
        self.startup_timeout = startup_timeout
        self._sink = log_sink
        self._groups: dict[tuple[str, str], list[Instance]] = {}  # what the assigner picks from
        self._live: set[Instance] = set()  # everything not yet STOPPED, in rotation or not
        self._tasks: set[asyncio.Task[None]] = set()
        self._closed = False

    # the assigner ----------------------------------------------------------
    async def acquire(self, target: Target) -> Lease:
        cold = False
        while True:
            if self._closed:
                raise _shutting_down()
            group = self._groups.setdefault(target.key, [])
            current = [i for i in group if i.revision == target.revision]
            for instance in current:
                if instance.try_reserve():
                    return Lease(self, instance, cold)
            starting = next((i for i in current if i.status is Status.STARTING), None)
            if starting is None:
                starting = self._launch(target, group)
            cold = True
            await starting.wait_ready()

    def _launch(self, target: Target, group: list[Instance]) -> Instance:
        spec = InstanceSpec(f"c-{secrets.token_hex(6)}", target.runtime_id, target.runtime_name, target.version,
                            target.code_dir, target.config)
        instance = Instance(spec, target.revision, target.capacity)
        group.append(instance)
        self._live.add(instance)
        self._spawn(self._boot(instance, group), f"boot-{spec.instance_id}")
        return instance

    async def _boot(self, instance: Instance, group: list[Instance]) -> None:
        try:
            instance.handle = await self.driver.start(instance.spec, self._sink)
            if self._closed:  # shut down while the driver was starting it
                await self._stop(instance)
                return
            await asyncio.wait_for(self._until_healthy(instance), self.startup_timeout)
        except asyncio.TimeoutError:
            await self._fail_start(instance, group, InstanceStartFailed(
                "InstanceStartTimeout",
                f"instance {instance.id} of version {instance.spec.version} did not become healthy "
                f"within {self.startup_timeout:g}s",
                "the app must listen on 127.0.0.1:$PORT (and answer its health check); see its output in 'logs'",
                status=503, logs=self._tail(instance)))
            return
        except InstanceStartFailed as exc:
            exc.logs = exc.logs or self._tail(instance)
            await self._fail_start(instance, group, exc)
            return
        if instance.status is not Status.STARTING:  # stopped while booting (shutdown)
            return
        instance.mark_ready()
        self._retire_older(group, instance.revision)
        self._spawn(self._watch_exit(instance, group), f"exit-{instance.id}")

    async def _until_healthy(self, instance: Instance) -> None:
        handle = instance.handle
        assert handle is not None
        health = instance.spec.config.get("healthCheckConfiguration") or {}
        path = str(health.get("httpGetUrl") or "")
        await asyncio.sleep(float(health.get("initialDelaySeconds") or 0))
        while True:
            if handle.exited.done():
                raise InstanceStartFailed(
                    "InstanceStartFailed",
                    f"instance {instance.id} of version {instance.spec.version} exited with code "
                    f"{handle.exited.result()} before it became healthy",
                    "run the app locally with PORT set to check it starts; its output is attached",
                    logs=self._tail(instance))
            if await probe(handle.host, handle.port, path):
                return
            await asyncio.sleep(PROBE_INTERVAL)

    async def _fail_start(self, instance: Instance, group: list[Instance], error: InstanceStartFailed) -> None:
        instance.mark_failed(error)
        with contextlib.suppress(ValueError):
            group.remove(instance)
        await self._stop(instance)

    async def _watch_exit(self, instance: Instance, group: list[Instance]) -> None:
        assert instance.handle is not None
        code = await asyncio.shield(instance.handle.exited)
        if instance.alive and not instance.stopping:  # crashed: out of rotation, the next request starts another
            instance.handle.record("system", f"instance {instance.id} crashed (exit code {code})")
            instance.mark_failed()
        with contextlib.suppress(ValueError):
            group.remove(instance)
        instance.mark_stopped()
        self._live.discard(instance)

    def _retire_older(self, group: list[Instance], revision: str) -> None:
        for other in list(group):
            if other.revision != revision and other.status in (Status.READY, Status.BUSY):
                other.drain()
                if other.idle:
                    self._spawn(self._stop(other), f"stop-{other.id}")

    def _release(self, instance: Instance) -> None:
        instance.release()
        if instance.status is Status.DRAINING and instance.idle:
            self._spawn(self._stop(instance), f"stop-{instance.id}")

    # lifecycle -------------------------------------------------------------
    async def _stop(self, instance: Instance) -> None:
        instance.stopping = True
        if instance.handle is not None:
            await self.driver.stop(instance.handle)
        instance.mark_stopped()
        self._live.discard(instance)

    def _spawn(self, coro: Any, name: str) -> None:
        task = asyncio.create_task(coro, name=name)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _tail(self, instance: Instance) -> list[str]:
        return instance.handle.tail_text(20) if instance.handle else []

    def instances(self) -> list[Instance]:
        return [i for group in self._groups.values() for i in group]

    def find(self, instance_id: str) -> Instance | None:
        return next((i for i in self.instances() if i.id == instance_id), None)

    async def close(self) -> None:
        """Stop every instance (SIGTERM, then SIGKILL) and every background task."""
        self._closed = True
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        everything = list(self._live)  # also those out of rotation but still stopping
        for instance in everything:
            if instance.status is Status.STARTING:
                instance.mark_failed(_shutting_down())
        await asyncio.gather(*(self._stop(i) for i in everything), return_exceptions=True)
        self._groups.clear()

def _shutting_down() -> InstanceStartFailed:
    return InstanceStartFailed("ShuttingDown", "the emulator is shutting down", "retry after it restarts",
                               status=503)


async def probe(host: str, port: int, path: str) -> bool:
    """One health probe; ``path`` empty means the default rule (``/health`` < 500, or the port accepts)."""
    try:
        reader, writer = await asyncio.wait_for(asyncio.open_connection(host, port), PROBE_TIMEOUT)
    except (OSError, asyncio.TimeoutError):
        return False
    try:
        writer.write(f"GET {path or '/health'} HTTP/1.1\r\nHost: {host}:{port}\r\nConnection: close\r\n\r\n".encode())
        line = await asyncio.wait_for(reader.readline(), PROBE_TIMEOUT)
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
