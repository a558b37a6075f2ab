"""The one small interface every instance runtime implements (``process`` and ``docker``).

A driver turns an :class:`InstanceSpec` (what to run, for which version) into a
running :class:`Handle` (where it listens, how to watch it) and back:
``start``, ``stop``, ``logs``, ``exec_env``. It knows nothing about routing,
health or concurrency; the pool does that.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from agentctl.errors import BackendError

LOG_TAIL_LINES = 500  # kept in memory per instance until the logs store exists


@dataclass(frozen=True)
class InstanceSpec:
    """Everything a driver needs to start one instance of one version."""

    instance_id: str
    runtime_id: str
    runtime_name: str
    version: str  # "LATEST" or "1", "2", …
    code_dir: str
    config: Mapping[str, Any]  # the version's runtime fields, as the control API returns them


@dataclass(frozen=True)
class LogLine:
    time: float
    instance_id: str
    stream: str  # "stdout" | "stderr" | "system"
    text: str


LogSink = Callable[[LogLine], None]


@dataclass(frozen=True)
class ExecTarget:
    """How ``instance exec`` runs a command inside an instance.

    The host runs ``argv_prefix + command`` in ``cwd`` with ``env``: a process instance gives its working
    dir and environment (and the bubblewrap prefix when sandboxed), a docker instance ``docker exec -i <id>``.
    A command with a terminal uses ``tty_argv_prefix`` when set (``docker exec -i -t <id>``).
    """

    cwd: str
    env: Mapping[str, str]
    argv_prefix: tuple[str, ...] = ()
    tty_argv_prefix: tuple[str, ...] | None = None

    def argv(self, command: Sequence[str], *, tty: bool = False) -> list[str]:
        prefix = self.tty_argv_prefix if tty and self.tty_argv_prefix is not None else self.argv_prefix
        return [*prefix, *command]


@dataclass
class Handle:
    """A started instance: its address, its recent output, and a future set when it exits."""

    instance_id: str
    host: str
    port: int
    exited: asyncio.Future[int]
    pid: int | None = None
    tail: deque[LogLine] = field(default_factory=lambda: deque(maxlen=LOG_TAIL_LINES))
    sink: LogSink | None = None

    def record(self, stream: str, text: str) -> None:
        line = LogLine(time.time(), self.instance_id, stream, text)
        self.tail.append(line)
        if self.sink is not None:
            self.sink(line)

    def tail_text(self, lines: int = 20) -> list[str]:
        return [line.text for line in list(self.tail)[-lines:]]


class InstanceStartFailed(BackendError):
    """An instance could not be started or never became healthy; ``logs`` is the tail of its output."""

    def __init__(self, code: str, message: str, hint: str, *, status: int = 502,
                 logs: list[str] | None = None) -> None:
        super().__init__(message, hint)
        self.code, self.status, self.logs = code, status, logs or []


class Driver(Protocol):
    name: str

    async def start(self, spec: InstanceSpec, sink: LogSink | None = None) -> Handle:
        """Launch the instance and return at once (health is the pool's job)."""
        ...

    async def stop(self, handle: Handle, grace: float = 3.0) -> None:
        """Stop the instance and everything it started; returns when it is gone."""
        ...

    def logs(self, handle: Handle, tail: int | None = None) -> list[LogLine]:
        """The instance's recent output lines, oldest first."""
        ...

    def exec_env(self, handle: Handle) -> ExecTarget | None:
        """How a command runs "inside" the instance; None once it is gone.

        ``emulator.exec`` runs the command that way (with pipes or a pty) for ``instance exec``.
        """
        ...


def runnable(version: Mapping[str, Any]) -> bool:
    """Whether instances of a stored version (``Store.version`` record) can start: code to run, or an image."""
    container = (version.get("config") or {}).get("containerConfiguration") or {}
    return bool(version.get("codeDir") or container.get("image"))
