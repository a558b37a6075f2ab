"""The exec protocol (FC3 ``InstanceExec`` over a WebSocket) and its client side.

Every binary message carries a type byte first, then its payload::

    0 stdin    client → server   raw bytes; an empty payload closes the command's stdin
    1 stdout   server → client   raw bytes (with a TTY: the terminal's output)
    2 stderr   server → client   raw bytes (never with a TTY: the terminal merges them)
    3 error    server → client   JSON {"code", "message", "status"} (FC may send plain text)
    4 resize   client → server   JSON {"Width": columns, "Height": rows} (the Kubernetes TerminalSize shape)
    5 close    server → client   JSON {"exitCode": N} from the emulator; FC's carries no exit code

Against the cloud the exit code is learnt by wrapping the command (``command_argv(..., mark_exit=True)``)
so that it prints a marker last on stdout, which :class:`ExitMarker` strips. ``websockets`` is imported
inside the functions that connect, so the CLI's start-up stays light.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import shlex
import signal
import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import IO, Any

from agentctl.errors import AgentctlError, AuthError, BackendError, NotFound

STDIN, STDOUT, STDERR, ERROR, RESIZE, CLOSE = range(6)
MARKER = b"\n__agentctl_exit="
_MARKER_END = re.compile(rb"\n__agentctl_exit=(\d{1,3})\n\Z")
CLOUD_CODE_DIR = "/code"


# --- frames -------------------------------------------------------------------------------------

def frame(kind: int, payload: bytes = b"") -> bytes:
    return bytes([kind]) + payload


def resize_payload(columns: int, rows: int) -> bytes:
    return json.dumps({"Width": columns, "Height": rows}).encode()


def parse_resize(payload: bytes) -> tuple[int, int]:
    """(columns, rows) of a resize frame; accepts ``Width/Height`` in any case. ValueError when malformed."""
    data = {str(k).lower(): v for k, v in json.loads(payload).items()}
    columns, rows = int(data["width"]), int(data["height"])
    if not (0 < columns < 10_000 and 0 < rows < 10_000):
        raise ValueError(f"terminal size {columns}x{rows} is out of range")
    return columns, rows


def error_payload(status: int, code: str, message: str) -> bytes:
    return json.dumps({"code": code, "message": message, "status": status}).encode()


def close_payload(exit_code: int) -> bytes:
    return json.dumps({"exitCode": exit_code}).encode()


def exit_code_of(payload: bytes) -> int | None:
    """The exit code a close frame carries (the emulator's), or None (FC's is empty)."""
    with contextlib.suppress(ValueError, TypeError, AttributeError):
        code = json.loads(payload).get("exitCode")
        return int(code) if code is not None else None
    return None


def error_of(payload: bytes) -> AgentctlError:
    """The project error for an error frame: 404 → NotFound, 401/403 → AuthError, else BackendError."""
    try:
        data = json.loads(payload)
        status, message = int(data.get("status") or 500), str(data.get("message") or data)
    except (ValueError, TypeError, AttributeError):
        status, message = 500, payload.decode(errors="replace").strip() or "the exec session failed"
    if status == 404:
        return NotFound(message, hint="List the running instances with `agentctl instance list`.")
    if status in (401, 403):
        return AuthError(message, hint="Check the access alias (-a) and its keys: `agentctl config get`.")
    return BackendError(message, hint="Retry; `agentctl logs --instance-id ID` shows what the instance printed.")


# --- the command to run ---------------------------------------------------------------------------

def command_argv(cmd: str | None, *, shell: str, workdir: str | None = None, mark_exit: bool = False,
                 cloud: bool = False) -> list[str]:
    """The argv sent as ``command``: ``shell -c CMD`` for a command, else an interactive shell.

    ``workdir`` is entered first (the FC query has no working directory). Without it a cloud shell
    starts in /code as ``s instance exec`` does; the emulator starts it in the code directory anyway.
    ``mark_exit`` wraps CMD in a second shell whose last output is ``\\n__agentctl_exit=N\\n`` on stdout.
    """
    if cmd is None:
        if workdir:
            return [shell, "-c", f"cd -- {shlex.quote(workdir)} && exec {shlex.quote(shell)}"]
        if cloud:
            return [shell, "-c", f"cd {CLOUD_CODE_DIR} 2>/dev/null || cd /; exec {shlex.quote(shell)}"]
        return [shell]
    script = f"cd -- {shlex.quote(workdir)} || exit\n{cmd}" if workdir else cmd
    if not mark_exit:
        return [shell, "-c", script]
    # "$0" is the shell, "$1" the script: exit inside the script ends only the inner shell.
    return [shell, "-c", '"$0" -c "$1"; printf "\\n__agentctl_exit=%d\\n" "$?"', shell, script]


class ExitMarker:
    """Strips the exit marker from the end of a stdout stream, holding back only what could be its start."""

    def __init__(self) -> None:
        self._held = b""

    def feed(self, data: bytes) -> bytes:
        buffer = self._held + data
        cut = self._marker_start(buffer)
        self._held = buffer[cut:]
        return buffer[:cut]

    def finish(self) -> tuple[bytes, int | None]:
        """The rest of the output and the exit code the marker gave (None when there was none)."""
        held, self._held = self._held, b""
        found = _MARKER_END.search(held)
        if found and found.start() == 0:
            return b"", int(found.group(1))
        return held, None

    @staticmethod
    def _marker_start(buffer: bytes) -> int:
        """Where a possible marker begins in ``buffer`` (``len(buffer)`` when nothing needs holding)."""
        window = max(0, len(buffer) - len(MARKER) - 5)
        at = buffer.find(b"\n", window)
        while at != -1:
            tail = buffer[at:]
            if MARKER.startswith(tail) or re.fullmatch(rb"\n__agentctl_exit=\d{0,3}\n?", tail):
                return at
            at = buffer.find(b"\n", at + 1)
        return len(buffer)


# --- the client -----------------------------------------------------------------------------------

@dataclass(frozen=True)
class Connection:
    """Where and how to open one exec WebSocket (from ``api.fc3.exec_request``)."""

    url: str
    headers: dict[str, str]
    loopback: bool = False  # the emulator: no proxy

    def connect(self) -> Any:
        from websockets.asyncio.client import connect

        # websockets writes Host itself; the signed value is the same netloc.
        headers = {k: v for k, v in self.headers.items() if k.lower() != "host"}
        return connect(self.url, additional_headers=headers, max_size=None, compression=None,
                       proxy=None if self.loopback else True, open_timeout=15)


async def _open(conn: Connection) -> Any:
    from websockets.exceptions import InvalidStatus, WebSocketException

    try:
        return await conn.connect()
    except InvalidStatus as exc:
        status = exc.response.status_code
        message = _reply_message(bytes(exc.response.body or b"")) or f"the exec upgrade got HTTP {status}"
        raise error_of(error_payload(status, "", message)) from exc
    except (OSError, asyncio.TimeoutError, WebSocketException) as exc:
        raise BackendError(f"cannot open the exec session at {conn.url.split('?')[0]}: {exc}",
                           hint="Check that the instance is running (`agentctl instance list`).") from exc


def _reply_message(body: bytes) -> str:
    with contextlib.suppress(ValueError, AttributeError):
        data = json.loads(body)
        return str(data.get("message") or data.get("Message") or "")
    return body.decode(errors="replace").strip()


async def _pump(ws: Any, on_data: Callable[[int, bytes], None]) -> int | None:
    """Hand stdout/stderr payloads to ``on_data`` until the session ends; the close frame's exit code."""
    from websockets.exceptions import ConnectionClosed

    try:
        async for message in ws:
            data = message.encode() if isinstance(message, str) else bytes(message)
            if not data:
                continue
            kind, payload = data[0], data[1:]
            if kind in (STDOUT, STDERR):
                on_data(kind, payload)
            elif kind == ERROR:
                raise error_of(payload)
            elif kind == CLOSE:
                return exit_code_of(payload)
    except ConnectionClosed as exc:
        if exc.rcvd is None or exc.rcvd.code not in (1000, 1001):
            raise BackendError("the exec session was cut off before the command finished",
                               hint="Retry; the instance may have stopped.") from exc
    return None


