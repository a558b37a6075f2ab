"""`agentctl instance exec` end to end: a deployed python-echo project, the real daemon, a real instance.

Skipped only while the daemon has no exec route (the upgrade then meets the control API's
catch-all: "no AgentRun operation is GET .../exec"); any other failure fails the test.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from lifecycle_support import Project, echo_project

NO_ROUTE = "no AgentRun operation is GET"


def serving_instance(project: Project) -> str:
    result = project.run("--debug", "invoke", "-m", "hello", ok=True)
    found = re.search(r"x-agentrun-instance-id=(\S+)", result.stderr)
    assert found, result.stderr
    return found.group(1)


def test_exec_runs_in_the_code_directory_of_a_real_instance_and_exits_with_its_code(tmp_path: Path) -> None:
    with echo_project(tmp_path) as project:
        instance = serving_instance(project)
        result = project.run("instance", "exec", "--instance-id", instance, "--cmd", "ls; echo $PORT; exit 3")
        if NO_ROUTE in result.stderr:  # (a missing route is a 404, exit 3 like the command: check the text)
            pytest.skip("the emulator daemon does not serve exec yet (app.py: add_exec_route)")
        assert result.returncode == 3, result.stderr
        listing = result.stdout.split()
        assert "app.py" in listing and listing[-1].isdigit()  # the instance's code and its own PORT

        missing = project.run("instance", "exec", "--instance-id", "c-000000000000", "--cmd", "true")
        assert missing.returncode == 3 and "c-000000000000" in missing.stderr
