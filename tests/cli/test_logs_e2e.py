"""`agentctl logs` against a real emulator: --tail sees requests live, -r and --type select exactly.

Runs once the daemon is wired to the logs subsystem: ``emulator/app.py`` mounts the routes
(``mount_logs_api``) and the gateway reports requests (``request_started``). Until both are there it
skips, saying which is missing.
"""

from __future__ import annotations

import importlib.util
import json
import os
import queue
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from lifecycle_support import Project, echo_project


def source(module: str) -> str:
    spec = importlib.util.find_spec(module)
    return Path(spec.origin).read_text() if spec and spec.origin else ""


def missing_wiring() -> str | None:
    if "mount_logs_api" not in source("agentctl.emulator.app"):
        return "emulator/app.py does not call mount_logs_api yet"
    if "request_started" not in source("agentctl.emulator.gateway"):
        return "emulator/gateway.py does not call LogRecorder.request_started yet"
    return None


pytestmark = pytest.mark.skipif(missing_wiring() is not None, reason=str(missing_wiring()))


class Tail:
    """`agentctl -o json logs --tail` in the background; its records arrive on a queue."""

    def __init__(self, project: Project) -> None:
        env = {**os.environ, "AGENTCTL_HOME": str(project.home), "NO_COLOR": "1"}
        self.proc = subprocess.Popen([sys.executable, "-m", "agentctl", "-o", "json", "logs", "--tail"],
                                     cwd=project.dir, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                     text=True, stdin=subprocess.DEVNULL)
        self.records: queue.Queue[dict[str, Any]] = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.records.put(json.loads(line))

    def until(self, done: Any, timeout: float = 30) -> list[dict[str, Any]]:
        """Records read until ``done(records)`` holds (fails after ``timeout``)."""
        seen: list[dict[str, Any]] = []
        deadline = time.monotonic() + timeout
        while not done(seen):
            assert time.monotonic() < deadline, f"tail did not show what was expected; got {seen}"
            try:
                seen.append(self.records.get(timeout=0.5))
            except queue.Empty:
                continue
        return seen

    def stop(self) -> int:
        self.proc.send_signal(signal.SIGINT)
        return self.proc.wait(10)


def invoke(project: Project, *args: str) -> str:
    """One request through the gateway; returns its request id."""
    result = project.run("-o", "json", "invoke", *args)
    return str(json.loads(result.stdout)["headers"]["x-agentrun-request-id"])


def wait_connected(tail: Tail, project: Project, tries: int = 20) -> None:
    """A tail follows from the moment it connects: invoke until it shows one of our requests."""
    for _ in range(tries):
        request_id = invoke(project, "-m", "hello logs")
        try:
            tail.until(lambda seen, rid=request_id: rid in ids_of(seen, "request-end"), timeout=3)
            return
        except AssertionError:
            continue
    raise AssertionError(f"`logs --tail` showed none of {tries} requests")


def ids_of(records: list[dict[str, Any]], kind: str) -> set[str]:
    return {r["requestId"] for r in records if r["kind"] == kind}


def test_tail_shows_requests_live_and_r_and_type_select_them(tmp_path: Path) -> None:
    with echo_project(tmp_path) as project:
        tail = Tail(project)
        try:
            wait_connected(tail, project)
            good = invoke(project, "-m", "second")
            bad = invoke(project, "--method", "GET", "--path", "/no-such-route")
            shown = tail.until(lambda seen: {good, bad} <= ids_of(seen, "request-end"))
        finally:
            assert tail.stop() == 0  # Ctrl-C ends a tail quietly

        for record in shown:
            assert record["runtimeName"] == project.dir.name and record["version"] == "LATEST"
        starts = [r for r in shown if r["kind"] == "request-start" and r["requestId"] == good]
        assert starts and starts[0]["instanceId"] and starts[0]["endpoint"] == "default"

        only_good = _json_lines(project.run("-o", "json", "logs", "-r", good, ok=True).stdout)
        assert {r["requestId"] for r in only_good} == {good}
        assert {r["kind"] for r in only_good} >= {"request-start", "request-end"}
        assert [r["status"] for r in only_good if r["kind"] == "request-end"] == [200]

        failed = _json_lines(project.run("-o", "json", "logs", "--type", "fail", ok=True).stdout)
        assert ids_of(failed, "request-end") == {bad}

        table = project.run("logs", "-r", bad, "--match", "no-such", ok=True).stdout
        assert f"END RequestId: {bad} Status: 404" in table and "[LATEST c-" in table


def _json_lines(text: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in text.splitlines() if line.strip()]
