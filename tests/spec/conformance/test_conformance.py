"""agentctl resolves every corpus case as Serverless Devs' own parser does.

Positive cases: the resolved document and each resource's props (and the resource
order) are equal after the one documented normalisation (paths of the case folder).
Error cases (``error-*``): both fail, and agentctl's message names the position and,
when the case says so, the expression.

Without node/npm the oracle tests skip, except in CI (``CI=true``), where they fail.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from agentctl.errors import SpecError
from agentctl.spec import load_project

from . import oracle

CASES = oracle.load_cases()
POSITIVE = [case for case in CASES if not case.expects_error]
ERRORS = [case for case in CASES if case.expects_error]


def test_corpus_has_the_required_breadth() -> None:
    assert len(CASES) >= 85
    assert len(ERRORS) >= 25
    names = {case.name for case in CASES}
    assert {"member-function-result", "error-services-keyword"} <= names  # the two forms of issue 8


@pytest.fixture(scope="session")
def oracle_answers() -> dict[str, dict[str, Any]]:
    try:
        harness = oracle.install()
    except oracle.OracleUnavailable as exc:
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
            pytest.fail(f"the Serverless Devs oracle is required in CI: {exc}")
        pytest.skip(f"Serverless Devs oracle unavailable: {exc}")
    return oracle.run_all(harness, CASES)


def _agentctl(case: oracle.Case) -> Any:
    return load_project(case.dir / "s.yaml", preview=case.preview, environ=case.environ())


@pytest.mark.oracle
@pytest.mark.parametrize("case", POSITIVE, ids=lambda case: case.name)
def test_positive_case_resolves_like_serverless_devs(case: oracle.Case, oracle_answers: dict[str, Any]) -> None:
    expected = oracle_answers[case.name]
    assert "error" not in expected, f"the oracle failed on a positive case: {expected['error']}"
    project = _agentctl(case)
    assert oracle.normalise(project.document, case) == oracle.normalise(expected["content"], case)
    steps = [(step["projectName"], oracle.normalise(step["props"], case)) for step in expected["steps"]]
    assert [(r.name, oracle.normalise(r.props, case)) for r in project.select(None)] == steps


@pytest.mark.oracle
@pytest.mark.parametrize("case", ERRORS, ids=lambda case: case.name)
def test_error_case_fails_in_both(case: oracle.Case, oracle_answers: dict[str, Any]) -> None:
    assert "error" in oracle_answers[case.name], "the oracle accepted an error case"
    with pytest.raises(SpecError) as caught:
        _agentctl(case)
    _assert_error_matches(caught.value, case)


@pytest.mark.parametrize("case", ERRORS, ids=lambda case: case.name)
def test_error_case_names_file_line_and_expression(case: oracle.Case) -> None:
    """The agentctl side of the error cases, runnable without node."""
    with pytest.raises(SpecError) as caught:
        _agentctl(case)
    _assert_error_matches(caught.value, case)


def _assert_error_matches(error: SpecError, case: oracle.Case) -> None:
    assert error.file is not None and Path(error.file).parent == case.dir
    assert error.line is not None and error.column is not None
    assert error.hint
    if case.error:
        assert case.error in error.message
    if case.line is not None:
        assert error.line == case.line
    if case.column is not None:
        assert error.column == case.column
