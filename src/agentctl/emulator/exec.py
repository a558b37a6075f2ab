"""``InstanceExec``: a WebSocket at the FC3 exec path that runs a command inside an instance.

    GET /2023-03-30/functions/agentrun-<id>/instances/<instanceId>/exec
        ?command=sh&command=-c&command=pwd&stdin=true&stdout=true&stderr=true&tty=false[&idleTimeout=N]

Frames are those of :mod:`agentctl.api.exec_client` (type byte first: 0 stdin, 1 stdout, 2 stderr,
3 error, 4 resize, 5 close). The command runs the way the instance's driver says (an :class:`ExecEnv`
the ``resolve`` callback gives): a process instance's environment and working directory (inside its
bubblewrap sandbox when it has one), or ``docker exec`` into a container; in its own session:

- ``tty=false``: pipes; stdout and stderr frames stay apart; an empty stdin frame closes stdin.
- ``tty=true``: a real pseudo-terminal that is the command's controlling terminal, so Ctrl-C
  (byte 0x03) interrupts its foreground job; resize frames set its size (TIOCSWINSZ).

When the command exits the server sends what is left of its output, a close frame with
``{"exitCode": N}`` (128+signal when killed) and closes the socket. A client that goes away
ends the command (SIGHUP, then SIGKILL). An unknown instance gets an error frame (status 404).
Authentication is the app's job: the control app's middleware verifies the ACS3 signature of
the upgrade request like any other (see :func:`add_exec_route`).
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import logging
import os
import pty
import signal
import struct
import sys
import termios
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from aiohttp import WSMsgType, web
from multidict import MultiMapping

from agentctl.api import exec_client as proto
from agentctl.api.fc3 import EXEC_PATH
from agentctl.emulator.drivers.base import ExecTarget

if TYPE_CHECKING:
    from agentctl.emulator.pool import InstancePool

log = logging.getLogger("agentctl.emulator.exec")
DRAIN_GRACE = 0.5  # after the command exits, how long its leftovers may keep the output open
CHUNK = 64 * 1024
DEFAULT_SIZE = (80, 24)
# Runs between fork and the command: make the pty (fd 0) the controlling terminal of the new session.
_TAKE_TTY = ("import fcntl,os,sys,termios\n"
             "fcntl.ioctl(0, termios.TIOCSCTTY, 0)\n"
             "try:\n os.execvp(sys.argv[1], sys.argv[1:])\n"
             "except OSError as e:\n sys.stderr.write(f'{sys.argv[1]}: {e.strerror}\\n'); sys.exit(127)\n")


# How a command runs inside an instance: ``ExecEnv(cwd, env)`` for a plain process, plus an argv prefix
# (bubblewrap, ``docker exec``) when the driver gives one. The old name stays for callers.
ExecEnv = ExecTarget


# (function name, instance id) → the instance's ExecEnv, or None when no such live instance of that function.
Resolve = Callable[[str, str], ExecEnv | None]
# Entered for the life of an exec session on an instance id (see ``pool_hold``).
Hold = Callable[[str], contextlib.AbstractContextManager[None]]


@dataclass(frozen=True)
class ExecRequest:
    """The FC3 exec query, checked."""

    argv: tuple[str, ...]
    stdin: bool = True
    stdout: bool = True
    stderr: bool = True
    tty: bool = False
    idle_timeout: float | None = None

    @classmethod
    def from_query(cls, query: MultiMapping[str]) -> ExecRequest:
        """Raises ValueError with a message for the client."""
        argv = tuple(query.getall("command", ()))
        if not argv or not argv[0]:
            raise ValueError("the exec query needs at least one 'command' (one per argv element)")
        idle = query.get("idleTimeout")
        try:
            idle_timeout = float(idle) if idle else None
        except ValueError:
            raise ValueError(f"idleTimeout {idle!r} is not a number of seconds") from None
        return cls(argv, stdin=_flag(query, "stdin", True), stdout=_flag(query, "stdout", True),
                   stderr=_flag(query, "stderr", True), tty=_flag(query, "tty", False),
                   idle_timeout=idle_timeout if idle_timeout and idle_timeout > 0 else None)


def _flag(query: MultiMapping[str], name: str, default: bool) -> bool:
    value = query.get(name)
    if value is None or value == "":
        return default
    if value.lower() not in ("true", "false"):
        raise ValueError(f"{name}={value!r} must be true or false")
    return value.lower() == "true"


def add_exec_route(app: web.Application, resolve: Resolve, hold: Hold | None = None) -> None:
    """Serve exec on ``app`` (before it starts). The app must authenticate requests itself (middleware).

    ``hold(instance_id)`` is entered for the life of each session (the pool keeps the instance up meanwhile).
    """
    app.router.add_get(EXEC_PATH, make_exec_handler(resolve, hold))


def make_exec_handler(resolve: Resolve, hold: Hold | None = None) -> Callable[[web.Request], Any]:
    async def handle(request: web.Request) -> web.StreamResponse:
        ws = web.WebSocketResponse(max_msg_size=0, autoping=True)
        await ws.prepare(request)
        function, instance_id = request.match_info["functionName"], request.match_info["instanceId"]
        try:
            exec_request = ExecRequest.from_query(request.query)
        except ValueError as err:
            return await _fail(ws, 400, "InvalidArgument", str(err))
        target = resolve(function, instance_id)
        if target is None:
            return await _fail(ws, 404, "InstanceNotFound",
                               f"instance {instance_id} of function {function} is not running")
        session: Session = (PtySession if exec_request.tty else PipeSession)(exec_request, target)
        try:
            with hold(instance_id) if hold else contextlib.nullcontext():
                code = await session.run(ws)
        except OSError as err:
            program = err.filename or exec_request.argv[0]  # the driver's prefix (docker, bwrap) may be missing
            return await _fail(ws, 500, "ExecFailed", f"cannot run {program}: {err.strerror or err}")
        if code is not None and not ws.closed:
            await ws.send_bytes(proto.frame(proto.CLOSE, proto.close_payload(code)))
            await ws.close()
        return ws

    return handle


async def _fail(ws: web.WebSocketResponse, status: int, code: str, message: str) -> web.WebSocketResponse:
    await ws.send_bytes(proto.frame(proto.ERROR, proto.error_payload(status, code, message)))
    await ws.close()
    return ws


class Session:
    """One command and its streams; subclasses start it and move bytes for pipes or a pty."""

    def __init__(self, request: ExecRequest, target: ExecEnv) -> None:
        self.request, self.target = request, target
        self.proc: asyncio.subprocess.Process | None = None
        self.output: asyncio.Queue[tuple[int, bytes] | None] = asyncio.Queue()
        self.last_active = time.monotonic()

    async def start(self) -> None:
        raise NotImplementedError

    async def write_stdin(self, data: bytes) -> None:
        raise NotImplementedError

    def resize(self, columns: int, rows: int) -> None:
        """Only a terminal has a size."""

    def close_output(self) -> None:
        """Release what ``start`` opened for the output."""

    async def run(self, ws: web.WebSocketResponse) -> int | None:
        """The command's exit code, or None when the client left first (the command is then ended)."""
        await self.start()
        assert self.proc is not None
        client = asyncio.create_task(self._from_client(ws))
        sender = asyncio.create_task(self._to_client(ws))
        exited = asyncio.create_task(self.proc.wait())
        watchdog = asyncio.create_task(self._idle_watch()) if self.request.idle_timeout else None
        try:
            await asyncio.wait({client, exited}, return_when=asyncio.FIRST_COMPLETED)
            if not exited.done():  # the client went away
                self.kill(signal.SIGHUP)
                with contextlib.suppress(asyncio.TimeoutError):
                    await asyncio.wait_for(asyncio.shield(exited), 2.0)
                self.kill(signal.SIGKILL)
                return None
            await self._drain(sender)
            return _exit_code(exited.result())
        finally:
            for task in (client, sender, exited, watchdog):
                if task is not None and not task.done():
                    task.cancel()
            self.kill(signal.SIGKILL)
            self.close_output()

    async def _drain(self, sender: asyncio.Task[None]) -> None:
        """Let the output finish; leftovers (background jobs) holding it open are killed after a grace."""
        try:
            await asyncio.wait_for(asyncio.shield(sender), DRAIN_GRACE)
        except asyncio.TimeoutError:
            self.kill(signal.SIGKILL)
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(asyncio.shield(sender), DRAIN_GRACE)

    async def _from_client(self, ws: web.WebSocketResponse) -> None:
        async for message in ws:
            if message.type not in (WSMsgType.BINARY, WSMsgType.TEXT):
                break
            data = message.data if isinstance(message.data, bytes) else str(message.data).encode()
            if not data:
                continue
            self.last_active = time.monotonic()
            if data[0] == proto.STDIN and self.request.stdin:
                await self.write_stdin(data[1:])
            elif data[0] == proto.RESIZE:
                with contextlib.suppress(ValueError, TypeError, AttributeError, OSError):
                    self.resize(*proto.parse_resize(data[1:]))

    async def _to_client(self, ws: web.WebSocketResponse) -> None:
        while (item := await self.output.get()) is not None:
            kind, data = item
            self.last_active = time.monotonic()
            with contextlib.suppress(ConnectionResetError):
                await ws.send_bytes(proto.frame(kind, data))

    async def _idle_watch(self) -> None:
        limit = self.request.idle_timeout or 0.0
        while (left := self.last_active + limit - time.monotonic()) > 0:
            await asyncio.sleep(left)
        log.info("exec %s idle for %gs: ending it", self.request.argv[0], limit)
        self.kill(signal.SIGHUP)

    def kill(self, sig: signal.Signals) -> None:
        if self.proc is not None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self.proc.pid, sig)


