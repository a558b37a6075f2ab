"""The shipped schema and `validate`: every violation at once, each with a YAML path and a clear message."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest
from jsonschema import Draft202012Validator

from agentctl.spec.validate import SCHEMA_PATH, Violation, dotted, is_agentrun, validate_document


def project(**agent: Any) -> dict[str, Any]:
    base = {"name": "my-agent", "code": {"src": "./code", "language": "python3.12", "command": ["python3", "app.py"]}}
    return {"edition": "3.0.0", "name": "demo", "resources": {
        "agent": {"component": "agentrun", "props": {"region": "cn-hangzhou", "agent": {**base, **agent}}}}}


def messages(document: Any) -> dict[str, str]:
    return {v.path: v.message for v in validate_document(document)}


def test_schema_file_ships_in_the_package_and_is_valid_draft_2020_12() -> None:
    schema = json.loads(SCHEMA_PATH.read_text())
    Draft202012Validator.check_schema(schema)
    assert schema["$schema"].endswith("2020-12/schema")
    assert "yaml-language-server" in schema["description"]


def test_a_minimal_code_agent_and_a_container_agent_are_valid() -> None:
    assert validate_document(project()) == []
    container = project()
    agent = container["resources"]["agent"]["props"]["agent"]
    del agent["code"]
    agent["customContainerConfig"] = {"image": "registry/ns/agent:v1", "port": 8080}
    container["resources"]["agent"]["props"]["build"] = {"context": ".", "dockerfile": "Dockerfile"}
    assert validate_document(container) == []


def test_every_violation_is_reported_at_once_with_its_path() -> None:
    found = messages(project(cpu=99, memory=64, instanceConcurrency=500, port=70000, name="9bad",
                             code={"src": "c", "language": "python3.9"}))
    assert found == {
        "resources.agent.props.agent.cpu": "99 is greater than the maximum of 16",
        "resources.agent.props.agent.memory": "64 is less than the minimum of 128",
        "resources.agent.props.agent.instanceConcurrency": "500 is greater than the maximum of 200",
        "resources.agent.props.agent.port": "70000 is greater than the maximum of 65535",
        "resources.agent.props.agent.name": "'9bad' is not valid: start with a letter, then letters, digits, "
                                            "'_' or '-' (at most 128 characters)",
        "resources.agent.props.agent.code.language": "'python3.9' is not one of ['python3.10', 'python3.12', "
                                                     "'nodejs18', 'nodejs20', 'java8', 'java11', 'java17', 'custom']",
    }


@pytest.mark.parametrize("agent, path, expected", [
    ({"cpu": 0.01}, "cpu", "less than the minimum of 0.05"),
    ({"memory": 1024.5}, "memory", "1024.5 is not an integer"),
    ({"internetAccess": "yes"}, "internetAccess", "'yes' is not true or false"),
    ({"code": {"language": "python3.12"}}, "code", "either `src`, or both"),
    ({"code": {"src": "c", "ossBucketName": "b", "ossObjectName": "o", "language": "python3.12"}}, "code",
     "either `src`, or both"),
    ({"code": {"src": "c", "language": "python3.12", "comand": ["x"]}}, "code.comand",
     "unknown key (did you mean `command`?)"),
    ({"customContainerConfig": {"image": "i"}}, "", "exactly one of `code` or `customContainerConfig`"),
    ({"endpoints": [{"name": "e", "version": "v2"}]}, "endpoints[0].version", "LATEST or a published version"),
    ({"endpoints": [{"name": "e", "weight": 1}]}, "endpoints[0].weight", "greater than or equal to the maximum"),
    ({"endpoints": [{"name": "e", "weight": 0}]}, "endpoints[0].weight", "less than or equal to the minimum"),
    ({"logConfig": {"project": "p"}}, "logConfig", "'logstore' is a required property"),
    ({"logConfig": "manual"}, "logConfig", "is not valid here"),
    ({"sessionAffinityType": "HEADER_FIELD"}, "", "'headerFieldName' is a required property"),
    ({"environmentVariables": {"DEBUG": False}}, "environmentVariables.DEBUG", "is not of type 'string'"),
    ({"vpcConfig": {"vpcId": "vpc-1", "vSwitchIds": []}}, "vpcConfig", "'securityGroupId' is a required"),
])
def test_field_rules(agent: dict[str, Any], path: str, expected: str) -> None:
    found = messages(project(**agent))
    key = "resources.agent.props.agent" + (f".{path}" if path and not path.startswith("[") else path)
    assert key in found, found
    assert expected in found[key]


def test_unresolved_expressions_are_accepted_where_typed_values_go() -> None:
    """Editors see s.yaml unresolved; at run time `${resources.R.output.x}` is still text."""
    document = project(cpu="${vars.cpu}", name="${vars.env}-agent", internetAccess="${vars.public}",
                       code={"src": "c", "language": "${vars.lang}"},
                       endpoints=[{"name": "e", "version": "${resources.other.output.version}"}])
    document["resources"]["agent"]["props"]["region"] = "${vars.region}"
    assert validate_document(document) == []


def test_endpoint_rules_beyond_the_schema() -> None:
    two_primaries = messages(project(endpoints=[{"name": "a"}, {"name": "b"}, {"name": "c", "weight": 0.5}]))
    assert "exactly one endpoint without weight" in two_primaries["resources.agent.props.agent.endpoints"]
    too_much = messages(project(endpoints=[{"name": "a"}, {"name": "b", "weight": 0.6}, {"name": "c", "weight": 0.5}]))
    assert "add up to 1.1" in too_much["resources.agent.props.agent.endpoints"]
    twice = messages(project(endpoints=[{"name": "a"}, {"name": "a", "version": 1}]))
    assert "used twice" in twice["resources.agent.props.agent.endpoints[1].name"]
    assert validate_document(project(endpoints=[{"name": "prod", "version": 1},
                                                {"name": "canary", "version": 2, "weight": 0.1}])) == []


def test_nas_needs_a_vpc() -> None:
    found = messages(project(nasConfig={"mountPoints": [{"serverAddr": "x:/a", "mountDir": "/mnt"}]}))
    assert "needs vpcConfig" in found["resources.agent.props.agent.nasConfig"]


def test_top_level_shape_is_checked() -> None:
    assert messages({"resources": {}}) == {"": "'edition' is a required property",
                                           "resources": "resources must name at least one resource"}
    document = project()
    document["edition"] = "2.0.0"
    document["resources"]["db"] = {"component": "fc3", "props": {}}
    document["resources"]["nameless"] = {"props": {}}
    assert messages(document) == {
        "edition": "edition must be 3.0.0 (Serverless Devs 3.x)",
        "resources.db.component": "agentctl handles only `component: agentrun`",
        "resources.nameless": "'component' is a required property",
    }
    missing_props = messages({"edition": "3.0.0", "resources": {"a": {"component": "agentrun"}}})
    assert missing_props == {"resources.a": "'props' is a required property"}


def test_violations_carry_resource_and_line_and_sort_by_line() -> None:
    lines = {("resources", "agent", "props", "agent", "cpu"): 14, ("resources", "agent", "props", "agent"): 11}
    found = validate_document(project(cpu=99, memory=1), lambda path: lines.get(tuple(path)))
    assert [(v.resource, v.line) for v in found] == [("agent", 11), ("agent", 14)]  # memory has no line: parent's
    assert found[1].format("s.yaml") == \
        "s.yaml:14 resources.agent.props.agent.cpu: 99 is greater than the maximum of 16"
    assert Violation(None, "", None, "x").format("s.yaml") == "s.yaml: x"


def test_helpers() -> None:
    assert dotted(("resources", "a", "props", "agent", "endpoints", 0, "name")) == \
        "resources.a.props.agent.endpoints[0].name"
    assert all(is_agentrun(c) for c in ("agentrun", "agentrun@0.1.2", "devsapp/agentrun"))
    assert not any(is_agentrun(c) for c in ("fc3", "agentrun-x", None))


def test_validation_does_not_change_the_document() -> None:
    document = project(cpu=99)
    before = copy.deepcopy(document)
    validate_document(document)
    assert document == before
