"""The emulator's contract: the official AgentRun SDK drives all twelve operations against a real daemon."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
from alibabacloud_agentrun20250910 import models
from daemon_support import code_configuration, code_zip, running_daemon, sdk_client, wait_endpoint_ready

from agentctl.emulator import daemon


@pytest.fixture
def emulator() -> Iterator[daemon.DaemonInfo]:
    with running_daemon() as info:
        yield info


def wait_ready(client, runtime_id: str) -> models.AgentRuntime:  # type: ignore[no-untyped-def]
    for _ in range(100):
        runtime = client.get_agent_runtime(runtime_id, models.GetAgentRuntimeRequest()).body.data
        if runtime.status not in ("CREATING", "UPDATING"):
            return runtime
        time.sleep(0.05)
    raise AssertionError(f"runtime {runtime_id} stayed {runtime.status}")


def create_runtime(client, name: str, text: str = "v1") -> models.AgentRuntime:  # type: ignore[no-untyped-def]
    body = models.CreateAgentRuntimeInput().from_map({
        "agentRuntimeName": name, "description": f"{name} runtime", "cpu": 1, "memory": 2048, "port": 9000,
        "sessionConcurrencyLimitPerInstance": 10, "codeConfiguration": code_configuration(code_zip(text)),
        "environmentVariables": {"GREETING": "hi"},
    })
    return client.create_agent_runtime(models.CreateAgentRuntimeRequest(body=body)).body.data


def test_sdk_drives_every_operation(emulator: daemon.DaemonInfo) -> None:
    client = sdk_client(emulator)

    created = create_runtime(client, "sdk-agent")
    assert created.agent_runtime_id and created.status == "CREATING"
    assert created.agent_runtime_arn == f"acs:agentrun:local:local:agentruntimes/{created.agent_runtime_id}"
    runtime_id = created.agent_runtime_id
    runtime = wait_ready(client, runtime_id)
    assert runtime.status == "READY" and runtime.agent_runtime_name == "sdk-agent"
    assert runtime.code_configuration.language == "python3.12" and runtime.code_configuration.zip_file is None
    assert runtime.environment_variables == {"GREETING": "hi"} and runtime.created_at and runtime.last_updated_at

    for name in ("sdk-other-1", "sdk-other-2", "unrelated"):
        wait_ready(client, create_runtime(client, name).agent_runtime_id)
    page1 = client.list_agent_runtimes(models.ListAgentRuntimesRequest(agent_runtime_name="sdk-", page_size=2,
                                                                       page_number=1)).body.data
    page2 = client.list_agent_runtimes(models.ListAgentRuntimesRequest(agent_runtime_name="sdk-", page_size=2,
                                                                       page_number=2)).body.data
    assert page1.total == 3 and page1.page_size == 2 and page1.page_number == 1 and len(page1.items) == 2
    assert [r.agent_runtime_name for r in page1.items + page2.items] == ["sdk-agent", "sdk-other-1", "sdk-other-2"]

    update = models.UpdateAgentRuntimeInput().from_map({"description": "second", "codeConfiguration":
                                                        code_configuration(code_zip("v2"))})
    updated = client.update_agent_runtime(runtime_id, models.UpdateAgentRuntimeRequest(body=update)).body.data
    assert updated.status == "UPDATING" and updated.description == "second"
    assert wait_ready(client, runtime_id).status == "READY"

    publish = models.PublishRuntimeVersionRequest(body=models.PublishRuntimeVersionInput(description="first"))
    v1 = client.publish_runtime_version(runtime_id, publish).body.data
    assert (v1.agent_runtime_version, v1.description, v1.agent_runtime_name) == ("1", "first", "sdk-agent")
    update = models.UpdateAgentRuntimeInput().from_map({"codeConfiguration": code_configuration(code_zip("v3"))})
    client.update_agent_runtime(runtime_id, models.UpdateAgentRuntimeRequest(body=update))
    wait_ready(client, runtime_id)
    v2 = client.publish_runtime_version(runtime_id, models.PublishRuntimeVersionRequest(
        body=models.PublishRuntimeVersionInput(description="second"))).body.data
    assert v2.agent_runtime_version == "2" and v2.agent_runtime_arn == created.agent_runtime_arn
    versions = client.list_agent_runtime_versions(runtime_id, models.ListAgentRuntimeVersionsRequest()).body.data
    assert [v.agent_runtime_version for v in versions.items] == ["1", "2"] and versions.total == 2

    endpoint_in = models.CreateAgentRuntimeEndpointInput().from_map({
        "agentRuntimeEndpointName": "production", "targetVersion": "1", "description": "prod",
        "routingConfiguration": {"versionWeights": [{"version": "2", "weight": 0.1}]},
    })
    endpoint = client.create_agent_runtime_endpoint(
        runtime_id, models.CreateAgentRuntimeEndpointRequest(body=endpoint_in)).body.data
    endpoint_id = endpoint.agent_runtime_endpoint_id
    assert endpoint_id and endpoint.target_version == "1" and endpoint.status == "CREATING"  # versions checked
    endpoint = wait_endpoint_ready(client, runtime_id, endpoint_id)
    assert endpoint.status == "READY", endpoint.status_reason
    assert [(w.version, w.weight) for w in endpoint.routing_configuration.version_weights] == [("2", 0.1)]
    assert endpoint.endpoint_public_url == (f"{emulator.gateway_url}/agent-runtimes/sdk-agent/endpoints/production"
                                            "/invocations")

    got = client.get_agent_runtime_endpoint(runtime_id, endpoint_id).body.data
    assert got.agent_runtime_endpoint_name == "production" and got.agent_runtime_id == runtime_id
    listed = client.list_agent_runtime_endpoints(runtime_id, models.ListAgentRuntimeEndpointsRequest()).body.data
    assert [e.agent_runtime_endpoint_id for e in listed.items] == [endpoint_id] and listed.total == 1

    # Only a new target (no routing), as a client that just moves the endpoint sends it: the old weight on 2 goes.
    retarget = models.UpdateAgentRuntimeEndpointInput().from_map({"targetVersion": "2"})
    retargeted = client.update_agent_runtime_endpoint(
        runtime_id, endpoint_id, models.UpdateAgentRuntimeEndpointRequest(body=retarget)).body.data
    assert retargeted.target_version == "2" and retargeted.routing_configuration.version_weights == []
    back = models.UpdateAgentRuntimeEndpointInput().from_map({
        "targetVersion": "1", "routingConfiguration": {"versionWeights": [{"version": "2", "weight": 0.1}]}})
    client.update_agent_runtime_endpoint(runtime_id, endpoint_id, models.UpdateAgentRuntimeEndpointRequest(body=back))
    described = models.UpdateAgentRuntimeEndpointInput().from_map({"description": "prod"})  # weights are kept
    kept = client.update_agent_runtime_endpoint(
        runtime_id, endpoint_id, models.UpdateAgentRuntimeEndpointRequest(body=described)).body.data
    assert [(w.version, w.weight) for w in kept.routing_configuration.version_weights] == [("2", 0.1)]

    change = models.UpdateAgentRuntimeEndpointInput().from_map({
        "targetVersion": "2", "routingConfiguration": {"versionWeights": []}})
    moved = client.update_agent_runtime_endpoint(
        runtime_id, endpoint_id, models.UpdateAgentRuntimeEndpointRequest(body=change)).body.data
    assert moved.target_version == "2" and moved.routing_configuration.version_weights == []
    assert moved.description == "prod"

    deleted = client.delete_agent_runtime_endpoint(runtime_id, endpoint_id).body.data
    assert deleted.agent_runtime_endpoint_id == endpoint_id
    gone = client.delete_agent_runtime(runtime_id).body.data
    assert gone.agent_runtime_id == runtime_id and gone.status == "DELETING"
    remaining = client.list_agent_runtimes(models.ListAgentRuntimesRequest(agent_runtime_name="sdk-agent")).body.data
    assert remaining.total == 0


def test_sdk_sees_api_errors_with_status_code_and_message(emulator: daemon.DaemonInfo) -> None:
    client = sdk_client(emulator)
    with pytest.raises(Exception) as missing:
        client.get_agent_runtime("no-such-id", models.GetAgentRuntimeRequest())
    assert (missing.value.status_code, missing.value.code) == (404, "AgentRuntimeNotFound")
    assert "no-such-id" in missing.value.message and missing.value.request_id

    runtime_id = create_runtime(client, "twice").agent_runtime_id
    with pytest.raises(Exception) as duplicate:
        create_runtime(client, "twice")
    assert (duplicate.value.status_code, duplicate.value.code) == (409, "AgentRuntimeAlreadyExists")

    wait_ready(client, runtime_id)
    client.publish_runtime_version(runtime_id, models.PublishRuntimeVersionRequest(
        body=models.PublishRuntimeVersionInput(description="v1")))
    with pytest.raises(Exception) as unchanged:
        client.publish_runtime_version(runtime_id, models.PublishRuntimeVersionRequest(
            body=models.PublishRuntimeVersionInput(description="again")))
    assert (unchanged.value.status_code, unchanged.value.code) == (400, "VersionNotChanged")
    assert "version 1" in unchanged.value.message
