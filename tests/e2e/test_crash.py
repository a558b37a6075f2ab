"""`kill -9` of an instance under load: its in-flight requests get 502 naming it, the next requests succeed
on a replacement, the crash is logged, and `logs --type fail` lists the failed requests by id."""

from __future__ import annotations

import os
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from gate_project import GateProject, Reply, gate_project, host_pid, records

IN_FLIGHT = 3


def in_flight(project: GateProject, instance: str) -> int:
    return next((row.get("inFlight") or 0 for row in project.instances() if row["instanceId"] == instance), -1)


def wait_until(check: Any, what: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, f"timed out waiting until {what}"
        time.sleep(0.1)


class Load:
    """One client sending small requests back to back until stopped (bounded: loopback, one at a time)."""

    def __init__(self, project: GateProject) -> None:
        self.project, self.replies = project, []  # type: ignore[var-annotated]
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            self.replies.append(self.project.request("ok", timeout=30))

    def stop(self) -> list[Reply]:
        self._stop.set()
        self._thread.join(60)
        return list(self.replies)


def test_kill_9_under_load_fails_only_in_flight_requests_and_a_replacement_serves_the_rest(tmp_path: Path) -> None:
    with gate_project(tmp_path, concurrency=10, start=("--idle-timeout", "60")) as project:
        first = project.request("ok")
        assert first.status == 200
        victim = first.instance
        pid = host_pid(project, victim)

        load = Load(project)
        gate = project.gate()
        with ThreadPoolExecutor(IN_FLIGHT) as threads:
            blocked = [threads.submit(project.request, f"block?{gate.query}") for _ in range(IN_FLIGHT)]
            wait_until(lambda: in_flight(project, victim) >= IN_FLIGHT and gate.waiting >= IN_FLIGHT,
                       "the blocked requests are in flight (the app holds them)")
            os.kill(pid, 9)
            broken = [future.result(60) for future in blocked]
        wait_until(lambda: victim not in {row["instanceId"] for row in project.instances()},
                   "the crashed instance leaves rotation")
        after = [project.request("ok") for _ in range(10)]
        during = load.stop()

        for reply in broken:
            body = reply.json()
            assert reply.status == 502 and body["code"] == "InstanceCrashed", (reply.status, body)
            assert victim in body["message"] and body["requestId"] == reply.headers["x-agentrun-request-id"]
        assert all(reply.status == 200 and reply.instance != victim for reply in after)
        assert {reply.status for reply in during} <= {200, 502}  # the load saw nothing but answers and 502s

        failed = [r for r in broken + during if r.status != 200]
        fail_ids = {rec.get("requestId") for rec in records(project, "--type", "fail")}
        assert {r.headers["x-agentrun-request-id"] for r in failed} <= fail_ids
        success_ids = {rec.get("requestId") for rec in records(project, "--type", "success")}
        assert not {r.headers["x-agentrun-request-id"] for r in failed} & success_ids
        crash_lines = [rec for rec in records(project, "--instance-id", victim)
                       if rec.get("message") == "instance crashed (exit code -9)"]
        assert len(crash_lines) == 1
