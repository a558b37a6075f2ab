"""The ``process`` driver: an instance is a local process running the version's command.

- Command: ``codeConfiguration.command`` (an argv list, or a string split like a
  shell would). Without one, by ``codeConfiguration.language``: ``python*`` runs
  the emulator's own interpreter on the first of ``main.py``, ``app.py``,
  ``index.py`` found in the code; ``nodejs*`` runs ``node`` on ``index.js``,
  ``app.js``, ``main.js``.
- Working directory: the version's unpacked code (``codeDir``).
- Environment: a few host basics (PATH, HOME, locale, TMPDIR; not the daemon's
  credentials), then the runtime's ``environmentVariables``, then
  ``PORT``/``FC_SERVER_PORT``/``AGENTRUN_PORT`` (a free loopback port picked
  here; the app must listen on it), ``HOST=127.0.0.1``, ``PYTHONUNBUFFERED=1``
  and ``PYTHONPATH=<code>/python:<code>`` (built dependencies ship in ``python/``).
- Under bubblewrap when it works here (:mod:`agentctl.emulator.sandbox`): code
  read-only, a private /tmp, no user home and no ``$AGENTCTL_HOME``; ``instance
  exec`` runs its commands in the same sandbox (same binds, same /tmp).
- Its own session/process group, so ``stop`` (SIGTERM, then SIGKILL after the
  grace period) also ends whatever the app started. A child that left the group
  (``setsid()``, as daemons do) is found by the marker every process of the
  instance inherits (``AGENTCTL_INSTANCE=<instance id>`` in its environment) and
  killed when the app is gone (on Linux, from /proc). On Linux the app also gets
  SIGTERM when the emulator dies (``PR_SET_PDEATHSIG``), so a ``kill -9`` of
  the daemon leaves no instance behind.
- stdout/stderr are read line by line into the handle's bounded tail and the
  optional sink, tagged with the instance id.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import ctypes.util
import errno
import os
import shlex
import shutil
import signal
import socket
import sys
from collections.abc import Callable, Mapping
from pathlib import Path

from agentctl.emulator import sandbox
from agentctl.emulator.drivers.base import ExecTarget, Handle, InstanceSpec, InstanceStartFailed, LogLine, LogSink

HOST = "127.0.0.1"
PASSED_FROM_HOST = ("PATH", "HOME", "USER", "LANG", "LC_ALL", "LC_CTYPE", "TZ", "TMPDIR", "SYSTEMROOT")
DEFAULT_ENTRIES = {"python": ("main.py", "app.py", "index.py"), "nodejs": ("index.js", "app.js", "main.js")}
MAX_LINE = 64 * 1024
PR_SET_PDEATHSIG = 1
MARKER = "AGENTCTL_INSTANCE"  # in the environment of every process of an instance (see kill_marked)


def _death_signal() -> Callable[[], None] | None:
    """A pre-exec hook asking Linux to SIGTERM the child when we die; looked up here, not in the child."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        prctl = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True).prctl
    except (OSError, AttributeError):
        return None
    return lambda: prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


ON_PARENT_DEATH = _death_signal()


