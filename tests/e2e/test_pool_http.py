"""The instance pool through the real gateway: the per-instance cap, 429 past the maximum, scale to zero.

A real daemon (``local start --idle-timeout 2 --max-instances 2 --queue-depth 1 --queue-wait 1``), the
``gate`` app deployed with the CLI at ``instanceConcurrency: 1``, requests held in flight by gate files.
"""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from gate_project import GateProject, Reply, gate_project

START = ("--idle-timeout", "2", "--max-instances", "2", "--queue-depth", "1", "--queue-wait", "1")


def until_no_instance(project: GateProject, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while project.instances():
        assert time.monotonic() < deadline, "the idle instances did not stop"
        time.sleep(0.3)


def test_cap_then_second_instance_then_429_with_retry_after_then_scale_to_zero(tmp_path: Path) -> None:
    with gate_project(tmp_path, concurrency=1, start=START) as project:
        gate = project.gate()
        first = project.request(f"hold?{gate.query}", held=True)
        second = project.request(f"hold?{gate.query}", held=True)  # the N+1-th: a second instance
        assert first.status == second.status == 200, (first, second)
        assert first.instance and second.instance and first.instance != second.instance
        assert second.cold

        with ThreadPoolExecutor(2) as threads:  # max instances reached: one queues (and waits out), one is full
            refused = list(threads.map(lambda _: project.request("ok"), range(2)))
        for reply in refused:
            assert reply.status == 429, reply
            assert reply.headers.get("retry-after", "").isdigit() and int(reply.headers["retry-after"]) >= 1
            body = reply.json()
            assert body["code"] == "Throttled" and body["message"] and body["requestId"]

        gate.open()
        assert b"last" in first.finish() and b"last" in second.finish()
        assert {row["instanceId"] for row in project.instances()} == {first.instance, second.instance}

        until_no_instance(project)  # --idle-timeout 2: scale to zero
        again = project.request("ok")
        assert again.status == 200 and again.cold and again.instance not in (first.instance, second.instance)


def test_a_queued_request_gets_the_slot_that_frees_up(tmp_path: Path) -> None:
    start = ("--max-instances", "1", "--queue-depth", "4", "--queue-wait", "60")
    with gate_project(tmp_path, concurrency=1, start=start) as project:
        gate = project.gate()
        held = project.request(f"hold?{gate.query}", held=True)
        with ThreadPoolExecutor(1) as threads:
            waiting = threads.submit(project.request, "ok")
            time.sleep(0.5)  # give it time to queue (if it has not, it queues later: same outcome)
            gate.open()
            held.finish()
            reply: Reply = waiting.result(60)
        assert reply.status == 200 and reply.instance == held.instance and not reply.cold
        assert int(reply.headers.get("x-agentrun-queue-wait-ms", "0")) >= 0


def test_a_session_sticks_to_its_instance_for_fifty_requests_and_counts_as_one_slot(tmp_path: Path) -> None:
    affinity = {"sessionAffinityType": "HEADER_FIELD", "headerFieldName": "x-session-id"}
    with gate_project(tmp_path, concurrency=1, start=("--max-instances", "3"), agent=affinity) as project:
        gate = project.gate()
        alice = project.request(f"hold?{gate.query}", headers={"x-session-id": "alice"}, held=True)
        bob = project.request("ok", headers={"x-session-id": "bob"})
        assert alice.status == bob.status == 200 and bob.instance != alice.instance  # alice's instance is full
        replies = [project.request("ok", headers={"x-session-id": "alice"}) for _ in range(50)]
        assert {(r.status, r.instance, r.headers.get("x-agentrun-version")) for r in replies} == {
            (200, alice.instance, "LATEST")}
        gate.open()
        alice.finish()
