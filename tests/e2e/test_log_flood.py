"""Instance output never crowds out request records (issue #9, item 7).

A real daemon whose log retention keeps 2,000 records (``AGENTCTL_LOGS_MAX_RECORDS``) and an app that
prints 20,000 lines in one request: after the flood and a restart (retention runs at start-up), every
request still has its start and end record, so ``metrics`` counts every request; only instance lines were
thinned out. In process, with the writer held up, a full queue drops instance lines, never request records.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from agentctl.emulator.logs import BATCH, QUEUE_DEPTH, LogQuery, LogRecord, LogStore
from gate_project import gate_project, records

FLOOD = Path(__file__).parent.parent / "emulator" / "apps" / "flood" / "app.py"


def invocations(project: object) -> int:
    report = project.project.json("metrics")  # type: ignore[attr-defined]
    return sum(int(row["invocations"]) for row in report["rows"])


def test_a_log_flood_and_the_retention_keep_every_request_record(tmp_path: Path,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AGENTCTL_LOGS_MAX_RECORDS", "2000")
    with gate_project(tmp_path, concurrency=10, app=FLOOD) as project:
        before = [project.request("ok") for _ in range(100)]
        assert project.request("flood?n=20000").status == 200
        after = [project.request("ok") for _ in range(100)]
        assert all(reply.status == 200 for reply in before + after)
        project.project.run("local", "stop", ok=True)
        project.project.run("local", "start", ok=True)  # the retention runs at start-up

        assert invocations(project) == 201
        ended = {r["requestId"] for r in records(project, "--limit", "10000") if r["kind"] == "request-end"}
        assert {reply.headers["x-agentrun-request-id"] for reply in before + after} <= ended
        lines = [r for r in records(project, "--limit", "10000") if r["kind"] == "stdout"]
        assert 0 < len(lines) <= 2000  # the flood itself was cut to the retention


def test_a_full_queue_drops_instance_lines_never_request_records(tmp_path: Path) -> None:
    store = LogStore(tmp_path / "logs.db")
    try:
        with store._write_lock:  # the writer is held up on its next insert: the queue can only fill
            for n in range(QUEUE_DEPTH + BATCH + 1000):
                store.append(_line(n))
            assert store.dropped > 0  # the queue is full: instance lines are being dropped
            for n in range(50):
                store.append(LogRecord(time.time_ns(), "rt", "agent", "LATEST", "request-end", request_id=f"r{n}",
                                       status=200, duration_ms=1.0))
        assert store.flush(60)
        kept = store.query(LogQuery(runtime_id="rt", outcome="success", limit=1000))
        assert {r.request_id for r in kept.records if r.kind == "request-end"} == {f"r{n}" for n in range(50)}
    finally:
        store.close()


def _line(n: int) -> LogRecord:
    return LogRecord(time.time_ns(), "rt", "agent", "LATEST", "stdout", message=f"line {n}", instance_id="c-1")
