"""Inputs that used to crash or run away get a clear error, exit 2 and a hint (issue #9, items 5 and 9).

Through the real CLI: an s.yaml that is binary, nests 5,000 flow lists, or expands YAML aliases
exponentially (a 271-byte "billion laughs" took 35 s and 2 GB); a code directory with a symlink loop or a
file name that is not UTF-8. Each is refused at once with exit 2, a message that names the problem and its
place, and a ``Hint:``.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path
from typing import Any

SPEC = """edition: 3.0.0
name: bounds
access: default
resources:
  agent:
    component: agentrun
    props:
      region: cn-hangzhou
      agent:
        name: bounds-agent
        code:
          src: ./code
          language: python3.12
          command: [python3, app.py]
"""
# Each level repeats the one before nine times: 9**7 = 4.8 million strings from 271 bytes.
ALIAS_BOMB = "vars:\n  a0: &a0 [lol]\n" + "".join(
    f"  a{n}: &a{n} [{', '.join([f'*a{n - 1}'] * 9)}]\n" for n in range(1, 8))


def bad_input(result: subprocess.CompletedProcess[str], *words: str) -> None:
    assert result.returncode == 2, (result.returncode, result.stdout, result.stderr)
    assert "unexpected" not in result.stderr and "Traceback" not in result.stderr, result.stderr
    for word in words:
        assert word in result.stderr, result.stderr
    assert "Hint:" in result.stderr, result.stderr


def project(tmp_path: Path, spec: str = SPEC) -> Path:
    (tmp_path / "code").mkdir()
    (tmp_path / "code" / "app.py").write_text("print('hi')\n")
    (tmp_path / "s.yaml").write_text(spec)
    return tmp_path


def test_an_alias_bomb_is_refused_at_once(cli: Any, tmp_path: Path) -> None:
    bad_input(cli("verify", cwd=project(tmp_path, SPEC + ALIAS_BOMB), timeout=60), "s.yaml", "alias")


def test_deep_nesting_is_refused_with_its_line(cli: Any, tmp_path: Path) -> None:
    spec = SPEC + "vars:\n  deep: " + "[" * 5000 + "]" * 5000 + "\n"
    bad_input(cli("verify", cwd=project(tmp_path, spec), timeout=60), "s.yaml", "nested")


def test_a_binary_spec_is_refused_as_not_text(cli: Any, tmp_path: Path) -> None:
    root = project(tmp_path)
    (root / "s.yaml").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\xff\xfe")
    bad_input(cli("verify", cwd=root), "s.yaml", "UTF-8")


def test_a_symlink_loop_in_the_code_is_named(cli: Any, tmp_path: Path) -> None:
    root = project(tmp_path)
    os.symlink("loop-b", root / "code" / "loop-a")
    os.symlink("loop-a", root / "code" / "loop-b")
    bad_input(cli("deploy", "--dry-run", cwd=root), "loop-a")


def test_a_file_name_that_is_not_utf8_is_named(cli: Any, tmp_path: Path) -> None:
    root = project(tmp_path)
    with open(os.path.join(os.fsencode(root / "code"), b"caf\xe9.txt"), "wb") as file:
        file.write(b"x")
    bad_input(cli("deploy", "--dry-run", cwd=root), "caf", "UTF-8")
