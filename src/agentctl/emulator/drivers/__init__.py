"""Instance runtimes behind one interface (:class:`~agentctl.emulator.drivers.base.Driver`).

``process`` runs the version's command as a local process (under bubblewrap when it works),
``docker`` runs a container. :func:`open_driver` turns the daemon's setting into a driver:

- ``process`` / ``docker``: that one (``docker`` without a reachable engine: "Docker is not running");
- ``auto``: without an engine, ``process``; with one, per instance: Docker when the image it needs is on
  this machine (always for a container runtime), else a process (logged once per image), so a machine
  that has Docker but not the runtime image still runs code runtimes.

Opening a Docker-capable driver removes the containers a previous daemon of this ``$AGENTCTL_HOME`` left.
"""

from __future__ import annotations

import asyncio
import logging

from agentctl.emulator.drivers.base import (
    Driver,
    ExecTarget,
    Handle,
    InstanceSpec,
    InstanceStartFailed,
    LogLine,
    LogSink,
)
from agentctl.errors import AgentctlError, BackendError, BadInput

__all__ = ["AutoDriver", "Driver", "ExecTarget", "Handle", "InstanceSpec", "InstanceStartFailed", "LogLine", "LogSink",
           "driver_named", "open_driver"]
log = logging.getLogger("agentctl.emulator")
STARTUP_TIMEOUT = 60.0


def driver_named(name: str, *, startup_timeout: float = STARTUP_TIMEOUT) -> Driver:
    """A fresh driver by name, without touching the engine (``process`` or ``docker``)."""
    if name == "process":
        from agentctl.emulator.drivers.process import ProcessDriver

        return ProcessDriver()
    if name == "docker":
        from agentctl.emulator.drivers.docker import DockerDriver

        return DockerDriver(startup_timeout=startup_timeout)
    raise BadInput(f"unknown instance driver {name!r}", "use 'process' or 'docker'")


def open_driver(setting: str, *, startup_timeout: float = STARTUP_TIMEOUT) -> Driver:
    """The daemon's driver for its ``driver`` setting (see the module docstring); may block on the engine."""
    from agentctl.emulator.drivers.docker import DockerDriver, remove_leftovers

    if setting == "process":
        return driver_named("process")
    docker = DockerDriver(startup_timeout=startup_timeout)
    try:
        client = docker.client()
    except AgentctlError as exc:
        if setting == "docker":  # one line for the daemon log's tail, which `local start` shows
            raise BackendError(f"the docker driver needs a Docker engine: {exc.message}; start Docker, or run "
                               "`agentctl local start --driver auto`", exc.hint) from exc
        log.info("instance driver: process (auto: no Docker engine answers)")
        return driver_named("process")
    removed = remove_leftovers(client)
    if removed:
        log.info("removed %d containers a previous emulator left", removed)
    if setting == "docker":
        log.info("instance driver: docker")
        return docker
    log.info("instance driver: auto (Docker when the instance's image is local, else a process)")
    return AutoDriver(docker, driver_named("process"))


class AutoDriver:
    """Docker for instances whose image is local, a process for the others; each handle keeps its driver."""

    name = "auto"

    def __init__(self, docker: Driver, process: Driver) -> None:
        self.docker, self.process = docker, process
        self._owners: dict[str, Driver] = {}  # instance id → the driver that started it
        self._noted: set[str] = set()  # images already reported missing

    async def start(self, spec: InstanceSpec, sink: LogSink | None = None) -> Handle:
        driver = await self._pick(spec)
        handle = await driver.start(spec, sink)
        self._owners[spec.instance_id] = driver
        handle.exited.add_done_callback(lambda _: self._owners.pop(spec.instance_id, None))
        return handle

    async def _pick(self, spec: InstanceSpec) -> Driver:
        from agentctl.emulator.drivers.docker import DockerDriver, plan_container

        if (spec.config.get("containerConfiguration") or {}).get("image"):
            return self.docker  # a process cannot run an image; Docker says what is missing
        assert isinstance(self.docker, DockerDriver)
        try:
            image = plan_container(spec).image
        except InstanceStartFailed:  # no runtime image for this language: only a process can run it
            return self.process
        if await asyncio.to_thread(self.docker.has_image, image):
            return self.docker
        if image not in self._noted:
            self._noted.add(image)
            log.info("runtime image %s is not local: code runtimes that need it run as processes", image)
        return self.process

    def _owner(self, handle: Handle) -> Driver:
        return self._owners.get(handle.instance_id, self.process)

    async def stop(self, handle: Handle, grace: float = 3.0) -> None:
        await self._owner(handle).stop(handle, grace)
        self._owners.pop(handle.instance_id, None)

    def logs(self, handle: Handle, tail: int | None = None) -> list[LogLine]:
        return self._owner(handle).logs(handle, tail)

    def exec_env(self, handle: Handle) -> ExecTarget | None:
        return self._owner(handle).exec_env(handle)
