"""Actions: `<hook>-<command>` run steps in the shell, in order, from their path; a failure stops with its output."""

from __future__ import annotations

from pathlib import Path

import pytest

from agentctl.errors import BadInput
from agentctl.spec.actions import ActionFailed, action_steps, run_hook, run_steps

from .helpers import load

SPEC = """
edition: 3.0.0
name: demo
vars: {word: hello}
actions:
  pre-deploy:
    - run: echo "global ${vars.word}" >> log.txt
    - run: pwd >> ../log.txt
      path: ./sub
  success-deploy:
    - run: echo global-success >> log.txt
resources:
  agent:
    component: agentrun
    actions:
      pre-deploy:
        - run: echo "agent $SPEC_WORD" >> log.txt
      fail-deploy:
        - run: echo failing; exit 3
      complete-deploy:
        - run: exit 1
          allow_failure: true
    props: {}
"""


@pytest.fixture
def project(tmp_path: Path):  # type: ignore[no-untyped-def]
    (tmp_path / "sub").mkdir()
    (tmp_path / ".env").write_text("SPEC_WORD=from-dotenv\n")
    return load(tmp_path, SPEC, environ={"PATH": "/usr/bin:/bin"})


def test_global_and_resource_steps_run_in_order_in_their_folders(project, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    lines: list[str] = []
    run_hook(project, "pre", "deploy", say=lines.append)
    run_hook(project, "pre", "deploy", resource=project.resources["agent"], say=lines.append)
    run_hook(project, "success", "deploy")
    assert (tmp_path / "log.txt").read_text().splitlines() == [
        "global hello", str(tmp_path / "sub"), "agent from-dotenv", "global-success"]


def test_other_commands_and_hooks_run_nothing(project, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    run_hook(project, "pre", "remove")
    run_hook(project, "fail", "deploy")
    assert not (tmp_path / "log.txt").exists()


def test_a_failing_step_raises_with_its_output(project) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ActionFailed) as caught:
        run_hook(project, "fail", "deploy", resource=project.resources["agent"], say=lambda line: None)
    error = caught.value
    assert error.returncode == 3 and error.exit_code == 2 and error.output == "failing"
    assert "fail-deploy action (resource agent) failed with exit code 3" in str(error)
    assert str(error).endswith(":\nfailing") and error.hint


def test_allow_failure_lets_the_command_go_on(project) -> None:  # type: ignore[no-untyped-def]
    run_hook(project, "complete", "deploy", resource=project.resources["agent"])


def test_bad_steps_are_bad_input(tmp_path: Path) -> None:
    with pytest.raises(BadInput, match="only `run` steps are supported, not `plugin`"):
        action_steps({"pre-deploy": [{"plugin": "x"}]}, "pre", "deploy", tmp_path)
    with pytest.raises(BadInput, match="must be a list"):
        action_steps({"pre-deploy": {"run": "x"}}, "pre", "deploy", tmp_path)
    steps = action_steps({"pre-deploy": [{"run": "true", "path": "nope"}]}, "pre", "deploy", tmp_path)
    with pytest.raises(BadInput, match="is not a folder"):
        run_steps(steps)
