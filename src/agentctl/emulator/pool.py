"""The instance pool: per (runtime, version) a set of instances, started on demand.

``acquire(target, session=)`` is the assigner, in this order:

1. a session already bound to a serving instance of the target's revision joins it
   (sticky, even when that instance is BUSY);
2. else a slot on a serving instance with room (the first ones first, so load packs
   onto few instances and the rest can go idle);
3. else wait for a STARTING instance that still has unclaimed slots (a burst of N+1
   requests at capacity N starts one more instance, not N);
4. else start one (cold start) if the limiter allows (``max_instances``; an idle
   instance of another version is stopped to make room when that is all it takes);
5. else queue (bounded, with a maximum wait; see ``limits``) → :class:`Throttled`.

The :class:`Lease` gives the slot back on ``release()``. A target's *revision*
fingerprints its code and configuration: an update of LATEST starts fresh
instances (or the gateway prewarms them), and once the first request is served on
the new revision the older ones drain: they take no new requests, except ones routed
just before the switch, and stop when idle.

Health (per ``healthCheckConfiguration``, see ``upkeep``): at start the pool polls at
once; a process that exits, or is not healthy within the startup timeout, fails the
start with the tail of its output. ``upkeep`` then checks it while it runs, stops idle
instances and keeps reserved ones warm.

Every start and stop is a ``system`` log line ("instance started", "instance stopped
(<reason>)", "instance crashed (exit code N)") through the handle's sink.
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import time
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from agentctl.emulator import upkeep
from agentctl.emulator.drivers.base import Driver, InstanceSpec, InstanceStartFailed, LogLine, LogSink
from agentctl.emulator.instance import SERVING, Instance, Status
from agentctl.emulator.limits import RETRY_AFTER, STABLE_SECONDS, Backoff, Limits, Queue, Throttled, may_start

STARTUP_TIMEOUT = 60.0
PROBE_INTERVAL = 0.02  # fast polling: a cold start should cost little more than the app's own boot
DEFAULT_CAPACITY = 10
REMEMBERED = 256  # stopped instances ``find`` still knows (their last log lines arrive late)
SURGE = 1  # instances a rollout's health check may start beyond max_instances
EXIT_WAIT = 1.0  # seconds an instance that refused a connection is given for its exit to be noticed


@dataclass(frozen=True)
class Target:
    """What to run: one version of one runtime, as the route resolved it."""

    runtime_id: str
    runtime_name: str
    version: str
    code_dir: str
    config: Mapping[str, Any]
    revision: str
    capacity: int | None = None  # slots per instance; None: the config's (``capacity_of``)

    @property
    def key(self) -> tuple[str, str]:
        return (self.runtime_id, self.version)


@dataclass
class Group:
    """The instances of one version, and its waiting room."""

    key: tuple[str, str]  # (runtime id, version)
    instances: list[Instance]
    queue: Queue
    warm: tuple[Target, int] | None = None  # reserved concurrency: (what, how many instances) kept running
    sessions: dict[str, Instance] = field(default_factory=dict)  # session → the instance it is bound to
    starting: dict[str, Instance] = field(default_factory=dict)  # session → the starting instance it claimed
    current: str | None = None  # the revision requests last went to (prewarmed newer ones wait for traffic)
    backoff: dict[str, Backoff] = field(default_factory=dict)  # revision → its failed starts (crash loop)
    last_error: dict[str, InstanceStartFailed] = field(default_factory=dict)  # revision → why it last failed


class Lease:
    """One reserved slot on one instance; release exactly once.

    ``instance.crashed`` tells the gateway, when the proxy breaks, that the instance died (→ 502 naming it).
    """

    __slots__ = ("_pool", "cold_start", "instance", "queue_wait_ms", "session")

    def __init__(self, pool: InstancePool, instance: Instance, cold_start: bool, queue_wait_ms: float = 0.0,
                 session: str | None = None) -> None:
        self._pool, self.instance, self.cold_start = pool, instance, cold_start
        self.queue_wait_ms, self.session = queue_wait_ms, session

    def release(self) -> None:
        if self._pool is not None:
            self._pool._release(self.instance, self.session)
            self._pool = None  # type: ignore[assignment]


class InstancePool:
    def __init__(self, driver: Driver, *, startup_timeout: float = STARTUP_TIMEOUT, log_sink: LogSink | None = None,
                 limits: Limits | None = None, idle_timeout: float | None = None) -> None:
        self.driver = driver
        self.startup_timeout = startup_timeout
        self.limits = limits or Limits()
        self.idle_timeout = idle_timeout  # None: instances never stop for being idle
        self._sink = log_sink
        self._groups: dict[tuple[str, str], Group] = {}
        self._live: set[Instance] = set()  # everything not yet STOPPED, in rotation or not
        self._known: OrderedDict[str, Instance] = OrderedDict()  # by id: live ones, then recently stopped
        self._tasks: set[asyncio.Task[None]] = set()
        self._upkeep: asyncio.Task[None] | None = None
        self._closed = False

    # the assigner ----------------------------------------------------------
    async def acquire(self, target: Target, *, session: str | None = None) -> Lease:
        group = self._group(target)
        loop = asyncio.get_running_loop()
        cold, deadline, waited = False, None, 0.0
        try:
            while True:
                if self._closed:
                    raise _shutting_down()
                instance = self._assign(group, target, session)
                if instance is not None:
                    return Lease(self, instance, cold, waited * 1000, session)
                pending = group.starting.get(session) if session is not None else None
                if pending is not None and pending.status is Status.STARTING:  # the session's slot is coming
                    cold = True
                    await pending.wait_ready()
                    continue
                starting = self._claimable(group, target.revision) or self._try_launch(target, group)
                if starting is not None:
                    cold = True
                    await self._claim(group, starting, session)
                    continue
                if deadline is None:
                    deadline = group.queue.enter()
                began = loop.time()
                try:
                    await group.queue.wait(deadline)
                finally:
                    waited += loop.time() - began
        finally:
            if deadline is not None:
                group.queue.leave()

    @staticmethod
    async def _claim(group: Group, starting: Instance, session: str | None) -> None:
        """Wait for a starting instance, holding one of its future slots (for the session, if any)."""
        starting.claims += 1
        if session is not None:
            group.starting[session] = starting
        try:
            await starting.wait_ready()
        finally:
            starting.claims -= 1
            if session is not None and group.starting.get(session) is starting:
                del group.starting[session]

    def _assign(self, group: Group, target: Target, session: str | None) -> Instance | None:
        if session is not None:
            bound = group.sessions.get(session)
            if bound is not None:
                if bound.revision == target.revision and bound.try_reserve(session):
                    return bound
                del group.sessions[session]  # its instance left (crash, idle, newer revision): bind anew
        for instance in group.instances:
            if instance.revision == target.revision and instance.try_reserve(session):
                if session is not None:
                    group.sessions[session] = instance
                if target.revision != group.current:  # first request on a new revision: the older ones drain
                    group.current = target.revision
                    self._retire_older(group, target.revision)
                return instance
        for instance in group.instances:  # a request routed just before a switch: its draining instance serves it
            if instance.revision == target.revision and instance.try_reserve(session, draining=True):
                return instance
        return None

    @staticmethod
    def _claimable(group: Group, revision: str) -> Instance | None:
        for instance in group.instances:
            if instance.status is Status.STARTING and instance.revision == revision and (
                    instance.capacity is None or instance.claims < instance.capacity):
                return instance
        return None

    def _try_launch(self, target: Target, group: Group) -> Instance | None:
        self._check_backoff(group, target)
        if not may_start(self.running(), self.limits) and not upkeep.evict_one_idle(self, target.key):
            return None
        return self._launch(target, group)

    def _check_backoff(self, group: Group, target: Target) -> None:
        """A revision whose starts keep failing is not started again before its back-off ran out."""
        backoff = group.backoff.get(target.revision)
        if backoff is not None and (error := backoff.holding(group.last_error.get(target.revision))):
            raise error

    def _failed_start(self, group: Group, revision: str, error: InstanceStartFailed) -> None:
        group.backoff.setdefault(revision, Backoff()).failed()
        group.last_error[revision] = error

    def _launch(self, target: Target, group: Group) -> Instance:
        spec = InstanceSpec(f"c-{secrets.token_hex(6)}", target.runtime_id, target.runtime_name, target.version,
                            target.code_dir, target.config)
        instance = Instance(spec, target.revision, target.capacity or capacity_of(target.config))
        group.instances.append(instance)
        self._live.add(instance)
        self._known[instance.id] = instance
        self._spawn(self._boot(instance, group), f"boot-{spec.instance_id}")
        return instance

    async def _boot(self, instance: Instance, group: Group) -> None:
        try:
            instance.handle = await self.driver.start(instance.spec, self._sink)
            if self._closed:  # shut down while the driver was starting it
                await self._stop(instance, "shutdown")
                return
            await asyncio.wait_for(upkeep.until_healthy(instance, PROBE_INTERVAL), self.startup_timeout)
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
        self._note(instance, "instance started")
        group.queue.signal.notify()
        self._spawn(self._watch_exit(instance, group), f"exit-{instance.id}")
        self._spawn(upkeep.health_loop(self, instance), f"health-{instance.id}")

    async def _fail_start(self, instance: Instance, group: Group, error: InstanceStartFailed) -> None:
        if error.code != "ShuttingDown":
            self._failed_start(group, instance.revision, error)
        instance.mark_failed(error)
        self._note(instance, f"instance start failed: {error.message}")
        self._leave_rotation(instance, group)
        await self._stop(instance, None)

    async def _watch_exit(self, instance: Instance, group: Group) -> None:
        assert instance.handle is not None
        code = await asyncio.shield(instance.handle.exited)
        self._crashed(instance, group, code)

    def _crashed(self, instance: Instance, group: Group, code: int) -> None:
        """Its process exited on its own: out of rotation at once; the next request (or the warm keeper)
        starts another. Idempotent: the exit watcher and :meth:`unreachable` may both see it."""
        if instance.stopping or not instance.alive:
            return
        instance.exit_code = code
        instance.crashed = True
        self._note(instance, f"instance crashed (exit code {code})")
        if instance.ready_at is not None and time.time() - instance.ready_at < STABLE_SECONDS:
            self._failed_start(group, instance.revision, InstanceStartFailed(
                "InstanceCrashed", f"instance {instance.id} of version {instance.spec.version} crashed (exit code "
                f"{code}) {time.time() - instance.ready_at:.1f}s after it started",
                "run the app locally with PORT set to see why it exits; its output is attached",
                logs=self._tail(instance)))
        instance.mark_failed()
        self._leave_rotation(instance, group)
        self._spawn(self._stop(instance, "crashed"), f"stop-{instance.id}")

    async def unreachable(self, instance: Instance, *, refused: bool, within: float = EXIT_WAIT) -> bool:
        """A connection to the instance failed before any answer: is it gone? True once it is out of
        rotation (so that a request sent again goes elsewhere), False when it still runs and serves.

        Usually it has just died and its exit is about to be noticed: that is waited for (``within``
        seconds) and reported as a crash. One still running that ``refused`` the connection listens no
        more: it is retired.
        """
        handle = instance.handle
        if handle is not None and not handle.exited.done():
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(asyncio.shield(handle.exited), within)
        group = self._groups.get((instance.spec.runtime_id, instance.spec.version))
        if handle is not None and handle.exited.done() and group is not None:
            self._crashed(instance, group, handle.exited.result())
        elif refused and instance.alive and not instance.stopping:
            self._note(instance, "instance unreachable (it refused a connection while running)")
            self.retire(instance, "unreachable", failed=True)
        return not (instance.alive and not instance.stopping and instance.status is not Status.FAILED)

    def _retire_older(self, group: Group, revision: str) -> None:
        for other in list(group.instances):
            if other.revision != revision and other.status in SERVING:
                other.drain()
                if other.idle:
                    self._spawn(self._stop(other, "drained"), f"stop-{other.id}")

    def _release(self, instance: Instance, session: str | None) -> None:
        instance.release(session)
        group = self._groups.get((instance.spec.runtime_id, instance.spec.version))
        if group is not None:
            group.queue.signal.notify()
        if instance.status is Status.DRAINING and instance.idle:
            self._spawn(self._stop(instance, "drained"), f"stop-{instance.id}")

    # what upkeep and prewarm use -------------------------------------------
    def retire(self, instance: Instance, reason: str, *, failed: bool = False) -> None:
        """Take an instance out of rotation now and stop it in the background."""
        if failed:
            instance.mark_failed()
        group = self._groups.get((instance.spec.runtime_id, instance.spec.version))
        if group is not None:
            self._leave_rotation(instance, group)
        instance.stopping = True  # from now on it no longer counts against max_instances
        self._spawn(self._stop(instance, reason), f"stop-{instance.id}")

    def _leave_rotation(self, instance: Instance, group: Group) -> None:
        with contextlib.suppress(ValueError):
            group.instances.remove(instance)
        for session in [s for s, i in group.sessions.items() if i is instance]:
            del group.sessions[session]
        self._notify_all()  # a slot for another instance may be free now

    def _notify_all(self) -> None:
        for group in self._groups.values():
            group.queue.signal.notify()

    def running(self) -> int:
        """Instances that count against ``max_instances`` (alive, and not being stopped)."""
        return sum(1 for i in self._live if not i.stopping)

    def groups(self) -> list[Group]:
        return list(self._groups.values())

    def _group(self, target: Target) -> Group:
        group = self._groups.get(target.key)
        if group is None:
            label = f"version {target.version} of {target.runtime_name}"
            group = self._groups[target.key] = Group(target.key, [], Queue(label, self.limits))
            self.start()
        return group

    async def prewarm(self, target: Target, count: int = 1, *, surge: bool = False) -> None:
        """Make sure ``count`` instances of the target's revision are READY; returns once they are.

        ``surge``: a rollout's health check may start one instance past ``max_instances`` (Kubernetes'
        maxSurge): the new revision takes over and the old one drains back under the limit.
        """
        group = self._group(target)
        current = upkeep.serving_or_starting(group, target.revision)
        while len(current) < count:
            started = self._try_launch(target, group)
            if started is None and surge and self.running() < self.limits.max_instances + SURGE:
                started = self._launch(target, group)
            if started is None:
                break
            current.append(started)
        if not current:
            raise Throttled(RETRY_AFTER, f"cannot start an instance of version {target.version} of "
                                         f"{target.runtime_name}: --max-instances {self.limits.max_instances} "
                                         "are running and busy")
        await asyncio.gather(*(i.wait_ready() for i in current))

    def keep_warm(self, target: Target, count: int) -> None:
        """Reserved concurrency: keep ``count`` instances of this target always running, from now on."""
        group = self._group(target)
        group.warm = (target, count)
        upkeep.fill_warm(self, group)

    def stop_keeping(self, key: tuple[str, str]) -> None:
        """No more reserved instances for this version: they follow the idle timeout from now on."""
        group = self._groups.get(key)
        if group is not None:
            group.warm = None

    def warm_keys(self) -> list[tuple[str, str]]:
        return [key for key, group in self._groups.items() if group.warm is not None]

    def launch(self, target: Target) -> Instance | None:
        """Start one more instance of ``target`` now, if the limiter allows (the warm keeper's way)."""
        return self._try_launch(target, self._group(target))

    # lifecycle -------------------------------------------------------------
    def start(self) -> None:
        """Start the upkeep loop (idle timeout, session expiry, warm instances); idempotent."""
        if self._upkeep is None and not self._closed:
            self._upkeep = asyncio.create_task(upkeep.run(self), name="pool-upkeep")

    async def _stop(self, instance: Instance, reason: str | None) -> None:
        instance.stopping = True
        was_up = instance.ready_at is not None
        if instance.handle is not None:
            await self.driver.stop(instance.handle)
        if was_up and reason is not None and instance.status is not Status.STOPPED:
            self._note(instance, f"instance stopped ({reason})")
        instance.mark_stopped()
        self._live.discard(instance)
        group = self._groups.get((instance.spec.runtime_id, instance.spec.version))
        if group is not None and instance in group.instances:
            self._leave_rotation(instance, group)
        while len(self._known) > len(self._live) + REMEMBERED:
            oldest = next(iter(self._known))
            if self._known[oldest].alive:
                self._known.move_to_end(oldest)
                break
            del self._known[oldest]
        self._notify_all()

    def _note(self, instance: Instance, text: str) -> None:
        """A system log line for this instance (its tail and the log sink)."""
        if instance.handle is not None:
            instance.handle.record("system", text)
        elif self._sink is not None:
            self._sink(LogLine(time.time(), instance.id, "system", text))

    def _spawn(self, coro: Any, name: str) -> None:
        task = asyncio.create_task(coro, name=name)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _tail(self, instance: Instance) -> list[str]:
        return instance.handle.tail_text(20) if instance.handle else []

    def instances(self) -> list[Instance]:
        return [i for group in self._groups.values() for i in group.instances]

    def find(self, instance_id: str) -> Instance | None:
        return self._known.get(instance_id)

    def snapshot(self) -> list[dict[str, Any]]:
        """The live instances, for metrics and ListInstances (times in epoch seconds)."""
        now, wall = time.monotonic(), time.time()
        return [i.describe(now, wall) for i in list(self._live) if i.alive and not i.stopping]

    async def close(self) -> None:
        """Stop every instance (SIGTERM, then SIGKILL) and every background task."""
        self._closed = True
        if self._upkeep is not None:
            self._upkeep.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._upkeep
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        everything = list(self._live)  # also those out of rotation but still stopping
        for instance in everything:
            if instance.status is Status.STARTING:
                instance.mark_failed(_shutting_down())
        await asyncio.gather(*(self._stop(i, "shutdown") for i in everything), return_exceptions=True)
        self._groups.clear()


def _shutting_down() -> InstanceStartFailed:
    return InstanceStartFailed("ShuttingDown", "the emulator is shutting down", "retry after it restarts",
                               status=503)


def capacity_of(config: Mapping[str, Any]) -> int:
    """Slots per instance: the version's ``sessionConcurrencyLimitPerInstance`` (s.yaml instanceConcurrency)."""
    try:
        value = int(config.get("sessionConcurrencyLimitPerInstance") or DEFAULT_CAPACITY)
    except (TypeError, ValueError):
        return DEFAULT_CAPACITY
    return max(1, value)
