"""AgentSpec: typed props with defaults, and the API body the SDK accepts unchanged."""

from __future__ import annotations

from typing import Any

import pytest
from alibabacloud_agentrun20250910 import models

from agentctl.errors import BadInput
from agentctl.spec.model import AgentSpec, EndpointSpec, role_arn


def props(**agent: Any) -> dict[str, Any]:
    base = {"name": "my-agent", "code": {"src": "./code", "language": "python3.12", "command": ["python3", "app.py"]}}
    return {"region": "cn-hangzhou", "agent": {**base, **agent}}


def round_trips(body: dict[str, Any], model: Any) -> bool:
    """The SDK model reads every key and writes it back the same (it adds empty lists of its own)."""
    return _without_empty_lists(model().from_map(body).to_map()) == body


def _without_empty_lists(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _without_empty_lists(v) for k, v in value.items() if v != [] or k == "command"}
    if isinstance(value, list):
        return [_without_empty_lists(v) for v in value]
    return value


def test_defaults_are_applied() -> None:
    spec = AgentSpec.from_props(props())
    assert (spec.cpu, spec.memory, spec.port, spec.instance_concurrency) == (1.0, 2048, 9000, 10)
    assert spec.artifact_type == "Code" and spec.endpoints == [] and spec.build.image is None
    body = spec.to_api(zip_file="UEsFBgAAAAAAAAAAAAAAAAAAAAAAAA==")
    assert body == {
        "agentRuntimeName": "my-agent", "artifactType": "Code",
        "codeConfiguration": {"language": "python3.12", "command": ["python3", "app.py"],
                              "zipFile": "UEsFBgAAAAAAAAAAAAAAAAAAAAAAAA=="},
        "cpu": 1.0, "memory": 2048, "port": 9000, "sessionConcurrencyLimitPerInstance": 10,
        "environmentVariables": {}, "networkConfiguration": {"networkMode": "PUBLIC"},
    }
    assert round_trips(body, models.CreateAgentRuntimeInput)


def test_every_field_maps_to_its_sdk_name() -> None:
    spec = AgentSpec.from_props(props(
        description="d", cpu=2, memory=4096, diskSize=10240, port=8000, instanceConcurrency=50, role="AgentRole",
        environmentVariables={"A": "1", "N": 2, "B": True}, credentialName="cred",
        vpcConfig={"vpcId": "vpc-1", "vSwitchIds": ["vsw-1", "vsw-2"], "securityGroupId": "sg-1"},
        logConfig={"project": "p", "logstore": "l"}, healthCheckConfiguration={"periodSeconds": 5},
        nasConfig={"userId": 10, "groupId": 10, "mountPoints": [{"serverAddr": "n:/a", "mountDir": "/mnt",
                                                                 "enableTLS": True}]},
        ossMountConfig={"mountPoints": [{"bucketName": "b", "bucketPath": "/", "mountDir": "/oss", "readOnly": True}]},
        protocolConfiguration={"type": "HTTP"}, sessionAffinityType="HEADER_FIELD", headerFieldName="x-session",
        sessionIdleTimeoutSeconds=600, enableSessionIsolation=True, disableSessionAffinity=False,
    ), account_id="1234567890")
    body = spec.to_api(oss=("bucket", "obj.zip"))
    assert body["sessionConcurrencyLimitPerInstance"] == 50
    assert body["executionRoleArn"] == "acs:ram::1234567890:role/AgentRole"
    assert body["networkConfiguration"] == {"networkMode": "PUBLIC_AND_PRIVATE", "vpcId": "vpc-1",
                                            "vswitchIds": ["vsw-1", "vsw-2"], "securityGroupId": "sg-1"}
    assert body["codeConfiguration"] == {"language": "python3.12", "command": ["python3", "app.py"],
                                         "ossBucketName": "bucket", "ossObjectName": "obj.zip"}
    assert body["environmentVariables"] == {"A": "1", "N": "2", "B": "true"}
    assert body["healthCheckConfiguration"] == {"httpGetUrl": "/health", "initialDelaySeconds": 30,
                                                "periodSeconds": 5, "timeoutSeconds": 3, "failureThreshold": 3,
                                                "successThreshold": 1}
    assert (body["diskSize"], body["sessionAffinityType"], body["headerFieldName"]) == (10240, "HEADER_FIELD",
                                                                                        "x-session")
    assert body["disableSessionAffinity"] is False and body["enableSessionIsolation"] is True
    assert round_trips(body, models.CreateAgentRuntimeInput)
    assert round_trips(body, models.UpdateAgentRuntimeInput)


