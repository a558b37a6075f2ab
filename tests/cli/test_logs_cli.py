"""`agentctl logs`: bad flags fail fast with a clear error, the cloud says SLS is not supported, lines are labelled."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from agentctl.access import AccessStore, Credentials
from agentctl.cli.logs import Printer, format_record, label

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(("args", "says"), [
    (["-s", "yesterday-ish"], "--start-time 'yesterday-ish' is not a time"),
    (["-e", "31/02/2024"], "--end-time '31/02/2024' is not a time"),
    (["-s", "1h", "-e", "2h"], "is after --end-time"),
    (["--type", "maybe"], "--type 'maybe' is not success or fail"),
    (["--tail", "-e", "1h"], "--end-time cannot be used with --tail"),
    (["--limit", "0"], "--limit 0 is out of range"),
    (["-o", "xml"], "-o 'xml' is not one of"),
])
def test_bad_flags_are_refused_before_anything_runs(cli, tmp_path: Path, args: list[str], says: str) -> None:  # type: ignore[no-untyped-def]
    result = cli("logs", *args, cwd=tmp_path)  # no s.yaml here: the flags are checked first
    assert result.returncode == 2, result.stderr
    assert says in result.stderr
    assert "Hint:" in result.stderr and "Traceback" not in result.stderr


def test_the_cloud_backend_says_logs_need_sls(cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    project = tmp_path / "agent"
    shutil.copytree(REPO / "templates" / "python-echo", project)
    AccessStore().put("default", Credentials(access_key_id="LTAIcloudkey", access_key_secret="secret",
                                             account_id="1234567890"))
    result = cli("logs", cwd=project)
    assert result.returncode == 5, result.stderr
    assert "logs for the cloud backend need SLS (not supported yet)" in result.stderr
    assert "Hint:" in result.stderr


def record(**fields: object) -> dict[str, object]:
    base = {"id": 1, "timeNs": 1_704_067_200_123_000_000, "runtimeId": "rt", "runtimeName": "agent",
            "version": "2", "endpoint": "default", "instanceId": "c-abc123", "requestId": None, "kind": "stdout",
            "status": None, "durationMs": None, "message": "hello"}
    return {**base, **fields}


def test_labels_name_the_version_and_the_instance() -> None:
    assert label(record()) == "[v2 c-abc123]"
    assert label(record(version="LATEST")) == "[LATEST c-abc123]"
    assert label(record(instanceId=None)) == "[v2 gateway]"


def test_request_records_read_like_fc_logs() -> None:
    _, _, start = format_record(record(kind="request-start", requestId="r-1", message="POST /chat"))
    _, _, line = format_record(record(requestId="r-1"))
    _, _, end = format_record(record(kind="request-end", requestId="r-1", status=502, durationMs=12.5,
                                       message=""))
    assert start == "START RequestId: r-1 POST /chat"
    assert line == "r-1 hello"
    assert end == "END RequestId: r-1 Status: 502 Duration: 12.5 ms"


def test_match_is_highlighted_on_a_terminal(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
                                            ) -> None:
    monkeypatch.setenv("FORCE_COLOR", "1")
    monkeypatch.setenv("TERM", "xterm-256color")  # Rich prints no colour at all to TERM=dumb (CI machines)
    monkeypatch.delenv("NO_COLOR", raising=False)
    Printer("table", match="ELL").print(record(message="hello world"))
    out = capsys.readouterr().out
    assert "h\x1b[" in out and "ell" in out  # an escape sequence right before the (case-insensitive) match
    Printer("table").print(record(message="hello world"))
    assert "[v2 c-abc123]" in capsys.readouterr().out


def test_json_output_is_one_object_per_line(capsys: pytest.CaptureFixture[str]) -> None:
    printer = Printer("json", match="x")
    printer.print_all([record(id=1), record(id=2)])
    lines = capsys.readouterr().out.splitlines()
    assert [line.startswith('{"id": ') for line in lines] == [True, True]
