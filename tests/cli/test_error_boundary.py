"""The error boundary: one message line, one hint line, a documented exit code, never a traceback."""

from __future__ import annotations

from pathlib import Path

from agentctl.errors import EXIT_CODES


def test_unknown_command_is_a_usage_error(cli, tmp_path: Path) -> None:
    result = cli("no-such-command", cwd=tmp_path)
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert "No such command" in result.stderr


def test_bad_output_format_is_rejected(cli, tmp_path: Path) -> None:
    result = cli("-o", "xml", "--help", cwd=tmp_path)
    # --help is eager; a real command shows the error
    result = cli("-o", "xml", "config", "get", cwd=tmp_path)
    assert result.returncode == 2
    assert "xml" in result.stderr
    assert "Traceback" not in result.stderr


def test_exit_codes_are_documented() -> None:
    assert set(EXIT_CODES) >= {0, 1, 2, 3, 4, 5, 6, 130}
