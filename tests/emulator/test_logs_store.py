"""LogStore on a real SQLite file: filters, outcome, retention, cursors, live follow; LogRecorder attribution."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from agentctl.emulator.drivers.base import InstanceSpec, LogLine
from agentctl.emulator.log_recorder import LogRecorder, attribute
from agentctl.emulator.logs import LogQuery, LogRecord, LogStore, Retention

RUNTIME = "rt-1"


@pytest.fixture
def store(tmp_path: Path) -> Iterator[LogStore]:
    logs = LogStore(tmp_path / "logs.db")
    yield logs
    logs.close()


def rec(message: str, *, kind: str = "stdout", request_id: str | None = None, status: int | None = None,
        runtime_id: str = RUNTIME, instance_id: str = "c-1", version: str = "LATEST", t: int | None = None
        ) -> LogRecord:
    return LogRecord(time_ns=t if t is not None else time.time_ns(), runtime_id=runtime_id, runtime_name="agent",
                     version=version, kind=kind, message=message, instance_id=instance_id, request_id=request_id,
                     status=status)


def request(store: LogStore, request_id: str, status: int, *lines: str) -> None:
    store.append(rec("POST /", kind="request-start", request_id=request_id))
    for line in lines:
        store.append(rec(line, request_id=request_id))
    store.append(rec("", kind="request-end", request_id=request_id, status=status))


def messages(store: LogStore, **filters: object) -> list[str]:
    assert store.flush()
    return [r.message for r in store.query(LogQuery(**filters)).records]  # type: ignore[arg-type]


def test_records_come_back_oldest_first_with_their_fields(store: LogStore) -> None:
    store.append(rec("one"))
    store.append(rec("two", kind="stderr", request_id="r1"))
    assert store.flush()
    page = store.query(LogQuery(runtime_id=RUNTIME))
    got = [(r.message, r.kind, r.request_id) for r in page.records]
    assert got == [("one", "stdout", None), ("two", "stderr", "r1")]
    assert page.cursor == page.records[-1].id
    back = LogRecord.from_json(page.records[1].to_json())
    assert back == page.records[1]
    assert page.records[1].to_json()["time"].endswith("+00:00")


def test_filters_by_runtime_instance_request_and_text(store: LogStore) -> None:
    store.append(rec("other runtime", runtime_id="rt-2"))
    store.append(rec("on c-2", instance_id="c-2"))
    store.append(rec("Hello World", request_id="r1"))
    store.append(rec("100% done_ok", request_id="r2"))
    assert messages(store, runtime_id=RUNTIME) == ["on c-2", "Hello World", "100% done_ok"]
    assert messages(store, runtime_id=RUNTIME, instance_id="c-2") == ["on c-2"]
    assert messages(store, runtime_id=RUNTIME, request_id="r1") == ["Hello World"]
    assert messages(store, runtime_id=RUNTIME, search="hello world") == ["Hello World"]
    # LIKE wildcards in the search text are literal
    assert messages(store, runtime_id=RUNTIME, search="0% d") == ["100% done_ok"]
    assert messages(store, runtime_id=RUNTIME, search="n_") == []  # as a wildcard, "n_" would match "ne"


def test_time_range_includes_both_ends(store: LogStore) -> None:
    base = time.time_ns() - 10**9
    for t in (100, 200, 300, 400):
        store.append(rec(f"t{t}", t=base + t))
    assert messages(store, start_ns=base + 200, end_ns=base + 300) == ["t200", "t300"]
    assert messages(store, start_ns=base + 301) == ["t400"]


def test_type_fail_selects_failed_requests_with_their_lines(store: LogStore) -> None:
    request(store, "ok-1", 200, "fine")
    request(store, "bad-1", 502, "boom")
    request(store, "bad-2", 429)
    store.append(rec("unattributed"))
    failed = store.flush() and store.query(LogQuery(runtime_id=RUNTIME, outcome="fail")).records
    assert [(r.request_id, r.kind) for r in failed] == [
        ("bad-1", "request-start"), ("bad-1", "stdout"), ("bad-1", "request-end"),
        ("bad-2", "request-start"), ("bad-2", "request-end")]
    assert {r.request_id for r in store.query(LogQuery(outcome="success")).records} == {"ok-1"}


def test_unknown_outcome_is_refused() -> None:
    with pytest.raises(ValueError, match="outcome"):
        LogQuery(outcome="maybe")


def test_limit_keeps_the_newest_and_after_pages_forward(store: LogStore) -> None:
    for i in range(10):
        store.append(rec(f"m{i}"))
    assert messages(store, limit=3) == ["m7", "m8", "m9"]
    first = store.query(LogQuery(limit=4, after=0))
    assert [r.message for r in first.records] == ["m0", "m1", "m2", "m3"]
    second = store.query(LogQuery(limit=4, after=first.cursor))
    assert [r.message for r in second.records] == ["m4", "m5", "m6", "m7"]
    rest = store.query(LogQuery(limit=4, after=second.cursor))
    assert [r.message for r in rest.records] == ["m8", "m9"]
    assert store.query(LogQuery(after=rest.cursor)).records == []


def test_retention_drops_old_and_excess_records(tmp_path: Path) -> None:
    logs = LogStore(tmp_path / "logs.db", retention=Retention(max_age_seconds=3600, max_records=5))
    try:
        now = time.time_ns()
        logs.append(rec("ancient", t=now - 2 * 3600 * 10**9))
        for i in range(8):
            logs.append(rec(f"m{i}", t=now))
        assert logs.flush()
        assert logs.prune(now) == 4
        assert [r.message for r in logs.query(LogQuery()).records] == ["m3", "m4", "m5", "m6", "m7"]
        logs.append(rec("m8"))
        assert messages(logs)[-1] == "m8"  # ids keep growing after a prune: cursors stay valid
    finally:
        logs.close()


def test_retention_reads_its_settings_from_the_environment() -> None:
    assert Retention.from_env({}) == Retention()
    custom = Retention.from_env({"AGENTCTL_LOGS_MAX_AGE_HOURS": "2", "AGENTCTL_LOGS_MAX_RECORDS": "5000"})
    assert (custom.max_age_seconds, custom.max_records) == (7200, 5000)
    assert Retention.from_env({"AGENTCTL_LOGS_MAX_AGE_HOURS": "soon", "AGENTCTL_LOGS_MAX_RECORDS": "-1"}) == Retention()


def test_records_survive_a_reopen(tmp_path: Path) -> None:
    first = LogStore(tmp_path / "logs.db")
    first.append(rec("kept"))
    first.close()
    again = LogStore(tmp_path / "logs.db")
    try:
        assert messages(again) == ["kept"]
    finally:
        again.close()


def test_follow_yields_new_records_and_idle_ticks(store: LogStore) -> None:
    store.append(rec("before"))
    assert store.flush()

    async def scenario() -> list[str | None]:
        seen: list[str | None] = []
        follow = store.follow(LogQuery(runtime_id=RUNTIME), after=store.last_id(), idle=0.2)
        store.append(rec("other", runtime_id="rt-2"))
        store.append(rec("after-1"))
        store.append(rec("after-2"))
        async for record in follow:
            seen.append(record.message if record else None)
            if len(seen) == 3:
                break
        await follow.aclose()
        return seen

    seen = asyncio.run(asyncio.wait_for(scenario(), 10))
    assert seen[:2] == ["after-1", "after-2"] and seen[2] is None  # `before` was stored before the follow


def test_follow_with_type_fail_delivers_a_request_once_it_ended(store: LogStore) -> None:
    async def scenario() -> list[tuple[str | None, str]]:
        follow = store.follow(LogQuery(runtime_id=RUNTIME, outcome="fail"), after=store.last_id(), idle=5)
        request(store, "ok", 200, "fine")
        request(store, "bad", 500, "broken")
        got = []
        async for record in follow:
            assert record is not None
            got.append((record.request_id, record.kind))
            if record.kind == "request-end":
                break
        await follow.aclose()
        return got

    got = asyncio.run(asyncio.wait_for(scenario(), 10))
    assert got == [("bad", "request-start"), ("bad", "stdout"), ("bad", "request-end")]


def test_attribute_names_the_request_only_when_it_is_alone() -> None:
    assert attribute(set()) is None
    assert attribute({"r1"}) == "r1"
    assert attribute({"r1", "r2"}) is None


def line(text: str, instance_id: str = "c-1") -> LogLine:
    return LogLine(time.time(), instance_id, "stdout", text)


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_recorder_attributes_lines_while_one_request_is_in_flight(store: LogStore) -> None:
    spec = InstanceSpec("c-1", RUNTIME, "agent", "2", "/code", {})
    clock = Clock()
    recorder = LogRecorder(store, locate=lambda iid: spec if iid == "c-1" else None, linger=0.1, clock=clock)
    recorder.line(line("booting"))
    recorder.request_started("r1", runtime_id=RUNTIME, runtime_name="agent", version="2", endpoint="default",
                             instance_id="c-1", method="POST", path="/chat")
    recorder.line(line("for r1"))
    recorder.request_started("r2", runtime_id=RUNTIME, runtime_name="agent", version="2", endpoint="default",
                             instance_id="c-1")
    recorder.line(line("ambiguous"))
    assert recorder.request_ended("r1", 200)
    recorder.line(line("for r2"))
    assert recorder.request_ended("r2", 503, message="instance c-1 crashed")
    assert not recorder.request_ended("r2", 200)  # already ended
    clock.now += 1  # past the linger
    recorder.line(line("idle again"))
    recorder.request_rejected("r3", 429, "too many requests", runtime_name="agent", endpoint="default",
                              runtime_id=RUNTIME, version="2")
    assert store.flush()
    got = [(r.kind, r.request_id, r.message) for r in store.query(LogQuery(runtime_id=RUNTIME)).records]
    assert got == [
        ("stdout", None, "booting"), ("request-start", "r1", "POST /chat"), ("stdout", "r1", "for r1"),
        ("request-start", "r2", ""), ("stdout", None, "ambiguous"), ("request-end", "r1", ""),
        ("stdout", "r2", "for r2"), ("request-end", "r2", "instance c-1 crashed"), ("stdout", None, "idle again"),
        ("request-end", "r3", "too many requests")]
    records = store.query(LogQuery(runtime_id=RUNTIME)).records
    assert all(r.version == "2" and r.runtime_name == "agent" for r in records)
    assert records[1].endpoint == "default" and records[2].endpoint == "default"
    ended = [r for r in records if r.kind == "request-end"]
    assert [r.status for r in ended] == [200, 503, 429] and all(r.duration_ms is not None for r in ended)
    assert recorder.in_flight("c-1") == frozenset()


def test_a_line_just_after_the_end_still_belongs_to_that_request(store: LogStore) -> None:
    clock = Clock()
    recorder = LogRecorder(store, linger=0.1, clock=clock)
    started = {"runtime_id": RUNTIME, "runtime_name": "agent", "version": "1", "endpoint": "e", "instance_id": "c-1"}
    recorder.request_started("r1", **started)
    recorder.request_ended("r1", 404)
    clock.now += 0.05
    recorder.line(line("GET /nope 404"))  # an access line written after the answer went out
    recorder.request_started("r2", **started)
    recorder.request_ended("r2", 200)
    recorder.request_started("r3", **started)  # a new request on the instance ends r2's linger at once
    recorder.request_ended("r3", 200)
    clock.now += 0.5
    recorder.line(line("later"))
    assert store.flush()
    lines = [(r.message, r.request_id) for r in store.query(LogQuery(runtime_id=RUNTIME)).records if r.kind == "stdout"]
    assert lines == [("GET /nope 404", "r1"), ("later", None)]


def test_recorder_keeps_lines_of_instances_it_cannot_place(store: LogStore) -> None:
    LogRecorder(store).line(line("orphan", "c-unknown"))
    assert store.flush()
    [record] = store.query(LogQuery(instance_id="c-unknown")).records
    assert (record.message, record.runtime_id) == ("orphan", "")
