"""The editor schema of props.flow (flow.schema.json) agrees with the parser on what a flow looks like.

The parser is the authority (it also checks expressions, names in use, state keys); the schema
must accept every flow the parser accepts and reject the shapes the parser rejects by shape.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml
from test_parse import full_flow

from agentctl.flow import check_flow, is_flow
from agentctl.flow.dify import import_dify
from agentctl.spec import load_project

SCHEMA = json.loads((Path(__file__).resolve().parents[2] / "src/agentctl/flow/flow.schema.json").read_text())
REPO = Path(__file__).resolve().parents[2]


def schema_errors(flow: Any) -> list[str]:
    validator = jsonschema.Draft202012Validator(SCHEMA)
    return [error.message for error in validator.iter_errors(flow)]


def valid_flows() -> list[Any]:
    flows = [full_flow()]
    for file in ("s.yaml", "s.routing.yaml"):
        project = load_project(REPO / "templates/flow-quickstart" / file, environ={"MODEL_API_KEY": "k"})
        flows += [r.props["flow"] for r in project.resources.values() if is_flow(r.component)]
    for export in ("support_desk.yml", "refine_loop.yml"):
        document = yaml.safe_load((REPO / "tests/flow/dify" / export).read_text())
        flows.append(import_dify(document, base_url="http://models/v1").flow)
    return flows


def test_the_schema_is_a_valid_draft_2020_12_schema():
    jsonschema.Draft202012Validator.check_schema(SCHEMA)


@pytest.mark.parametrize("index", range(6))
def test_every_flow_the_parser_accepts_passes_the_schema(index):
    flow = valid_flows()[index]
    assert check_flow(flow) == []
    assert schema_errors(flow) == []


@pytest.mark.parametrize("root", [
    {"type": "paralel", "agents": []},
    {"type": "runtime", "resource": "a", "endpont": "x"},
    {"type": "parallel", "agents": [{"type": "runtime", "resource": "a"}]},
    {"type": "loop", "agent": {"type": "runtime", "resource": "a"}},
    {"type": "loop", "count": 2, "until": "true", "agent": {"type": "runtime", "resource": "a"}},
    {"type": "loop", "count": 1001, "agent": {"type": "runtime", "resource": "a"}},
    {"type": "route", "baseUrl": "https://m/v1", "model": "m", "agents": [{"type": "runtime", "resource": "a"}]},
    {"type": "llm", "model": "m", "baseUrl": "models.example/v1"},
    {"type": "llm", "baseUrl": "http://m/v1"},
    {"type": "runtime"},
    {"type": "runtime", "resource": "a", "name": "9lives"},
    {"type": "parallel", "merge": "join", "agents": [{"type": "runtime", "resource": "a"},
                                                     {"type": "runtime", "resource": "b"}]},
])
def test_shapes_the_parser_rejects_fail_the_schema_too(root):
    assert check_flow({"root": root}) != []
    assert schema_errors({"root": root}) != []
