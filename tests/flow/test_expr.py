"""The expression form: parsing with positions and hints, evaluation rules, templates."""

from __future__ import annotations

from typing import Any

import pytest

from agentctl.flow.context import NodeScope, Result, Run, RunInput
from agentctl.flow.expr import ExpressionError, evaluate, parse_expression, parse_template


def scope(last: str = "", state: dict[str, Any] | None = None, env: dict[str, str] | None = None) -> NodeScope:
    run = Run(RunInput("what is 2+2", conversation_id="c-1", user_id="u-7", inputs={"lang": "fr"}), env or {})
    run.state.update(state or {})
    return NodeScope(run, Result.text(last))


def value(text: str, **kwargs: Any) -> Any:
    return evaluate(parse_expression(text), scope(**kwargs))


JSON = '{"score": 9, "tags": ["a", "b"]}'


@pytest.mark.parametrize(("text", "last", "expected"), [
    ('last.content contains "DONE"', "all DONE", True),
    ('last.content contains "done"', "all DONE", False),
    ('last contains "DONE"', "all DONE", True),
    ('not last.content contains "x" and sys.user_id == "u-7"', "y", True),
    ('sys.query == "nope" or sys.conversation_id != ""', "", True),
    ("last.json.score >= 8", JSON, True),
    ("last.json.score == 9 and last.json.score != 8", JSON, True),
    ('last.json.tags contains "b"', JSON, True),
    ('last.json.tags[0] == "a"', JSON, True),
    ('last.json["score"] < 10.5', JSON, True),
    ("(1 < 2) and not (2 < 1)", "", True),
    ("inputs.lang == 'fr'", "", True),
    ("state.missing == null", "", True),
    ("not last.content", "", True),
])
def test_conditions(text, last, expected):
    assert value(text, last=last) is expected


def test_text_that_reads_as_a_number_equals_the_number():
    assert value("last.content == 3", last=" 3 ") is True
    assert value('last.content == "3.0"', last="3") is False  # two texts compare as text
    assert value("last.content > 2", last="10") is True


def test_map_state_and_json_text_are_walked():
    state = {"fanout": {"upper": "HI"}, "words": '["x", "y"]'}
    assert value("state.fanout.upper", state=state) == "HI"
    assert value("state.words[1]", state=state) == "y"
    assert value("state.words[5]", state=state) is None


def test_contains_on_a_number_is_an_evaluation_error():
    with pytest.raises(ExpressionError, match="contains needs text, a list or a map"):
        value("last.json contains 1", last="5")


def test_ordering_text_against_a_number_is_an_error():
    with pytest.raises(ExpressionError, match="needs two numbers or two texts"):
        value('last.content < 3', last="abc")


def test_last_json_on_text_that_is_not_json():
    with pytest.raises(ExpressionError) as caught:
        value("last.json.x", last="hello")
    assert caught.value.message == "last.json: the message is not JSON: 'hello'"


def test_env_not_set_names_the_variable():
    with pytest.raises(ExpressionError) as caught:
        value("env.TOKEN")
    assert caught.value.message == "env.TOKEN is not set" and "environmentVariables" in (caught.value.hint or "")


@pytest.mark.parametrize(("text", "message", "column", "hint"), [
    ('last.content = "x"', "unexpected character '='", 14, "Compare with == (not =)."),
    ("lst.content", "unknown name 'lst'", 1, "Paths start with one of"),
    ('last.content contains "DONE" and', "expression ends too early", 33, "Finish the comparison"),
    ('"open', "unterminated string", 1, "Close it with"),
    ("sys.question", "sys has no field 'question'", 1, "query, conversation_id, user_id"),
    ("(last.content", "missing )", 14, "Close every ("),
    ("last.content.x", "last.content is text and has no fields", 1, "last.json"),
    ("", "empty expression", 1, None),
    ("state", "state needs a field", 1, "state.<name>"),
    ("1 2", "unexpected '2'", 3, "Join conditions"),
])
def test_bad_expressions_have_a_position_and_a_hint(text, message, column, hint):
    with pytest.raises(ExpressionError) as caught:
        parse_expression(text)
    assert caught.value.message == message
    assert caught.value.column == column
    if hint:
        assert hint in (caught.value.hint or "")


def test_templates_render_text_null_and_json():
    template = parse_template("Q: {{ sys.query }} / {{state.none}}/{{ state.m }} {{ 42 }}")
    assert template.render(scope(state={"m": {"a": [1]}})) == 'Q: what is 2+2 / /{"a": [1]} 42'


def test_a_template_without_holes_is_its_text():
    assert parse_template("plain").render(scope()) == "plain"
    assert parse_template("").render(scope()) == ""


@pytest.mark.parametrize(("text", "message", "column"), [
    ("Hi {{ sys.query ", "'{{' is not closed", 4),
    ("Hi }} there", "'}}' without '{{'", 4),
    ("Hi {{ sys.nope }}", "sys has no field 'nope'", 7),
])
def test_bad_templates_point_into_the_template(text, message, column):
    with pytest.raises(ExpressionError) as caught:
        parse_template(text)
    assert (caught.value.message, caught.value.column) == (message, column)