def write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]


def _writer(stream: IO[bytes]) -> Callable[[bytes], None]:
    def write(data: bytes) -> None:
        stream.write(data)
        stream.flush()
    return write


async def run_command(conn: Connection, *, marked: bool, stdout: IO[bytes], stderr: IO[bytes]) -> int:
    """Run a non-interactive command: stdout/stderr to their streams as they come; returns its exit code."""
    marker = ExitMarker() if marked else None
    out, err = _writer(stdout), _writer(stderr)

    def on_data(kind: int, payload: bytes) -> None:
        if kind == STDERR:
            err(payload)
        else:
            out(marker.feed(payload) if marker else payload)

    ws = await _open(conn)
    async with ws:
        code = await _pump(ws, on_data)
    if marker is not None:
        rest, marked_code = marker.finish()
        out(rest)
        code = code if code is not None else marked_code
    return code if code is not None else 0


async def run_interactive(conn: Connection, *, stdin_fd: int | None = None, stdout_fd: int | None = None) -> int:
    """An interactive shell on this terminal: raw mode (restored on exit), SIGWINCH → resize, keys pass through."""
    import termios
    import tty

    in_fd = sys.stdin.fileno() if stdin_fd is None else stdin_fd
    out_fd = sys.stdout.fileno() if stdout_fd is None else stdout_fd
    ws = await _open(conn)
    loop = asyncio.get_running_loop()
    saved = termios.tcgetattr(in_fd)
    sends: set[asyncio.Task[None]] = set()

    def sent(task: asyncio.Task[None]) -> None:
        sends.discard(task)
        if not task.cancelled():
            task.exception()  # a send after the session ended: the receive side reports how it ended

    def send(data: bytes) -> None:
        task = loop.create_task(ws.send(data))
        sends.add(task)
        task.add_done_callback(sent)

    def on_resize() -> None:
        columns, rows = os.get_terminal_size(out_fd)
        send(frame(RESIZE, resize_payload(columns, rows)))

    def on_key() -> None:
        data = os.read(in_fd, 4096)
        if not data:  # our input ended: tell the other side once
            loop.remove_reader(in_fd)
        send(frame(STDIN, data))

    async with ws:
        try:
            tty.setraw(in_fd, termios.TCSANOW)  # keep what was typed ahead
            on_resize()
            loop.add_signal_handler(signal.SIGWINCH, on_resize)
            loop.add_reader(in_fd, on_key)
            code = await _pump(ws, lambda _kind, payload: write_all(out_fd, payload))
        finally:
            loop.remove_reader(in_fd)
            loop.remove_signal_handler(signal.SIGWINCH)
            termios.tcsetattr(in_fd, termios.TCSADRAIN, saved)
    return code if code is not None else 0
