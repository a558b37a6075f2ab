"""`verify` is as strict as `deploy` (issue #9, item 10): typos and values deploy would refuse are caught first.

Real files through the real CLI. Unknown keys (a typo in props, an unknown field of the agent, an unknown
top-level key) are violations at the key's line with a "did you mean" when a known key is close; an
unclosed ``${`` is an error at its place; ``weight: .nan``, a code block without ``src`` and a ``code.src``
that does not exist are violations. Each exits 2 and changes nothing.
"""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

BASE = """\
edition: 3.0.0
name: strict
access: default
vars:
  region: cn-hangzhou
resources:
  agent:
    component: agentrun
    props:
      region: ${vars.region}
      agent:
        name: strict-agent
        code:
          src: ./code
          language: python3.12
          command: [python3, app.py]
        memory: 512
        endpoints:
          - name: default
            version: LATEST
          - name: canary
            version: LATEST
            weight: 0.1
"""


def verify(cli: Any, tmp_path: Path, spec: str) -> subprocess.CompletedProcess[str]:
    (tmp_path / "code").mkdir(exist_ok=True)
    (tmp_path / "s.yaml").write_text(spec)
    return cli("verify", cwd=tmp_path)


def refused(result: subprocess.CompletedProcess[str], *expected: str) -> None:
    assert result.returncode == 2, (result.returncode, result.stdout, result.stderr)
    out = result.stdout + result.stderr
    for text in expected:
        assert text in out, out
    assert "Hint:" in result.stderr and "unexpected" not in result.stderr


def test_the_base_file_is_valid(cli: Any, tmp_path: Path) -> None:
    result = verify(cli, tmp_path, BASE)
    assert result.returncode == 0, (result.stdout, result.stderr)


def test_a_typo_in_props_is_refused_at_its_line_with_did_you_mean(cli: Any, tmp_path: Path) -> None:
    result = verify(cli, tmp_path, BASE.replace("        memory: 512", "        memroy: 512"))
    refused(result, "s.yaml:17 resources.agent.props.agent.memroy", "did you mean `memory`?")


def test_unknown_agent_fields_and_top_level_keys_are_refused(cli: Any, tmp_path: Path) -> None:
    spec = BASE.replace("access: default\n", "access: default\nbogusTop: 1\n").replace(
        "        memory: 512\n", "        memory: 512\n        bogusProp: true\n")
    result = verify(cli, tmp_path, spec)
    refused(result, "s.yaml:4 bogusTop: unknown key", "s.yaml:19 resources.agent.props.agent.bogusProp: unknown key")


def test_an_unclosed_expression_is_an_error_at_its_place(cli: Any, tmp_path: Path) -> None:
    result = verify(cli, tmp_path, BASE.replace("region: ${vars.region}", "region: ${vars.region"))
    refused(result, "s.yaml:10", "is not closed")


def test_values_deploy_refuses_are_refused_by_verify(cli: Any, tmp_path: Path) -> None:
    refused(verify(cli, tmp_path, BASE.replace("weight: 0.1", "weight: .nan")), "s.yaml:23", "weight",
            "not a finite number")
    refused(verify(cli, tmp_path, BASE.replace("          src: ./code\n", "")), "code", "src")
    refused(verify(cli, tmp_path, BASE.replace("src: ./code", "src: ./missing")), "s.yaml:14", "missing",
            "does not exist")
