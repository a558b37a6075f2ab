"""The ``docker`` driver: an instance is a container.

- Image: a container runtime runs ``containerConfiguration.image`` as is; a code runtime runs the runtime
  image of its language, chosen by the rule ``agentctl build`` uses (``AGENTCTL_BUILD_IMAGE`` in the
  emulator's environment, else the public image of the language, e.g. ``python:3.12-slim``), with the
  version's code mounted read-only at ``/code`` (built dependencies in ``/code/python``), working dir ``/code``.
  Images are never pulled here: a missing one fails the start and says how to get it.
- Command: ``containerConfiguration.command`` (else the image's own), or the code runtime's command (else
  ``python3 main.py|app.py|index.py`` / ``node index.js|…`` as the process driver picks them).
- Port: the app listens on the runtime's port inside (``containerConfiguration.port`` > ``port`` > 9000),
  published on a free 127.0.0.1 port picked by Docker. Environment: ``environmentVariables``, then
  ``PORT``/``FC_SERVER_PORT``/``AGENTRUN_PORT`` = that port and ``HOST=0.0.0.0``. CPU and memory limits
  come from the runtime's ``cpu`` and ``memory``. ``--init`` reaps zombies and forwards ``docker stop``.
- Ready: Docker's port proxy accepts connections before the app listens, so ``start`` returns once a
  connection through the published port stays open (the app took it); the pool's health check follows.
- Labels ``agentctl.role=instance``, ``agentctl.runtime``, ``agentctl.version``, ``agentctl.instance`` and
  ``agentctl.home`` (a hash of ``$AGENTCTL_HOME``): :func:`remove_leftovers` clears one home's containers.
- Logs stream from the container (stdout and stderr apart) into the handle; ``stop`` is ``docker stop``
  with the grace period, then remove. ``instance exec`` runs ``docker exec -i [-t] <container>``.

The Docker SDK is imported lazily (``agentctl.build.docker``); its blocking calls run on the driver's own
threads, one more thread per instance follows its output.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import hashlib
import logging
import math
import os
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

from agentctl import paths
from agentctl.emulator.drivers.base import ExecTarget, Handle, InstanceSpec, InstanceStartFailed, LogLine, LogSink
from agentctl.emulator.drivers.process import command_of
from agentctl.errors import AgentctlError

if TYPE_CHECKING:
    from docker import DockerClient

log = logging.getLogger("agentctl.emulator.docker")
T = TypeVar("T")

HOST = "127.0.0.1"
CODE_MOUNT = "/code"
DEFAULT_PORT = 9000
READY_POLL = 0.05
HOLD = 0.2  # a connection the proxy drops within this long was refused by the container
ROLE_LABEL, HOME_LABEL = "agentctl.role", "agentctl.home"
EXEC_ENV = ("PATH", "HOME", "DOCKER_HOST", "DOCKER_CONFIG", "DOCKER_CERT_PATH", "DOCKER_TLS_VERIFY", "DOCKER_CONTEXT")


def home_tag() -> str:
    """Which ``$AGENTCTL_HOME`` a container belongs to (a short hash of its path)."""
    return hashlib.sha256(str(paths.home().resolve()).encode()).hexdigest()[:16]


@dataclass(frozen=True)
class ContainerPlan:
    """What ``docker run`` gets for one instance (pure data, made by :func:`plan_container`)."""

    image: str
    command: list[str] | None  # None: the image's own CMD/ENTRYPOINT
    port: int
    environment: dict[str, str]
    labels: dict[str, str]
    volumes: dict[str, dict[str, str]]
    working_dir: str | None
    name: str
    nano_cpus: int | None
    mem_limit: str | None
    code_runtime: bool


def plan_container(spec: InstanceSpec, environ: Mapping[str, str] | None = None) -> ContainerPlan:
    """The container of one instance; see the module docstring for the rules."""
    from agentctl.build.dependencies import build_image_for

    config = spec.config
    container = _mapping(config.get("containerConfiguration"))
    code = _mapping(config.get("codeConfiguration"))
    port = int(container.get("port") or config.get("port") or DEFAULT_PORT)
    env = {str(k): str(v) for k, v in _mapping(config.get("environmentVariables")).items()}
    env.update({"PORT": str(port), "FC_SERVER_PORT": str(port), "AGENTRUN_PORT": str(port), "HOST": "0.0.0.0",
                "PYTHONUNBUFFERED": "1"})
    labels = {ROLE_LABEL: "instance", HOME_LABEL: home_tag(), "agentctl.runtime": spec.runtime_id,
              "agentctl.runtime-name": spec.runtime_name, "agentctl.version": spec.version,
              "agentctl.instance": spec.instance_id}
    limits = _limits(config)
    name = f"agentctl-{home_tag()[:8]}-{spec.instance_id}"
    if container.get("image"):
        command = [str(part) for part in container.get("command") or []] or None
        return ContainerPlan(str(container["image"]), command, port, env, labels, {}, None, name, *limits, False)
    if not spec.code_dir:
        raise InstanceStartFailed("InstanceStartFailed", f"version {spec.version} has neither code nor an image",
                                  "set code or customContainerConfig in s.yaml and deploy again")
    language = str(code.get("language") or "python3.12")
    try:
        image = build_image_for(language, {}, os.environ if environ is None else environ)
    except AgentctlError as exc:
        raise InstanceStartFailed("InstanceStartFailed", exc.message, exc.hint or "") from exc
    env["PYTHONPATH"] = f"{CODE_MOUNT}/python:{CODE_MOUNT}"
    command = command_of(config, spec.code_dir, python="python3")
    volumes = {spec.code_dir: {"bind": CODE_MOUNT, "mode": "ro"}}
    return ContainerPlan(image, command, port, env, labels, volumes, CODE_MOUNT, name, *limits, True)


def _mapping(value: object) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _limits(config: Mapping[str, Any]) -> tuple[int | None, str | None]:
    cpu, memory = config.get("cpu"), config.get("memory")
    nano_cpus = int(float(cpu) * 1e9) if isinstance(cpu, (int, float)) and cpu > 0 else None
    mem_limit = f"{int(memory)}m" if isinstance(memory, (int, float)) and memory > 0 else None
    return nano_cpus, mem_limit


def missing_image_hint(plan: ContainerPlan) -> str:
    if plan.code_runtime:
        return (f"pull it (`docker pull {plan.image}`), or build a local base image with "
                "`sudo scripts/make-base-image.sh` and start the emulator with "
                "AGENTCTL_BUILD_IMAGE=agentctl/python:3.11-bookworm; `local start --driver process` runs without")
    return f"build it with `agentctl build` (customContainerConfig with a Dockerfile) or `docker pull {plan.image}`"


class DockerDriver:
    name = "docker"

    def __init__(self, *, startup_timeout: float = 60.0, client: DockerClient | None = None) -> None:
        self.startup_timeout = startup_timeout
        self._client = client
        self._calls = ThreadPoolExecutor(max_workers=4, thread_name_prefix="docker-driver")
        self._containers: dict[str, str] = {}  # instance id → container id

    def client(self) -> DockerClient:
        """The engine's client; ``BackendError("Docker is not running")`` with how to start it."""
        if self._client is None:
            from agentctl.build.docker import engine

            self._client = engine(timeout=60)
        return self._client

    def has_image(self, image: str) -> bool:
        """Whether ``image`` is on this machine (blocking; False when the engine does not answer)."""
        from agentctl.build.docker import find_image

        try:
            return find_image(self.client(), image) is not None
        except AgentctlError:
            return False

    async def _call(self, fn: Callable[..., T], *args: Any) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._calls, functools.partial(fn, *args))

    async def start(self, spec: InstanceSpec, sink: LogSink | None = None) -> Handle:
        plan = plan_container(spec)
        container, host_port = await self._call(self._run, plan)
        loop = asyncio.get_running_loop()
        handle = Handle(spec.instance_id, HOST, host_port, loop.create_future(), sink=sink)
        handle.record("system", f"started container {plan.name} from {plan.image} "
                                f"(port {plan.port} on {HOST}:{host_port})")
        self._containers[spec.instance_id] = container.id
        threading.Thread(target=self._follow, args=(container, handle, loop), name=f"follow-{spec.instance_id}",
                         daemon=True).start()
        try:
            await self._until_listening(handle, plan)
        except BaseException:
            await self.stop(handle, grace=0)
            raise
        return handle

    def _run(self, plan: ContainerPlan) -> tuple[Any, int]:
        from docker.errors import DockerException

        from agentctl.build.docker import _reason, find_image

        try:
            client = self.client()
            present = find_image(client, plan.image) is not None
        except AgentctlError as exc:  # the engine went away since the driver was chosen
            raise InstanceStartFailed("InstanceStartFailed", exc.message, exc.hint or "") from exc
        if not present:
            raise InstanceStartFailed("ImageNotFound", f"Docker image {plan.image} is not on this machine",
                                      missing_image_hint(plan))
        try:
            container = client.containers.run(
                plan.image, plan.command, detach=True, name=plan.name, labels=plan.labels,
                environment=plan.environment, ports={f"{plan.port}/tcp": (HOST, None)}, volumes=plan.volumes,
                working_dir=plan.working_dir, init=True, nano_cpus=plan.nano_cpus, mem_limit=plan.mem_limit)
            container.reload()
            bindings = container.ports.get(f"{plan.port}/tcp") or [{}]
            return container, int(bindings[0].get("HostPort") or 0)  # 0: exited already; _follow says how
        except (DockerException, KeyError, IndexError, TypeError, ValueError) as exc:
            with contextlib.suppress(DockerException):
                client.containers.get(plan.name).remove(force=True)
            raise InstanceStartFailed("InstanceStartFailed", f"Docker could not start {plan.image}: {_reason(exc)}",
                                      "check `docker info` and the daemon log") from exc

    async def _until_listening(self, handle: Handle, plan: ContainerPlan) -> None:
        deadline = time.monotonic() + self.startup_timeout
        while not await _holds_connection(handle.host, handle.port):
            if handle.exited.done():
                raise InstanceStartFailed(
                    "InstanceStartFailed", f"container of instance {handle.instance_id} exited with code "
                    f"{handle.exited.result()} before it listened on port {plan.port}",
                    f"the app must listen on 0.0.0.0:{plan.port} ($PORT) inside the container; its output is "
                    "attached", logs=handle.tail_text())
            if time.monotonic() > deadline:
                raise InstanceStartFailed(
                    "InstanceStartTimeout", f"container of instance {handle.instance_id} did not listen on port "
                    f"{plan.port} within {self.startup_timeout:g}s",
                    f"the app must listen on 0.0.0.0:{plan.port} ($PORT) inside the container",
                    status=503, logs=handle.tail_text())
            await asyncio.sleep(READY_POLL)

    def _follow(self, container: Any, handle: Handle, loop: asyncio.AbstractEventLoop) -> None:
        """Thread: copy the container's output into the handle until it ends, then set its exit code."""
        from docker.errors import DockerException

        def post(fn: Callable[..., None], *args: Any) -> None:
            with contextlib.suppress(RuntimeError):  # the loop has closed: nobody listens any more
                loop.call_soon_threadsafe(fn, *args)

        def copy(name: str) -> None:
            # `logs --follow` (unlike attach) also replays and ends for a container that has already exited.
            splitter = LineSplitter()
            with contextlib.suppress(DockerException, OSError, ValueError):
                for chunk in self.client().api.logs(container.id, stream=True, follow=True,
                                                    stdout=name == "stdout", stderr=name == "stderr"):
                    for text in splitter.feed(chunk):
                        post(handle.record, name, text)
            for text in splitter.finish():
                post(handle.record, name, text)

        errors = threading.Thread(target=copy, args=("stderr",), name=f"stderr-{handle.instance_id}", daemon=True)
        errors.start()
        copy("stdout")
        errors.join()
        code = -1
        try:
            code = int(container.wait().get("StatusCode", -1))
        except (DockerException, OSError, ValueError) as exc:  # removed under us, or the engine went away
            log.debug("waiting for %s: %s", handle.instance_id, exc)
        if self._containers.pop(handle.instance_id, None) is not None:  # exited by itself: no stop will come
            self._remove(container.id, 0)
        post(_exited, handle, code)

    async def stop(self, handle: Handle, grace: float = 3.0) -> None:
        container_id = self._containers.pop(handle.instance_id, None)
        if container_id is not None:
            await self._call(self._remove, container_id, grace)
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(asyncio.shield(handle.exited), 5.0)
        _exited(handle, -1)

    def _remove(self, container_id: str, grace: float) -> None:
        from docker.errors import DockerException

        try:
            container = self.client().containers.get(container_id)
            container.stop(timeout=max(0, math.ceil(grace)))
            container.remove(force=True)
        except (DockerException, AgentctlError) as exc:  # already gone, or the engine is: nothing to stop
            log.debug("removing %s: %s", container_id[:12], exc)

    def logs(self, handle: Handle, tail: int | None = None) -> list[LogLine]:
        lines = list(handle.tail)
        return lines[-tail:] if tail else lines

    def exec_env(self, handle: Handle) -> ExecTarget | None:
        container_id = self._containers.get(handle.instance_id)
        if container_id is None or handle.exited.done():
            return None
        env = {name: os.environ[name] for name in EXEC_ENV if name in os.environ}
        return ExecTarget("/", env, ("docker", "exec", "-i", container_id),
                          ("docker", "exec", "-i", "-t", container_id))


