"""`agentctl metrics` against a real emulator: the requests sent show up per version and endpoint."""

from __future__ import annotations

import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))
from emulator_kit import Kit, get


def test_metrics_count_the_requests_sent_with_their_durations(tmp_path: Path) -> None:
    with Kit(tmp_path, "metrics-agent") as kit:
        kit.deploy()
        url = kit.url("/work?ms=20")
        statuses = [get(url)[0] for _ in range(8)] + [get(kit.url("/fail"))[0]]
        assert statuses == [200] * 8 + [500]

        report = kit.json("metrics", "--window", "10m")
        [row] = report["rows"]
        assert (row["version"], row["endpoint"]) == ("LATEST", "default")
        assert (row["invocations"], row["errors"], row["throttles"]) == (9, 1, 0)
        assert row["durationP50Ms"] >= 20 and row["durationP99Ms"] >= row["durationP50Ms"]
        assert row["instancesNow"] == 1 and row["instancesPeak"] == 1
        assert report["total"]["invocations"] == 9

        table = kit.run("metrics").stdout
        assert "LATEST" in table and "default" in table and "INVOCATIONS" in table

        earlier = kit.json("metrics", "-s", "2020-01-01 00:00:00", "-e", "2020-01-02 00:00:00")
        assert [r["invocations"] for r in earlier["rows"]] in ([], [0])  # only the live instance, no requests


def test_throttles_and_cold_starts_match_what_the_gateway_answered(tmp_path: Path) -> None:
    with Kit(tmp_path, "throttled-agent", concurrency=1) as kit:
        kit.start(max_instances=1, queue_depth=0)
        kit.deploy()
        url = kit.url("/work?ms=800")
        with ThreadPoolExecutor(4) as pool:
            replies = list(pool.map(lambda _: get(url), range(4)))
        statuses = sorted(status for status, _, _ in replies)
        assert 200 in statuses and 429 in statuses and set(statuses) == {200, 429}
        cold = sum(headers.get("x-agentrun-cold-start") == "true" for status, headers, _ in replies if status == 200)

        [row] = kit.json("metrics")["rows"]
        assert (row["invocations"], row["errors"]) == (4, 0)
        assert row["throttles"] == statuses.count(429)
        assert row["coldStarts"] == cold
        assert row["instancesPeak"] == 1


@pytest.mark.parametrize(("args", "says"), [
    (("--window", "soon"), "--window 'soon' is not a duration"),
    (("--window", "1h", "-s", "10m"), "--window cannot be used with -s"),
    (("-s", "yesterday-ish"), "--start-time 'yesterday-ish'"),
    (("-s", "10m", "-e", "1h"), "is after --end-time"),
])
def test_bad_windows_are_refused_before_anything_runs(tmp_path: Path, args: tuple[str, ...], says: str) -> None:
    kit = Kit(tmp_path)
    result = kit.run("metrics", *args, check=False)
    assert result.returncode != 0 and says in result.stderr
    assert "Traceback" not in result.stderr
    assert not (kit.home / "emulator" / "daemon.json").exists()  # refused before the emulator started


def test_metrics_of_a_runtime_never_deployed_say_so(tmp_path: Path) -> None:
    with Kit(tmp_path, "never-deployed") as kit:
        result = kit.run("metrics", check=False)
    assert result.returncode != 0 and "never-deployed" in result.stderr and "Traceback" not in result.stderr
