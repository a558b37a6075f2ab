"""An app that exits at once is not restarted for every request: starts back off (issue #9, item 11).

The app serves until a flag file exists; then every start exits at once (code 3). After its instance is
killed, 20 requests sent back to back get clear errors, and only the first (or, if the 1 s back-off ran
out meanwhile, a second) tries to start an instance: the others are answered at once, saying when the next
start will be tried. Without the sandbox, so that the app can see the flag file.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from gate_project import gate_project, host_pid, records

APP = Path(__file__).parent.parent / "emulator" / "apps" / "flag_crash" / "app.py"


def test_a_crash_looping_app_is_started_again_only_after_a_back_off(tmp_path: Path,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AGENTCTL_SANDBOX", "0")
    flag = tmp_path / "crash.flag"
    agent = {"environmentVariables": f"{{CRASH_FLAG: '{flag}'}}"}
    with gate_project(tmp_path, concurrency=10, start=("--driver", "process"), agent=agent, app=APP) as project:
        first = project.request("ok")
        assert first.status == 200
        flag.write_text("on")
        os.kill(host_pid(project, first.instance), 9)

        replies = [project.request("ok") for _ in range(20)]

        assert all(r.status in (502, 503) for r in replies), [(r.status, r.body[:200]) for r in replies]
        assert any(b"next start" in r.body for r in replies), [r.body[:300] for r in replies]
        starts = [r for r in records(project, "--limit", "10000") if r.get("message", "").startswith("started: ")]
        assert 2 <= len(starts) <= 3, [s["message"] for s in starts]  # the first instance, then one or two tries
