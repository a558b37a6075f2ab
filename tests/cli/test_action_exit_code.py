"""A failing pre-deploy action stops the deploy with agentctl's own exit code (issue #9, item 11).

Its command's exit code (7 here) is reported in the message; agentctl exits 2 (bad input: the action in
s.yaml), a code of the documented table, not 7.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

SPEC = """edition: 3.0.0
name: hooks
access: default
actions:
  pre-deploy:
    - run: echo the check said no; exit 7
resources:
  agent:
    component: agentrun
    props:
      region: cn-hangzhou
      agent:
        name: hooks-agent
        code: {src: ./code, language: python3.12, command: [python3, app.py]}
"""


def test_a_failing_pre_deploy_action_exits_2_and_names_its_exit_code(cli: Any, tmp_path: Path) -> None:
    (tmp_path / "code").mkdir()
    (tmp_path / "s.yaml").write_text(SPEC)
    result = cli("deploy", "-y", cwd=tmp_path)
    assert result.returncode == 2, (result.returncode, result.stderr)
    assert "exit code 7" in result.stderr and "the check said no" in result.stderr
    assert "Hint:" in result.stderr
