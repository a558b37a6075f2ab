"""Bubblewrap around process instances: the app sees the system, its own code (read-only) and a private /tmp.

What is inside the sandbox (everything else, e.g. the user's home and ``$AGENTCTL_HOME``, is absent):

- ``/usr``, ``/bin``, ``/sbin``, ``/lib*`` read-only (symlinks kept as symlinks on merged-/usr systems);
- the parts of ``/etc`` programs need (resolver, users, certificates, time zone, linker cache);
- the emulator's Python prefix (``sys.base_prefix``, and ``sys.prefix`` for a venv) read-only, its ``bin``
  first on ``PATH`` so ``python3`` is the emulator's interpreter;
- the version's code directory read-only, at its own path (so ``PYTHONPATH`` and the working dir stay valid);
- ``/tmp`` bound to a host directory of its own (private to the instance, shared with ``instance exec``);
- fresh ``/proc`` (own pid namespace), ``/dev``, ipc and uts namespaces; the network is shared so the
  gateway reaches the app's loopback port; no capabilities (root stays without privileges); the sandbox
  dies with the emulator.

Stopping: bubblewrap itself dies at the SIGTERM the driver sends to the group, and the sandbox with it
(SIGKILL): the app gets the SIGTERM too, but no grace period to act on it.

:func:`usable` probes once whether bubblewrap works here (user namespaces may be off); when it does not,
process instances run unsandboxed and the daemon log says why. ``AGENTCTL_SANDBOX=0`` turns it off.
"""

from __future__ import annotations

import functools
import logging
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger("agentctl.emulator.sandbox")

SYSTEM_DIRS = ("/usr", "/bin", "/sbin", "/lib", "/lib64", "/lib32", "/libx32")
ETC_ENTRIES = (
    "resolv.conf", "hosts", "host.conf", "nsswitch.conf", "gai.conf", "services", "protocols", "passwd", "group",
    "localtime", "timezone", "ld.so.cache", "ld.so.conf", "ld.so.conf.d", "alternatives", "ssl", "ca-certificates",
    "pki", "crypto-policies", "mime.types", "os-release",
)
NAMESPACES = ("--unshare-pid", "--unshare-ipc", "--unshare-uts", "--unshare-cgroup-try")
DISABLE_ENV = "AGENTCTL_SANDBOX"


def usable() -> bool:
    """Whether process instances run under bubblewrap: not turned off, and it works here (probed once)."""
    if os.environ.get(DISABLE_ENV, "").lower() in ("0", "off", "false", "no"):
        return False
    return _works()


@functools.cache
def _works() -> bool:
    bwrap = shutil.which("bwrap")
    if bwrap is None:
        log.warning("bubblewrap (bwrap) is not installed: process instances run without a sandbox")
        return False
    probe = [bwrap, *_system_binds(), "--dev", "/dev", "--proc", "/proc", *NAMESPACES, "--cap-drop", "ALL",
             "--", "true"]
    try:
        done = subprocess.run(probe, capture_output=True, text=True, timeout=10, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        log.warning("bubblewrap does not run (%s): process instances run without a sandbox", exc)
        return False
    if done.returncode != 0:
        log.warning("bubblewrap does not work here (%s; user namespaces may be disabled): process instances "
                    "run without a sandbox", (done.stderr.strip() or f"exit {done.returncode}").splitlines()[-1])
        return False
    return True


@dataclass(frozen=True)
class Sandbox:
    """One instance's sandbox: its code directory and the host directory that is its /tmp."""

    code_dir: str
    tmp_dir: str

    @classmethod
    def create(cls, code_dir: str, instance_id: str) -> Sandbox:
        """A sandbox with a fresh private /tmp (a 0700 host directory, removed by :meth:`remove`)."""
        return cls(code_dir, tempfile.mkdtemp(prefix=f"agentctl-{instance_id}-tmp-"))

    def argv(self, workdir: str | None = None) -> list[str]:
        """The bubblewrap prefix; append the command to run (it starts in ``workdir``, default the code)."""
        return [
            shutil.which("bwrap") or "bwrap", *_system_binds(),
            # /tmp first: a Python prefix (a venv) or a code dir below /tmp is then mounted on top of it.
            "--bind", self.tmp_dir, "/tmp", *_python_binds(), "--ro-bind", self.code_dir, self.code_dir,
            "--dev", "/dev", "--proc", "/proc", *NAMESPACES, "--die-with-parent", "--cap-drop", "ALL",
            "--chdir", workdir or self.code_dir, "--",
        ]

    @staticmethod
    def environment(env: Mapping[str, str]) -> dict[str, str]:
        """``env`` as seen inside: the emulator's Python first on PATH, HOME and TMPDIR on the private /tmp."""
        path = os.pathsep.join(p for p in (python_bin(), env.get("PATH", "/usr/bin:/bin")) if p)
        return {**env, "PATH": path, "HOME": "/tmp", "TMPDIR": "/tmp"}

    def remove(self) -> None:
        shutil.rmtree(self.tmp_dir, ignore_errors=True)


def python_bin() -> str:
    return str(Path(sys.executable).parent)


@functools.cache
def _system_binds() -> tuple[str, ...]:
    args: list[str] = []
    for path in SYSTEM_DIRS:
        if os.path.islink(path):
            args += ["--symlink", os.readlink(path), path]
        elif os.path.isdir(path):
            args += ["--ro-bind", path, path]
    for name in ETC_ENTRIES:
        args += ["--ro-bind-try", f"/etc/{name}", f"/etc/{name}"]
    return tuple(args)


@functools.cache
def _python_binds() -> tuple[str, ...]:
    args: list[str] = []
    for prefix in dict.fromkeys((sys.base_prefix, sys.prefix)):
        if not prefix.startswith(("/usr/", "/bin/", "/lib")):  # already inside the system binds
            args += ["--ro-bind", prefix, prefix]
    return tuple(args)
