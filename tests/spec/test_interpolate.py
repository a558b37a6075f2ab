"""Typing rules of ``${...}``: a lone expression keeps its type, text around it makes a string."""

from __future__ import annotations

from typing import Any

import pytest

from agentctl.spec.interpolate import ExprError, InterpolationError, Missing, Scope, js_string, render

VALUES: dict[str, Any] = {"n": 9000, "f": 0.5, "whole": 2.0, "t": True, "off": False, "s": "x", "l": ["a", 1],
                          "m": {"k": "v"}, "zero": 0, "empty": "", "null": None, "again": "${vars.s}"}


def _lookup(path: tuple[str, ...]) -> Any:
    if path[0] != "vars" or len(path) != 2 or path[1] not in VALUES:
        raise Missing(f"no {'.'.join(path)}")
    return VALUES[path[1]]


def _call(name: str, args: list[Any]) -> Any:
    return {"name": name, "args": args}


SCOPE = Scope(lookup=_lookup, call=_call)


@pytest.mark.parametrize("key", ["n", "f", "t", "off", "l", "m", "zero", "empty"])
def test_a_lone_expression_keeps_the_type(key: str) -> None:
    assert render(f"${{vars.{key}}}", SCOPE) == VALUES[key]


@pytest.mark.parametrize(
    ("text", "expected"),
    [("p${vars.n}", "p9000"), ("${vars.f}/${vars.whole}", "0.5/2"), ("${vars.t} ${vars.off}", "true false"),
     ("[${vars.l}]", "[a,1]"), ("${vars.m}!", "[object Object]!"), (" ${vars.n}", " 9000")],
)
def test_text_around_makes_a_javascript_style_string(text: str, expected: str) -> None:
    assert render(text, SCOPE) == expected


def test_a_resolved_string_holding_an_expression_is_resolved_once_more() -> None:
    assert render("${vars.again}", SCOPE) == "x"


def test_unquoted_arguments_are_string_literals() -> None:
    assert render("${env(HOME)}", SCOPE)["args"] == ["HOME"]
    assert render("${env(A, 8080)}", SCOPE)["args"] == ["A", "8080"]


def test_quoted_arguments_are_literals_references_and_nested_calls() -> None:
    value = render("${f('a', \"b\\n\", 3, 1.5, true, null, vars.n, vars.nope, g('x'))}", SCOPE)
    assert value["args"] == ["a", "b\n", 3, 1.5, True, None, 9000, None, {"name": "g", "args": ["x"]}]


def test_runtime_outputs_stay_as_written() -> None:
    assert render("${resources.db.output.url}", SCOPE) == "${resources.db.output.url}"
    assert render("http://${resources.db.output.host}/", SCOPE) == "http://${resources.db.output.host}/"


@pytest.mark.parametrize(
    ("text", "message", "offset"),
    [("${vars.nope}", "${vars.nope} not found", 0), ("ab ${vars.null}", "${vars.null} not found", 3),
     ("${vars.n + 1}", "not a supported expression", 0), ("${f('open)}", "cannot read the arguments", 0)],
)
def test_failures_name_the_expression_and_its_offset(text: str, message: str, offset: int) -> None:
    with pytest.raises(InterpolationError) as caught:
        render(text, SCOPE)
    assert message in caught.value.failure.error.message
    assert caught.value.failure.offset == offset
    assert isinstance(caught.value.failure.error, ExprError)


@pytest.mark.parametrize(("value", "text"), [(1.0, "1"), (1.25, "1.25"), (True, "true"), ([1, None, "a"], "1,,a")])
def test_js_string(value: Any, text: str) -> None:
    assert js_string(value) == text
