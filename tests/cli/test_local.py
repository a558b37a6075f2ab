"""`agentctl local start|status|stop|reset` as a user runs them."""

from __future__ import annotations

import json
import os
import signal
from collections.abc import Iterator
from pathlib import Path

import pytest

from agentctl.emulator import daemon


@pytest.fixture(autouse=True)
def no_daemon_left(agentctl_home: Path) -> Iterator[None]:
    yield
    state = agentctl_home / "emulator" / "daemon.json"
    if state.exists() and (pid := json.loads(state.read_text()).get("pid")):
        daemon.terminate(pid)


def status_json(cli) -> dict:  # type: ignore[no-untyped-def]
    result = cli("-o", "json", "local", "status")
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_start_status_stop(cli, agentctl_home: Path) -> None:  # type: ignore[no-untyped-def]
    assert status_json(cli)["state"] == "stopped"

    started = cli("-o", "json", "local", "start")
    assert started.returncode == 0, started.stderr
    report = json.loads(started.stdout)
    assert report["state"] == "running" and report["stateDir"] == str(agentctl_home / "emulator")
    port = report["controlUrl"].rsplit(":", 1)[1]
    assert started.stderr.startswith(f"Started the local emulator on 127.0.0.1:{port}")
    assert report["runtimes"] == report["versions"] == report["endpoints"] == 0

    again = cli("local", "start")
    assert again.returncode == 0 and "already running" in again.stderr and str(report["pid"]) in again.stderr
    table = cli("local", "status")
    assert "running" in table.stdout and report["gatewayUrl"] in table.stdout

    stopped = cli("local", "stop")
    assert stopped.returncode == 0 and f"Stopped the local emulator (pid {report['pid']})" in stopped.stderr
    assert status_json(cli)["state"] == "stopped"
    assert "not running" in cli("local", "stop").stderr


def test_after_kill_9_status_says_stopped_and_start_brings_it_back(cli) -> None:  # type: ignore[no-untyped-def]
    first = json.loads(cli("-o", "json", "local", "start").stdout)
    os.kill(first["pid"], signal.SIGKILL)
    assert daemon._wait_gone(first["pid"], 10)
    assert status_json(cli)["state"] == "stopped"
    second = cli("-o", "json", "local", "start")
    assert second.returncode == 0 and "Started the local emulator" in second.stderr
    assert json.loads(second.stdout)["controlUrl"] == first["controlUrl"]


def test_reset_asks_and_refuses_without_a_terminal(cli, agentctl_home: Path) -> None:  # type: ignore[no-untyped-def]
    assert cli("local", "start").returncode == 0
    refused = cli("local", "reset")
    assert refused.returncode == 2
    assert "needs confirmation" in refused.stderr and "-y" in refused.stderr
    assert status_json(cli)["state"] == "running"

    done = cli("local", "reset", "-y")
    assert done.returncode == 0, done.stderr
    assert "Removed the local emulator's state" in done.stderr
    assert not (agentctl_home / "emulator").exists()
    assert "local" in (agentctl_home / "access.yaml").read_text()  # the keys survive a reset


@pytest.mark.parametrize(("flag", "value"), [("--queue-wait", "-5"), ("--idle-timeout", "0"),
                                             ("--body-timeout", "-1"), ("--max-instances", "0"),
                                             ("--queue-depth", "-1")])
def test_a_bad_setting_names_its_own_flag_and_starts_nothing(cli, flag: str, value: str) -> None:  # type: ignore[no-untyped-def]
    result = cli("local", "start", flag, value)
    assert result.returncode == 2, result.stderr
    message, _, hint = result.stderr.partition("\nHint: ")
    assert flag in message and value in message, result.stderr
    assert flag in hint and "unexpected" not in result.stderr, result.stderr
    assert daemon.status() is None