class PipeSession(Session):
    """``tty=false``: stdin, stdout and stderr are pipes; each output stream has its own frame type."""

    async def start(self) -> None:
        pipe, null = asyncio.subprocess.PIPE, asyncio.subprocess.DEVNULL
        self.proc = await asyncio.create_subprocess_exec(
            *self.target.argv(self.request.argv), cwd=self.target.cwd, env=dict(self.target.env),
            start_new_session=True,
            stdin=pipe if self.request.stdin else null, stdout=pipe if self.request.stdout else null,
            stderr=pipe if self.request.stderr else null)
        streams = [(proto.STDOUT, self.proc.stdout), (proto.STDERR, self.proc.stderr)]
        self._pumps = asyncio.gather(*(self._pump(kind, s) for kind, s in streams if s is not None))
        self._pumps.add_done_callback(lambda _: self.output.put_nowait(None))

    async def _pump(self, kind: int, stream: asyncio.StreamReader) -> None:
        while chunk := await stream.read(CHUNK):
            self.output.put_nowait((kind, chunk))

    async def write_stdin(self, data: bytes) -> None:
        stdin = self.proc.stdin if self.proc else None
        if stdin is None or stdin.is_closing():
            return
        if not data:
            stdin.close()
            return
        with contextlib.suppress(ConnectionResetError, BrokenPipeError):
            stdin.write(data)
            await stdin.drain()

    def close_output(self) -> None:
        pumps = getattr(self, "_pumps", None)
        if pumps is not None:
            pumps.cancel()


