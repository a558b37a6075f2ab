"""`local stop` ends everything an instance started, also a child in its own session (issue #9, item 11).

Without the sandbox (``AGENTCTL_SANDBOX=0``: no pid namespace to end them all) an app starts a child that
calls ``setsid()``, so killing the app's process group does not reach it. Stopping the instance must.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from gate_project import gate_project

ESCAPER = Path(__file__).parent.parent / "emulator" / "apps" / "escaper" / "app.py"


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"


def test_a_setsid_child_does_not_survive_local_stop(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AGENTCTL_SANDBOX", "0")
    with gate_project(tmp_path, concurrency=1, start=("--driver", "process"), app=ESCAPER) as project:
        child = int(project.request("where").json()["child"])
        assert alive(child)
        project.project.run("local", "stop", ok=True)
        deadline = time.monotonic() + 15
        while alive(child) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not alive(child), f"pid {child} survived local stop"
