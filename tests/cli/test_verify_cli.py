"""`agentctl verify` on real files: all violations with file:line and YAML path, exit 2; clear bad-input errors."""

from __future__ import annotations

import json
from pathlib import Path

FIVE_PROBLEMS = """\
edition: 3.0.0
name: demo
vars:
  region: cn-hangzhou
  cpu: 99
resources:
  agent:
    component: agentrun
    props:
      region: ${vars.region}
      agent:
        name: 9bad
        cpu: ${vars.cpu}
        memory: 64
        instanceConcurrency: 500
        code:
          src: ./code
          language: python3.9
"""

VALID = """\
edition: 3.0.0
name: demo
resources:
  first:
    component: agentrun
    props:
      region: cn-hangzhou
      agent:
        name: first
        code: {src: ./code, language: python3.12, command: [python3, app.py]}
  second:
    component: agentrun
    props:
      region: cn-hangzhou
      agent:
        name: second
        cpu: 42
        customContainerConfig: {image: "reg/ns/agent:v1"}
"""


def test_five_violations_are_all_printed_with_lines_and_paths(cli, tmp_path: Path) -> None:
    (tmp_path / "code").mkdir()  # code.src must exist
    (tmp_path / "s.yaml").write_text(FIVE_PROBLEMS)
    result = cli("verify", cwd=tmp_path)
    assert result.returncode == 2
    lines = result.stdout.splitlines()
    assert lines == [
        "s.yaml:12 resources.agent.props.agent.name: '9bad' is not valid: start with a letter, then letters, "
        "digits, '_' or '-' (at most 128 characters)",
        "s.yaml:13 resources.agent.props.agent.cpu: 99 is greater than the maximum of 16",
        "s.yaml:14 resources.agent.props.agent.memory: 64 is less than the minimum of 128",
        "s.yaml:15 resources.agent.props.agent.instanceConcurrency: 500 is greater than the maximum of 200",
        "s.yaml:18 resources.agent.props.agent.code.language: 'python3.9' is not one of ['python3.10', "
        "'python3.12', 'nodejs18', 'nodejs20', 'java8', 'java11', 'java17', 'custom']",
    ]
    assert "Error: s.yaml has 5 problems" in result.stderr and "Hint:" in result.stderr


def test_valid_file_says_so_and_the_selector_limits_the_check(cli, tmp_path: Path) -> None:
    (tmp_path / "code").mkdir()  # code.src must exist
    (tmp_path / "s.yaml").write_text(VALID)
    failing = cli("verify", cwd=tmp_path)
    assert failing.returncode == 2 and "resources.second.props.agent.cpu" in failing.stdout
    first = cli("first", "verify", cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    assert first.stdout.strip() == "s.yaml is valid (1 resource)"
    (tmp_path / "s.prod.yaml").write_text(VALID.replace("cpu: 42", "cpu: 2"))
    both = cli("-t", "s.prod.yaml", "verify", cwd=tmp_path)
    assert both.returncode == 0 and both.stdout.strip() == "s.prod.yaml is valid (2 resources)"


def test_json_output_lists_violations_as_data(cli, tmp_path: Path) -> None:
    (tmp_path / "code").mkdir()  # code.src must exist
    (tmp_path / "s.yaml").write_text(FIVE_PROBLEMS)
    result = cli("verify", "-o", "json", cwd=tmp_path)
    assert result.returncode == 2
    report = json.loads(result.stdout)
    assert report["valid"] is False and len(report["violations"]) == 5
    assert report["violations"][1] == {"resource": "agent", "path": "resources.agent.props.agent.cpu", "line": 13,
                                       "message": "99 is greater than the maximum of 16"}


def test_bad_inputs_give_one_line_and_a_hint_never_a_traceback(cli, tmp_path: Path) -> None:
    (tmp_path / "broken.yaml").write_text("edition: 3.0.0\nresources:\n  a: [unclosed\n")
    (tmp_path / "s.yaml").write_text(VALID)
    cases = [
        (("verify",), tmp_path / "sub", 3),  # no s.yaml here
        (("-t", "missing.yaml", "verify"), tmp_path, 3),
        (("-t", "broken.yaml", "verify"), tmp_path, 2),
        (("nope", "verify"), tmp_path, 3),
    ]
    (tmp_path / "sub").mkdir()
    for args, cwd, code in cases:
        result = cli(*args, cwd=cwd)
        assert result.returncode == code, (args, result.stderr)
        assert result.stderr.startswith("Error: ") and "\nHint: " in result.stderr, (args, result.stderr)
        assert "Traceback" not in result.stderr
    syntax = cli("-t", "broken.yaml", "verify", cwd=tmp_path)
    assert "broken.yaml:" in syntax.stderr  # file:line:col of the syntax error


def test_config_values_do_not_need_credentials_to_verify(cli, tmp_path: Path) -> None:
    (tmp_path / "code").mkdir()  # code.src must exist
    (tmp_path / "s.yaml").write_text(VALID.replace("cpu: 42", "role: ${config('AccountID')}-role"))
    result = cli("verify", cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