class PtySession(Session):
    """``tty=true``: the command's controlling terminal is a fresh pty; its output comes as stdout frames."""

    master = -1  # the pty's master end once started

    async def start(self) -> None:
        master, slave = pty.openpty()
        self.master = master
        try:
            self.resize(*DEFAULT_SIZE)
            self.proc = await asyncio.create_subprocess_exec(
                sys.executable, "-I", "-S", "-c", _TAKE_TTY, *self.target.argv(self.request.argv, tty=True),
                cwd=self.target.cwd,
                env={"TERM": "xterm-256color", **self.target.env}, stdin=slave, stdout=slave, stderr=slave,
                start_new_session=True)
        except BaseException:
            os.close(master)
            raise
        finally:
            os.close(slave)  # only the command holds it now: its exit ends the output (EIO on the master)
        os.set_blocking(master, False)
        asyncio.get_running_loop().add_reader(master, self._readable)

    def _readable(self) -> None:
        try:
            data = os.read(self.master, CHUNK)
        except BlockingIOError:
            return
        except OSError:  # EIO: every holder of the terminal has gone
            data = b""
        if data:
            self.output.put_nowait((proto.STDOUT, data))
            return
        asyncio.get_running_loop().remove_reader(self.master)
        self.output.put_nowait(None)

    async def write_stdin(self, data: bytes) -> None:
        view = memoryview(data or b"\x04")  # end of input on a terminal is Ctrl-D
        while view:
            try:
                view = view[os.write(self.master, view):]
            except BlockingIOError:
                await asyncio.sleep(0.01)
            except OSError:
                return

    def resize(self, columns: int, rows: int) -> None:
        fcntl.ioctl(self.master, termios.TIOCSWINSZ, struct.pack("HHHH", rows, columns, 0, 0))

    def close_output(self) -> None:
        master = self.master
        if master < 0:
            return
        with contextlib.suppress(ValueError, RuntimeError):
            asyncio.get_running_loop().remove_reader(master)
        with contextlib.suppress(OSError):
            os.close(master)
        self.master = -1


def _exit_code(returncode: int) -> int:
    return 128 - returncode if returncode < 0 else returncode


def pool_resolver(pool: InstancePool) -> Resolve:
    """Exec against the data plane: a live instance of that function, run the way its driver gives.

    Uses ``driver.exec_env(handle) -> ExecTarget | None`` (part of the driver interface).
    """
    from agentctl.api.fc3 import function_name

    def resolve(function: str, instance_id: str) -> ExecEnv | None:
        instance = pool.find(instance_id)
        if instance is None or not instance.alive or instance.handle is None:
            return None
        if function != function_name(instance.spec.runtime_id):
            return None
        return pool.driver.exec_env(instance.handle)

    return resolve


def pool_hold(pool: InstancePool) -> Hold:
    """Keep an instance from scaling to zero while an exec session on it is open."""

    def hold(instance_id: str) -> contextlib.AbstractContextManager[None]:
        instance = pool.find(instance_id)
        return instance.shell_open() if instance is not None else contextlib.nullcontext()

    return hold