def test_container_agent_maps_to_container_configuration() -> None:
    agent = props(customContainerConfig={"image": "reg/ns/a:v1", "command": "serve", "port": 8080,
                                         "imageRegistryType": "ACREE", "acrInstanceId": "cri-1"})
    del agent["agent"]["code"]
    agent["build"] = {"context": ".", "dockerfile": "Dockerfile"}
    spec = AgentSpec.from_props(agent)
    body = spec.to_api(image="reg/ns/a:built")
    assert body["artifactType"] == "Container" and "codeConfiguration" not in body
    assert body["containerConfiguration"] == {"image": "reg/ns/a:built", "command": ["serve"], "port": 8080,
                                              "imageRegistryType": "ACREE", "acrInstanceId": "cri-1"}
    assert (spec.build.context, spec.build.dockerfile) == (".", "Dockerfile")
    assert round_trips(body, models.CreateAgentRuntimeInput)


@pytest.mark.parametrize("vpc, internet, mode", [(None, None, "PUBLIC"), (None, False, "PRIVATE"),
                                                 ({"vpcId": "v", "vSwitchIds": "s", "securityGroupId": "g"}, False,
                                                  "PRIVATE")])
def test_network_mode(vpc: Any, internet: Any, mode: str) -> None:
    extra = {k: v for k, v in (("vpcConfig", vpc), ("internetAccess", internet)) if v is not None}
    assert AgentSpec.from_props(props(**extra)).network_configuration()["networkMode"] == mode


def test_role_arn_rules() -> None:
    assert role_arn("R", "42") == "acs:ram::42:role/R"
    assert role_arn("acs:ram::1:role/R", "42") == "acs:ram::1:role/R"
    assert role_arn("R", None) == "R"  # no account (e.g. the local alias): left as written
    assert role_arn(None, "42") is None


def test_endpoints_are_typed() -> None:
    """(The weighted-endpoint rule itself is deploy's: tests/deploy/test_endpoints.py.)"""
    spec = AgentSpec.from_props(props(endpoints=[{"name": "prod", "version": 1, "description": "p"},
                                                 {"name": "canary", "version": "2", "weight": 0.1},
                                                 {"name": "dev"}]))
    assert spec.endpoints == [EndpointSpec("prod", "1", None, "p"), EndpointSpec("canary", "2", 0.1),
                              EndpointSpec("dev", "LATEST")]


@pytest.mark.parametrize("bad, message", [
    ({"agent": {}}, "name is missing"),
    (props(customContainerConfig={"image": "i"}), "exactly one of"),
    (props(code={"src": "c"}), "needs a language"),
    (props(code={"language": "python3.12"}), "needs src"),
    (props(cpu="${resources.x.output.cpu}"), "cpu must be a number"),
    (props(memory=100.5), "memory must be a whole number"),
    (props(environmentVariables=["A=1"]), "environmentVariables must map"),
    (props(endpoints=[{"version": 1}]), "needs a name"),
])
def test_props_the_model_cannot_use_raise_bad_input(bad: dict[str, Any], message: str) -> None:
    with pytest.raises(BadInput, match=message) as caught:
        AgentSpec.from_props(bad)
    assert "agentctl verify" in (caught.value.hint or "")
