"""YAML reading: YAML 1.2 scalars as js-yaml reads them, node positions, syntax errors at file:line:col."""

from __future__ import annotations

from pathlib import Path

import pytest

from agentctl.errors import SpecError
from agentctl.spec.loader import load_yaml, load_yaml_text


def test_scalars_follow_the_yaml_1_2_core_schema() -> None:
    value, _ = load_yaml_text("a: yes\nb: off\nc: 1e3\nd: 0x10\ne: 0o10\nf: ~\ng: True\nh: .5\ni: 2024-01-02\n", "x")
    assert value == {"a": "yes", "b": "off", "c": 1000.0, "d": 16, "e": 8, "f": None, "g": True, "h": 0.5,
                     "i": "2024-01-02"}


def test_keys_are_text_like_in_javascript() -> None:
    value, _ = load_yaml_text("1: a\ntrue: b\n", "x")
    assert value == {"1": "a", "true": "b"}


def test_marks_give_the_line_and_column_of_every_node() -> None:
    _, marks = load_yaml_text("a:\n  b: [x, 'y']\n  c:\n    - d: 1\n", "f.yaml")
    assert (marks[("a", "b")].line, marks[("a", "b")].column) == (2, 6)
    assert (marks[("a", "b", 1)].line, marks[("a", "b", 1)].column) == (2, 10)
    assert (marks[("a", "c", 0, "d")].line, marks[("a", "c", 0, "d")].column) == (4, 10)


def test_column_of_an_offset_counts_the_opening_quote() -> None:
    _, marks = load_yaml_text("plain: ab${x}\nquoted: \"ab${x}\"\n", "f.yaml")
    assert marks[("plain",)].column_of(2) == 10
    assert marks[("quoted",)].column_of(2) == 12


def test_merge_keys_may_be_overridden_but_duplicates_are_errors() -> None:
    value, _ = load_yaml_text("base: &b {x: 1, y: 2}\nc:\n  <<: *b\n  y: 3\n", "x")
    assert value["c"] == {"x": 1, "y": 3}
    with pytest.raises(SpecError, match="duplicate key `y`") as caught:
        load_yaml_text("c:\n  y: 1\n  y: 2\n", "f.yaml")
    assert (caught.value.line, caught.value.column) == (3, 3)


@pytest.mark.parametrize(
    ("text", "line", "column"),
    [("a: [1, 2\nb: 3\n", 2, 2), ("a:\n\tb: 1\n", 2, 1), ("a: 'open\n", 2, 1), ("a: b: c\n", 1, 5)],
)
def test_syntax_errors_carry_file_line_and_column(tmp_path: Path, text: str, line: int, column: int) -> None:
    path = tmp_path / "s.yaml"
    path.write_text(text)
    with pytest.raises(SpecError) as caught:
        load_yaml(path)
    error = caught.value
    assert (error.file, error.line, error.column) == (str(path), line, column)
    assert str(error).startswith(f"{path}:{line}:{column}: YAML syntax error")
    assert error.hint