def _exited(handle: Handle, code: int) -> None:
    if not handle.exited.done():
        handle.record("system", f"exited with code {code}" if code >= 0 else "container removed")
        handle.exited.set_result(code)


async def _holds_connection(host: str, port: int) -> bool:
    """True when a connection to ``host:port`` is taken by the app, not dropped by Docker's proxy."""
    try:
        reader, writer = await asyncio.wait_for(asyncio.open_connection(host, port), 1.0)
    except (OSError, asyncio.TimeoutError):
        return False
    try:
        return bool(await asyncio.wait_for(reader.read(1), HOLD))  # data: the app spoke first
    except asyncio.TimeoutError:
        return True  # still open: the app holds it
    except OSError:
        return False  # reset by the proxy
    finally:
        writer.close()
        with contextlib.suppress(OSError):
            await writer.wait_closed()


class LineSplitter:
    """Whole lines from a byte stream cut anywhere."""

    def __init__(self) -> None:
        self._pending = b""

    def feed(self, chunk: bytes | None) -> Iterable[str]:
        if not chunk:
            return []
        *done, self._pending = (self._pending + chunk).split(b"\n")
        return [raw.decode("utf-8", "replace").rstrip("\r") for raw in done]

    def finish(self) -> Iterable[str]:
        rest, self._pending = self._pending, b""
        return [rest.decode("utf-8", "replace")] if rest else []


def remove_leftovers(client: DockerClient | None = None) -> int:
    """Remove the instance containers of this ``$AGENTCTL_HOME`` (after a crash); how many were removed."""
    from docker.errors import DockerException

    if client is None:
        from agentctl.build.docker import engine

        client = engine(timeout=30)
    removed = 0
    for container in client.containers.list(all=True, filters={"label": [f"{ROLE_LABEL}=instance",
                                                                          f"{HOME_LABEL}={home_tag()}"]}):
        with contextlib.suppress(DockerException):
            container.remove(force=True)
            removed += 1
    return removed
