""".env files: parsed like dotenv, expanded like dotenv-expand, never overriding the environment."""

from __future__ import annotations

from pathlib import Path

from agentctl.spec.dotenv import environment_with_dotenv, expand, parse_dotenv


def test_parse_handles_comments_export_and_quotes() -> None:
    text = "# c\nexport A=1\nB = two words # note\nC='single # kept'\nD=\"line\\nbreak\"\nE=\n\nF=`back`\n"
    assert parse_dotenv(text) == {"A": "1", "B": "two words", "C": "single # kept", "D": "line\nbreak", "E": "",
                                  "F": "back"}


def test_expansion_prefers_the_environment_then_the_file() -> None:
    values = {"HOST": "file-host", "URL": "http://${HOST}:${PORT}", "OTHER": "$MISSING-${NONE:-dflt}"}
    assert expand(values, {"PORT": "80"}) == {"HOST": "file-host", "URL": "http://file-host:80", "OTHER": "-dflt"}
    assert expand({"URL": "${HOST}"}, {"HOST": "env-host"})["URL"] == "env-host"


def test_the_environment_wins_and_a_missing_file_is_fine(tmp_path: Path) -> None:
    env_file = tmp_path / ".env"
    assert environment_with_dotenv(env_file, {"A": "x"}) == {"A": "x"}
    env_file.write_text("A=file\nB=file\n")
    assert environment_with_dotenv(env_file, {"A": "process"}) == {"A": "process", "B": "file"}