def free_port() -> int:
    """A loopback port nobody listens on right now (the app binds it a moment later)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def command_of(config: Mapping[str, object], code_dir: str, *, python: str = sys.executable) -> list[str]:
    """The argv to run for a version; see the module docstring for the defaults (``python`` runs Python)."""
    code = config.get("codeConfiguration") or {}
    assert isinstance(code, Mapping)
    command = code.get("command")
    if isinstance(command, str) and command.strip():
        return shlex.split(command)
    if isinstance(command, list) and command:
        return [str(part) for part in command]
    language = str(code.get("language") or "python")
    for prefix, entries in DEFAULT_ENTRIES.items():
        if language.startswith(prefix):
            for entry in entries:
                if (Path(code_dir) / entry).is_file():
                    return [python if prefix == "python" else "node", entry]
            raise InstanceStartFailed(
                "InstanceStartFailed",
                f"no command for language {language!r} and none of {', '.join(entries)} in the code",
                "set codeConfiguration.command (s.yaml: code.command), e.g. ['python3', 'app.py']",
            )
    raise InstanceStartFailed(
        "InstanceStartFailed", f"no command and no default for language {language!r}",
        "set codeConfiguration.command (s.yaml: code.command)",
    )


def environment_of(config: Mapping[str, object], code_dir: str, port: int) -> dict[str, str]:
    env = {name: os.environ[name] for name in PASSED_FROM_HOST if name in os.environ}
    user = config.get("environmentVariables") or {}
    assert isinstance(user, Mapping)
    env.update({str(k): str(v) for k, v in user.items()})
    env.update({
        "PORT": str(port), "FC_SERVER_PORT": str(port), "AGENTRUN_PORT": str(port), "HOST": HOST,
        "PYTHONUNBUFFERED": "1", "PYTHONPATH": os.pathsep.join([str(Path(code_dir) / "python"), code_dir]),
    })
    return env


class ProcessDriver:
    name = "process"

    def __init__(self) -> None:
        self._exec: dict[str, ExecTarget] = {}  # instance id → how to exec into it
        self._sandboxes: dict[str, sandbox.Sandbox] = {}
        self._watchers: set[asyncio.Task[None]] = set()  # referenced so they are not collected mid-run

    async def start(self, spec: InstanceSpec, sink: LogSink | None = None) -> Handle:
        argv = command_of(spec.config, spec.code_dir)
        port = free_port()
        env = {**environment_of(spec.config, spec.code_dir, port), MARKER: spec.instance_id}
        box = sandbox.Sandbox.create(spec.code_dir, spec.instance_id) if sandbox.usable() else None
        target = ExecTarget(spec.code_dir, env)
        if box is not None:
            target = ExecTarget(spec.code_dir, box.environment(env), tuple(box.argv()))
        try:
            if box is not None:  # bwrap would start and then fail: say it the way a plain start does
                _require_program(argv[0], spec.code_dir, target.env)
            proc, exited = await _spawn(
                target.argv(argv), cwd=spec.code_dir, env=dict(target.env), stdin=asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
                start_new_session=True, preexec_fn=ON_PARENT_DEATH,
            )
        except OSError as exc:
            if box is not None:
                box.remove()
            raise InstanceStartFailed(
                "InstanceStartFailed", f"cannot run {shlex.join(argv)} in {spec.code_dir}: {exc.strerror or exc}",
                "check codeConfiguration.command and that the program is installed",
            ) from exc
        loop = asyncio.get_running_loop()
        handle = Handle(spec.instance_id, HOST, port, loop.create_future(), pid=proc.pid, sink=sink)
        where = "sandboxed" if box is not None else "no sandbox"
        handle.record("system", f"started: {shlex.join(argv)} (pid {proc.pid}, port {port}, {where})")
        self._exec[spec.instance_id] = target
        if box is not None:
            self._sandboxes[spec.instance_id] = box
        watcher = asyncio.create_task(self._watch(proc, exited, handle), name=f"watch-{spec.instance_id}")
        self._watchers.add(watcher)
        watcher.add_done_callback(self._watchers.discard)
        return handle

    async def _watch(self, proc: asyncio.subprocess.Process, exited: asyncio.Future[int], handle: Handle) -> None:
        assert proc.stdout is not None and proc.stderr is not None
        pumps = asyncio.gather(_pump(proc.stdout, handle, "stdout"), _pump(proc.stderr, handle, "stderr"))
        code = await exited  # not proc.wait(): that also waits for the pipes, which an escaped child holds open
        _signal_group(proc.pid, signal.SIGKILL)  # the app is gone: so are its leftovers, and the pipes close
        await asyncio.to_thread(kill_marked, handle.instance_id)  # and those that left the group
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(pumps, 2.0)
        handle.record("system", f"exited with code {code}")
        self._exec.pop(handle.instance_id, None)
        box = self._sandboxes.pop(handle.instance_id, None)
        if box is not None:
            box.remove()
        if not handle.exited.done():
            handle.exited.set_result(code)

    async def stop(self, handle: Handle, grace: float = 3.0) -> None:
        if handle.exited.done() or handle.pid is None:
            return
        _signal_group(handle.pid, signal.SIGTERM)
        try:
            await asyncio.wait_for(asyncio.shield(handle.exited), grace)
        except asyncio.TimeoutError:
            _signal_group(handle.pid, signal.SIGKILL)
            await asyncio.shield(handle.exited)

    def logs(self, handle: Handle, tail: int | None = None) -> list[LogLine]:
        lines = list(handle.tail)
        return lines[-tail:] if tail else lines

    def exec_env(self, handle: Handle) -> ExecTarget | None:
        return self._exec.get(handle.instance_id)


async def _pump(stream: asyncio.StreamReader, handle: Handle, name: str) -> None:
    while True:
        try:
            raw = await stream.readline()
        except ValueError:  # longer than MAX_LINE; asyncio has already dropped it
            handle.record(name, f"<a line longer than {MAX_LINE} bytes was dropped>")
            continue
        if not raw:
            return
        handle.record(name, raw.decode(errors="replace").rstrip("\r\n"))


def _require_program(program: str, cwd: str, env: Mapping[str, str]) -> None:
    found = Path(cwd, program).is_file() if "/" in program else shutil.which(program, path=env.get("PATH"))
    if not found:
        raise FileNotFoundError(errno.ENOENT, os.strerror(errno.ENOENT), program)


class _ExitAware(asyncio.subprocess.SubprocessStreamProtocol):
    """The stream protocol of ``create_subprocess_exec`` that also says when the process itself exited."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        super().__init__(limit=MAX_LINE, loop=loop)
        self.exited: asyncio.Future[int] = loop.create_future()

    def process_exited(self) -> None:
        transport = self._transport  # type: ignore[attr-defined]  # (the parent drops it when all is closed)
        code = transport.get_returncode() if transport is not None else None
        super().process_exited()
        if not self.exited.done():
            self.exited.set_result(-1 if code is None else int(code))


async def _spawn(argv: list[str], **options: object) -> tuple[asyncio.subprocess.Process, asyncio.Future[int]]:
    """``asyncio.create_subprocess_exec``, plus a future set as soon as the process exits (pipes or not)."""
    loop = asyncio.get_running_loop()
    protocol = _ExitAware(loop)
    transport, _ = await loop.subprocess_exec(lambda: protocol, *argv, **options)  # type: ignore[arg-type]
    return asyncio.subprocess.Process(transport, protocol, loop), protocol.exited


def kill_marked(instance_id: str, proc: Path = Path("/proc")) -> int:
    """SIGKILL every process whose environment carries this instance's marker; returns how many."""
    mark = f"{MARKER}={instance_id}".encode()
    killed = 0
    for entry in proc.glob("[0-9]*"):
        try:
            environ = (entry / "environ").read_bytes()
        except OSError:  # gone meanwhile, or not ours to read
            continue
        if mark in environ.split(b"\0"):
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(int(entry.name), signal.SIGKILL)
                killed += 1
    return killed


def _signal_group(pid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, sig)
