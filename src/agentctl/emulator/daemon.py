"""The emulator daemon seen from the CLI: find it, start it, stop it, wipe it.

The daemon (``python -m agentctl.emulator``, see ``emulator.app``) runs detached,
logs to ``$AGENTCTL_HOME/emulator/daemon.log`` and records itself in
``daemon.json`` (pid, ports, start time). It holds ``run.lock`` while it lives,
so "is it running?" does not trust a pid alone: the lock must be held, the pid
alive, and ``GET /health`` must answer with that pid. A stale ``daemon.json``
(after ``kill -9`` or a reboot) is simply ignored and the next command starts a
new daemon, which keeps the old ports when they are free.

``ensure_running`` takes ``start.lock`` so that two CLIs starting at once share one daemon.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from agentctl import paths
from agentctl.errors import BackendError, TimedOut

START_TIMEOUT = 30.0
STOP_TIMEOUT = 10.0
HOST = "127.0.0.1"


@dataclass(frozen=True)
class DaemonInfo:
    pid: int
    control_port: int
    gateway_port: int
    started_at: str
    state_dir: Path

    @property
    def control_url(self) -> str:
        return f"http://{HOST}:{self.control_port}"

    @property
    def gateway_url(self) -> str:
        return f"http://{HOST}:{self.gateway_port}"


def state_dir() -> Path:
    return paths.emulator_dir()


def log_file() -> Path:
    return state_dir() / "daemon.log"


@contextlib.contextmanager
def settings_lock() -> Iterator[None]:
    """Held while `local start` reads, changes and applies the settings (one start at a time)."""
    with _flock(state_dir() / "settings.lock", blocking=True):
        yield


@contextlib.contextmanager
def _flock(path: Path, *, blocking: bool) -> Iterator[bool]:
    """Hold an exclusive lock on ``path`` for the block; yields False when non-blocking and taken."""
    import fcntl

    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | (0 if blocking else fcntl.LOCK_NB))
        except BlockingIOError:
            yield False
            return
        try:
            yield True
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


def run_lock(directory: Path) -> contextlib.AbstractContextManager[bool]:
    """The lock a live daemon holds (the daemon takes it; others only test it)."""
    return _flock(directory / "run.lock", blocking=False)


def _lock_held(directory: Path) -> bool:
    with run_lock(directory) as acquired:
        return not acquired


def _alive(pid: int) -> bool:
    with contextlib.suppress(ChildProcessError):
        done, _ = os.waitpid(pid, os.WNOHANG)  # reaps it when it is our own dead child (a zombie)
        if done:
            return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _recorded() -> dict[str, object]:
    try:
        data = json.loads((state_dir() / "daemon.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _running_pid() -> int | None:
    """The daemon's pid when one is alive for this AGENTCTL_HOME (healthy or not)."""
    pid = _recorded().get("pid")
    if isinstance(pid, int) and _lock_held(state_dir()) and _alive(pid):
        return pid
    return None


def _healthy(port: int, pid: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://{HOST}:{port}/health", timeout=2) as reply:
            return bool(json.loads(reply.read()).get("pid") == pid)
    except (OSError, ValueError):
        return False


def status() -> DaemonInfo | None:
    """The running, healthy daemon of this AGENTCTL_HOME, or None."""
    data = _recorded()
    pid = _running_pid()
    if pid is None:
        return None
    control, gateway = data.get("controlPort"), data.get("gatewayPort")
    if not isinstance(control, int) or not isinstance(gateway, int) or not _healthy(control, pid):
        return None
    return DaemonInfo(pid, control, gateway, str(data.get("startedAt") or ""), state_dir())


def _spawn() -> subprocess.Popen[bytes]:
    directory = state_dir()
    directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    env = {**os.environ, "AGENTCTL_HOME": str(paths.home())}
    with open(log_file(), "ab") as log:
        return subprocess.Popen(
            [sys.executable, "-m", "agentctl.emulator"], stdin=subprocess.DEVNULL, stdout=log,
            stderr=subprocess.STDOUT, cwd=directory, env=env, start_new_session=True,
        )


def _log_tail(lines: int = 5) -> str:
    try:
        text = log_file().read_text(encoding="utf-8", errors="replace").strip().splitlines()
    except OSError:
        return ""
    return " | ".join(text[-lines:])


def _wait_started(proc: subprocess.Popen[bytes], timeout: float) -> DaemonInfo:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        info = status()
        if info is not None and info.pid == proc.pid:
            return info
        if proc.poll() is not None:
            raise BackendError(f"the local emulator exited at start-up (code {proc.returncode}): {_log_tail()}",
                               hint=f"See {log_file()}; `agentctl local reset` wipes its state.")
        time.sleep(0.1)
    raise TimedOut(f"the local emulator did not answer within {timeout:.0f}s",
                   hint=f"See {log_file()}; stop it with `agentctl local stop` and try again.")


def ensure_running(say: Callable[[str], None] | None = None, *, timeout: float = START_TIMEOUT) -> DaemonInfo:
    """The running daemon, started first when needed (``say`` is told when it starts one)."""
    info = status()
    if info is not None:
        return info
    with _flock(state_dir() / "start.lock", blocking=True):
        info = status()  # another CLI may have started it while we waited for the lock
        if info is not None:
            return info
        if _running_pid() is not None:  # alive but not answering: replace it
            stop()
        info = _wait_started(_spawn(), timeout)
    if say is not None:
        say(f"Started the local emulator on {HOST}:{info.control_port} (gateway {info.gateway_url}).")
    return info


def stop(timeout: float = STOP_TIMEOUT) -> int | None:
    """Stop the daemon of this AGENTCTL_HOME; returns its pid, None if none ran."""
    pid = _running_pid()
    if pid is not None:
        terminate(pid, timeout)
    _remove_leftover_containers()
    return pid


def _remove_leftover_containers() -> None:
    """Containers of this home that a killed daemon (``kill -9``) could not stop; none without an engine."""
    if not (os.environ.get("DOCKER_HOST") or Path("/var/run/docker.sock").exists()):
        return
    from agentctl.emulator.drivers.docker import remove_leftovers

    with contextlib.suppress(Exception):  # best effort: no engine, or it refused — nothing of ours to remove
        remove_leftovers()


def terminate(pid: int, timeout: float = STOP_TIMEOUT) -> None:
    """SIGTERM (the daemon then stops its instances), SIGKILL to its process group after ``timeout``."""
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)
    if not _wait_gone(pid, timeout):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pid, signal.SIGKILL)
        _wait_gone(pid, timeout)


def _wait_gone(pid: int, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not _alive(pid):
            return True
        time.sleep(0.05)
    return not _alive(pid)


def reset() -> Path:
    """Stop the daemon and delete all its state (runtimes, versions, endpoints, code); keeps the ``local`` keys."""
    stop()
    directory = state_dir()
    if directory.exists() and _lock_held(directory):  # starting up, or its pid is not recorded: do not pull its files
        raise BackendError(f"a local emulator still runs on {directory}; its state was not removed",
                           hint="Stop it first (`agentctl local stop`, or end the `agentctl.emulator` process).")
    shutil.rmtree(directory, ignore_errors=True)
    return directory
