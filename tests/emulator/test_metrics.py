"""Metrics computed from a real LogStore: counts, percentiles, windows, throttles, cold starts and peaks."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from agentctl.emulator.log_recorder import LogRecorder, end_note, read_end_note
from agentctl.emulator.logs import LogRecord, LogStore
from agentctl.emulator.logs_api import BadParameter
from agentctl.emulator.metrics import Window, compute, percentile
from agentctl.emulator.metrics_api import parse_window

RT = "rt-1"
S = 1_000_000_000  # one second in ns
T0 = 1_700_000_000 * S


@pytest.fixture
def store(tmp_path: Path) -> Iterator[LogStore]:
    logs = LogStore(tmp_path / "logs.db")
    yield logs
    logs.close()


def end(at: float, status: int, duration: float | None = None, *, version: str = "1", endpoint: str = "prod",
        instance: str | None = "c-a", message: str = "", runtime: str = RT) -> LogRecord:
    return LogRecord(time_ns=T0 + int(at * S), runtime_id=runtime, runtime_name="agent", version=version,
                     kind="request-end", endpoint=endpoint, instance_id=instance, request_id=f"r-{at}-{status}",
                     status=status, duration_ms=duration, message=message)


def system(at: float, instance: str, text: str, *, version: str = "1") -> LogRecord:
    return LogRecord(time_ns=T0 + int(at * S), runtime_id=RT, runtime_name="agent", version=version, kind="system",
                     instance_id=instance, message=text)


def start(at: float, instance: str, *, version: str = "1") -> LogRecord:
    return LogRecord(time_ns=T0 + int(at * S), runtime_id=RT, runtime_name="agent", version=version,
                     kind="request-start", endpoint="prod", instance_id=instance, request_id=f"s-{at}")


def report(store: LogStore, records: list[LogRecord], window: tuple[float, float] = (0, 1000),
           snapshot: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    for record in records:
        store.append(record)
    assert store.flush()
    return compute(store.path, RT, Window(T0 + int(window[0] * S), T0 + int(window[1] * S)), snapshot or [],
                   now_ns=T0 + 1000 * S)


def row(result: dict[str, Any], version: str, endpoint: str = "prod") -> dict[str, Any]:
    found = [r for r in result["rows"] if r["version"] == version and r["endpoint"] == endpoint]
    assert len(found) == 1, result["rows"]
    return found[0]


def test_percentiles_are_nearest_rank_over_served_requests(store: LogStore) -> None:
    records = [end(i, 200, float(i)) for i in range(1, 101)]  # durations 1..100 ms
    records.append(end(101, 429, 5000.0, instance=None))  # refused by the gateway: not a duration of the agent
    got = row(report(store, records), "1")
    assert (got["durationP50Ms"], got["durationP90Ms"], got["durationP99Ms"]) == (50.0, 90.0, 99.0)
    assert got["invocations"] == 101


def test_errors_are_400_and_up_except_429_which_is_a_throttle(store: LogStore) -> None:
    statuses = [200, 201, 302, 400, 404, 429, 429, 499, 500, 502, 503]
    got = row(report(store, [end(i, s, 1.0) for i, s in enumerate(statuses)]), "1")
    assert (got["invocations"], got["errors"], got["throttles"]) == (11, 6, 2)


def test_only_records_inside_the_window_count(store: LogStore) -> None:
    records = [end(5, 200, 1.0), end(10, 500, 1.0), end(20, 200, 1.0), end(30, 200, 1.0)]
    got = row(report(store, records, window=(10, 20)), "1")
    assert (got["invocations"], got["errors"]) == (2, 1)
    assert report(store, [], window=(100, 200))["rows"] == []


def test_rows_are_per_version_and_endpoint_with_a_total(store: LogStore) -> None:
    records = [end(1, 200, 10.0, version="1"), end(2, 200, 20.0, version="2"), end(3, 500, 30.0, version="2"),
               end(4, 200, 40.0, version="2", endpoint="canary"), end(5, 200, 1.0, runtime="other")]
    result = report(store, records)
    assert [(r["version"], r["endpoint"]) for r in result["rows"]] == [("1", "prod"), ("2", "canary"), ("2", "prod")]
    assert row(result, "2")["invocations"] == 2 and row(result, "2", "canary")["invocations"] == 1
    assert (result["total"]["invocations"], result["total"]["errors"]) == (4, 1)
    assert result["total"]["durationP99Ms"] == 40.0


def test_cold_starts_and_queue_wait_come_from_the_recorder(store: LogStore) -> None:
    recorder = LogRecorder(store)
    for n, cold in enumerate((True, False, False)):
        recorder.request_started(f"q{n}", runtime_id=RT, runtime_name="agent", version="LATEST", endpoint="prod",
                                 instance_id="c-a")
        assert recorder.request_ended(f"q{n}", 200, cold_start=cold, queue_wait_ms=40.0 * n)
    assert store.flush()
    result = compute(store.path, RT, Window.last(60))
    got = row(result, "LATEST")
    assert (got["invocations"], got["coldStarts"], got["queueWaitP99Ms"]) == (3, 1, 80.0)


def test_end_note_keeps_the_message_and_reads_back() -> None:
    note = read_end_note(end_note("instance c-1 crashed", cold_start=True, queue_wait_ms=12.4))
    assert (note.cold_start, note.queue_wait_ms, note.message) == (True, 12.0, "instance c-1 crashed")
    assert end_note("plain") == "plain" and read_end_note("[queue x] hi").message == "[queue x] hi"


def test_peak_follows_instance_start_and_stop_records(store: LogStore) -> None:
    records = [system(1, "c-a", "instance started"), system(2, "c-b", "instance c-b started"),
               system(3, "c-c", "started: python app.py (pid 1, port 2)"),
               system(4, "c-a", "instance stopped (idle)"), system(5, "c-b", "exited with code 0"),
               system(6, "c-d", "instance started"), system(9, "c-c", "instance c-c crashed (exit code 9)"),
               system(9, "c-d", "instance stopped (idle)"), end(3.5, 200, 1.0, instance="c-c")]
    assert row(report(store, records), "1")["instancesPeak"] == 3  # c-a, c-b, c-c at 3..4
    assert row(report(store, [], window=(4.5, 8)), "1", "-")["instancesPeak"] == 2  # c-b and c-c, then c-c and c-d
    assert report(store, [], window=(10, 20))["rows"] == []  # nothing alive, no requests


def test_instances_started_before_the_window_count_in_its_peak(store: LogStore) -> None:
    records = [system(1, "c-a", "instance started"), system(2, "c-b", "instance started")]
    live = [{"id": "c-a", "runtime_id": RT, "version": "1", "status": "READY", "started_at": (T0 + S) / 1e9},
            {"id": "c-b", "runtime_id": RT, "version": "1", "status": "BUSY", "started_at": (T0 + 2 * S) / 1e9},
            {"id": "c-x", "runtime_id": "other", "version": "1", "status": "READY", "started_at": T0 / 1e9}]
    got = row(report(store, records, window=(50, 1000), snapshot=live), "1", "-")
    assert (got["invocations"], got["instancesNow"], got["instancesPeak"]) == (0, 2, 2)


def test_without_lifecycle_records_peak_comes_from_request_spans(store: LogStore) -> None:
    records = [start(1, "c-a"), end(5, 200, 1.0, instance="c-a"), start(2, "c-b"), end(3, 200, 1.0, instance="c-b"),
               start(6, "c-c"), end(7, 200, 1.0, instance="c-c")]
    assert row(report(store, records), "1")["instancesPeak"] == 2


def test_an_instance_gone_without_a_stop_record_is_not_counted_forever(store: LogStore) -> None:
    records = [system(1, "c-a", "instance started"), end(2, 200, 1.0, instance="c-a")]
    assert row(report(store, records, window=(0, 10)), "1")["instancesPeak"] == 1
    assert report(store, [], window=(100, 200))["rows"] == []  # not in the pool: it died at its last record


def test_percentile_of_nothing_is_none() -> None:
    assert percentile([], 50) is None and percentile([7.0], 99) == 7.0


def test_the_route_reads_epoch_millis_and_names_bad_ones() -> None:
    runtime, window = parse_window("agentrun-abc", {"from": "1000", "to": "2000"}, now_ms=5000)
    assert runtime == "abc" and (window.start_ns, window.end_ns) == (1_000_000_000, 2_000_999_999)
    _, default = parse_window("agentrun-abc", {}, now_ms=7_200_000)
    assert default.start_ns == 3_600_000 * 1_000_000
    for name, params in (("x", {}), ("agentrun-a", {"from": "-1"}), ("agentrun-a", {"from": "9", "to": "1"})):
        with pytest.raises(BadParameter):
            parse_window(name, params, now_ms=5000)
