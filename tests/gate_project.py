"""A deployed project of the ``gate`` test app on its own emulator, for the pool's end-to-end tests.

The app holds each request at a :class:`Gate` (``/hold`` streams a first event at once, ``/block`` sends
nothing before), so a test decides how many requests are in flight without timings. Requests go to the
real gateway over HTTP; everything else goes through the real CLI (``lifecycle_support.Project``).
"""

from __future__ import annotations

import contextlib
import http.client
import json
import re
import shutil
import socket
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from lifecycle_support import Project

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "bench"))
from emulator_kit import agent_spec

APP = Path(__file__).parent / "emulator" / "apps" / "gate" / "app.py"
NAME = "gate-agent"
DEFAULT_ENDPOINT = "        endpoints:\n          - name: default\n            version: LATEST\n"


@dataclass
class Reply:
    status: int
    headers: dict[str, str]
    body: bytes = b""
    connection: http.client.HTTPConnection | None = field(default=None, repr=False)
    response: http.client.HTTPResponse | None = field(default=None, repr=False)

    @property
    def instance(self) -> str:
        return self.headers.get("x-agentrun-instance-id", "")

    @property
    def cold(self) -> bool:
        return self.headers.get("x-agentrun-cold-start") == "true"

    def json(self) -> Any:
        return json.loads(self.body)

    def finish(self) -> bytes:
        """Read the rest of a held answer (after its gate opened) and close."""
        assert self.response is not None and self.connection is not None
        self.body += self.response.read()
        self.connection.close()
        return self.body


class Gate:
    """A TCP port held requests connect to and wait at, until ``open()``."""

    def __init__(self) -> None:
        self._server = socket.create_server(("127.0.0.1", 0))
        self.port = self._server.getsockname()[1]
        self._lock = threading.Lock()
        self._waiting: list[socket.socket] = []
        self._opened = False
        threading.Thread(target=self._accept, daemon=True).start()

    @property
    def query(self) -> str:
        return f"gate={self.port}"

    @property
    def waiting(self) -> int:
        """Requests the app has received and holds at this gate."""
        with self._lock:
            return len(self._waiting)

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self._server.accept()
            except OSError:  # closed
                return
            with self._lock:
                if not self._opened:
                    self._waiting.append(conn)
                    continue
            _let_go(conn)

    def open(self) -> None:
        with self._lock:
            self._opened = True
            waiting, self._waiting = self._waiting, []
        for conn in waiting:
            _let_go(conn)

    def close(self) -> None:
        self.open()
        self._server.close()


def _let_go(conn: socket.socket) -> None:
    with contextlib.suppress(OSError):
        conn.sendall(b"go")
    conn.close()


class GateProject:
    def __init__(self, project: Project, gateway_url: str) -> None:
        self.project = project
        self._gates: list[Gate] = []
        parts = urlsplit(gateway_url)
        self.host, self.port = parts.hostname or "127.0.0.1", parts.port or 80

    def gate(self) -> Gate:
        """A fresh, closed gate (opened by ``open()``, and at the end of the project)."""
        self._gates.append(Gate())
        return self._gates[-1]

    def close_gates(self) -> None:
        for gate in self._gates:
            gate.close()

    def path(self, tail: str) -> str:
        return f"/agent-runtimes/{NAME}/endpoints/default/invocations/{tail}"

    def request(self, tail: str, *, headers: dict[str, str] | None = None, held: bool = False,
                timeout: float = 60) -> Reply:
        """GET through the gateway; ``held`` returns once the headers are in, leaving the body to read."""
        conn = http.client.HTTPConnection(self.host, self.port, timeout=timeout)
        conn.request("GET", self.path(tail), headers=headers or {})
        response = conn.getresponse()
        found = {k.lower(): v for k, v in response.getheaders()}
        if held:
            first = response.read1(65536) if response.status == 200 else response.read()  # in flight now
            return Reply(response.status, found, first, conn, response)
        body = response.read()
        conn.close()
        return Reply(response.status, found, body)

    def instances(self) -> list[dict[str, Any]]:
        rows: list[dict[str, Any]] = self.project.json("instance", "list")
        return rows


@contextmanager
def gate_project(root: Path, *, concurrency: int = 1, start: tuple[str, ...] = (),
                 agent: dict[str, str] | None = None, app: Path = APP) -> Iterator[GateProject]:
    """``local start START...`` in a fresh AGENTCTL_HOME, then ``deploy`` of the gate app (or ``app``;
    ``agent``: more ``props.agent`` fields); stopped afterwards."""
    home, directory = root / "home", root / "gate"
    for folder in (home, directory / "code"):
        folder.mkdir(parents=True)
    shutil.copy(app, directory / "code" / "app.py")
    extra = "".join(f"        {k}: {v}\n" for k, v in (agent or {}).items()) + DEFAULT_ENDPOINT
    (directory / "s.yaml").write_text(agent_spec(NAME, concurrency=concurrency, access="default", extra=extra))
    project = Project(home, directory)
    gated = None
    try:
        status = json.loads(project.run("-o", "json", "local", "start", *start, ok=True).stdout)
        project.run("deploy", ok=True)
        gated = GateProject(project, status["gatewayUrl"])
        yield gated
    finally:
        if gated is not None:
            gated.close_gates()
        project.stop()


def records(project: GateProject, *args: str) -> list[dict[str, Any]]:
    """`logs -o json ARGS` of the project, one dict per record."""
    out = project.project.run("logs", "-o", "json", *args, ok=True).stdout
    return [json.loads(line) for line in out.splitlines() if line.strip()]


def host_pid(project: GateProject, instance: str) -> int:
    """The instance's process id on this host, from the driver's "started: … (pid N" line."""
    for record in records(project, "--instance-id", instance):
        found = re.search(r"\(pid (\d+)", record.get("message") or "")
        if found:
            return int(found.group(1))
    raise AssertionError(f"no start line with a pid for {instance}")
