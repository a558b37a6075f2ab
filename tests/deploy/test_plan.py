"""The deploy plan as data: what changes, and the empty plan when nothing does. No network."""

from __future__ import annotations

import pytest

from agentctl.deploy.endpoints import DesiredEndpoint, Routing
from agentctl.deploy.plan import CreateEndpoint, CreateRuntime, UpdateEndpoint, UpdateRuntime, plan_deploy
from agentctl.errors import NotFound

BODY = {
    "agentRuntimeName": "echo",
    "cpu": 1,
    "memory": 2048,
    "environmentVariables": {"A": "1"},
    "codeConfiguration": {"language": "python3.12", "command": ["python3", "app.py"], "zipFile": "UEsF",
                          "checksum": "123"},
}
# What the backend reports: the zip is not echoed, numbers may be floats, extra fields appear.
CURRENT = {
    "agentRuntimeId": "rt-1", "agentRuntimeName": "echo", "status": "READY", "cpu": 1.0, "memory": 2048,
    "environmentVariables": {"A": "1"}, "createdAt": "2025-01-01T00:00:00Z",
    "codeConfiguration": {"language": "python3.12", "command": ["python3", "app.py"], "checksum": "123"},
}
DEFAULT_EP = {"agentRuntimeEndpointId": "ep-1", "agentRuntimeEndpointName": "default", "targetVersion": "LATEST",
              "routingConfiguration": {"versionWeights": []}}


def test_new_runtime_is_created_with_a_default_endpoint() -> None:
    plan = plan_deploy("echo", BODY, None, [])
    assert [type(s) for s in plan.steps] == [CreateRuntime, CreateEndpoint]
    assert plan.messages == ["create agent runtime echo", "create endpoint default → 100% → LATEST"]


def test_unchanged_runtime_gives_an_empty_plan() -> None:
    plan = plan_deploy("echo", BODY, CURRENT, [], [DEFAULT_EP])
    assert not plan and plan.steps == ()


def test_changed_code_checksum_updates_the_runtime() -> None:
    body = {**BODY, "codeConfiguration": {**BODY["codeConfiguration"], "checksum": "456"}}
    (step,) = plan_deploy("echo", body, CURRENT, [], [DEFAULT_EP]).steps
    assert isinstance(step, UpdateRuntime) and step.changed == ("codeConfiguration",)
    assert step.runtime_id == "rt-1"


def test_changed_config_names_the_fields() -> None:
    body = {**BODY, "memory": 4096, "environmentVariables": {"A": "2"}}
    (step,) = plan_deploy("echo", body, CURRENT, [], [DEFAULT_EP]).steps
    assert isinstance(step, UpdateRuntime)
    assert step.changed == ("memory", "environmentVariables")
    assert "memory, environmentVariables" in step.message


def test_failed_runtime_is_updated_again_even_when_unchanged() -> None:
    (step,) = plan_deploy("echo", BODY, {**CURRENT, "status": "UPDATE_FAILED"}, [], [DEFAULT_EP]).steps
    assert isinstance(step, UpdateRuntime)


def test_endpoints_not_named_in_spec_are_left_alone() -> None:
    production = {"agentRuntimeEndpointId": "ep-2", "agentRuntimeEndpointName": "production", "targetVersion": "1"}
    plan = plan_deploy("echo", BODY, CURRENT, [DesiredEndpoint("default", Routing("LATEST"))],
                       [DEFAULT_EP, production], ["1"])
    assert not plan


def test_no_default_endpoint_when_the_runtime_already_has_one() -> None:
    production = {"agentRuntimeEndpointId": "ep-2", "agentRuntimeEndpointName": "production", "targetVersion": "1"}
    assert not plan_deploy("echo", BODY, CURRENT, [], [production], ["1"])


def test_spec_endpoint_with_other_routing_is_updated() -> None:
    wanted = [DesiredEndpoint("default", Routing("LATEST", (("1", 0.2),)))]
    (step,) = plan_deploy("echo", BODY, CURRENT, wanted, [DEFAULT_EP], ["1"]).steps
    assert isinstance(step, UpdateEndpoint) and step.endpoint_id == "ep-1"
    assert step.message == "update endpoint default → 80% → LATEST, 20% → 1"


def test_spec_routing_to_an_unpublished_version_is_refused() -> None:
    with pytest.raises(NotFound, match="version 2 of echo, which is not published"):
        plan_deploy("echo", BODY, CURRENT, [DesiredEndpoint("prod", Routing("2"))], [DEFAULT_EP], ["1"])
