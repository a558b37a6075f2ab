"""Every control request must be signed with the `local` keys: wrong, missing, stale or replayed → 401/403."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest
from alibabacloud_agentrun20250910 import models
from daemon_support import code_configuration, code_zip, running_daemon, sdk_client
from darabonba.core import DaraCore

from agentctl.access import AccessStore
from agentctl.api.signing import format_date, sign
from agentctl.emulator import daemon


@pytest.fixture
def emulator() -> Iterator[daemon.DaemonInfo]:
    with running_daemon() as info:
        yield info


def send(url: str, method: str, headers: dict[str, str], body: bytes | None = None) -> tuple[int, dict[str, Any]]:
    request = urllib.request.Request(url, data=body, method=method, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=10) as reply:
            return reply.status, json.loads(reply.read())
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read())


def signed(info: daemon.DaemonInfo, method: str, path: str, body: bytes = b"", *, secret: str | None = None,
           date: str | None = None, nonce: str | None = None) -> tuple[int, dict[str, Any]]:
    creds = AccessStore().get("local")
    assert creds is not None
    headers = sign(method, path, {}, {"host": f"127.0.0.1:{info.control_port}", "x-acs-action": "ListAgentRuntimes",
                                      "x-acs-version": "2025-09-10", "content-type": "application/json"},
                   body, creds.access_key_id, secret or creds.access_key_secret, date=date, nonce=nonce)
    return send(info.control_url + path, method, headers, body or None)


def all_operations(client: Any, runtime_id: str, endpoint_id: str) -> dict[str, Any]:
    """One call per operation of the API, as zero-argument functions."""
    create = models.CreateAgentRuntimeInput().from_map(
        {"agentRuntimeName": "other", "codeConfiguration": code_configuration(code_zip())})
    endpoint = models.CreateAgentRuntimeEndpointInput(agent_runtime_endpoint_name="e2")
    return {
        "CreateAgentRuntime": lambda: client.create_agent_runtime(models.CreateAgentRuntimeRequest(body=create)),
        "UpdateAgentRuntime": lambda: client.update_agent_runtime(runtime_id, models.UpdateAgentRuntimeRequest(
            body=models.UpdateAgentRuntimeInput(description="x"))),
        "GetAgentRuntime": lambda: client.get_agent_runtime(runtime_id, models.GetAgentRuntimeRequest()),
        "ListAgentRuntimes": lambda: client.list_agent_runtimes(models.ListAgentRuntimesRequest()),
        "DeleteAgentRuntime": lambda: client.delete_agent_runtime(runtime_id),
        "PublishRuntimeVersion": lambda: client.publish_runtime_version(runtime_id, models.PublishRuntimeVersionRequest(
            body=models.PublishRuntimeVersionInput(description="v"))),
        "ListAgentRuntimeVersions": lambda: client.list_agent_runtime_versions(
            runtime_id, models.ListAgentRuntimeVersionsRequest()),
        "CreateAgentRuntimeEndpoint": lambda: client.create_agent_runtime_endpoint(
            runtime_id, models.CreateAgentRuntimeEndpointRequest(body=endpoint)),
        "UpdateAgentRuntimeEndpoint": lambda: client.update_agent_runtime_endpoint(
            runtime_id, endpoint_id, models.UpdateAgentRuntimeEndpointRequest(
                body=models.UpdateAgentRuntimeEndpointInput(description="x"))),
        "GetAgentRuntimeEndpoint": lambda: client.get_agent_runtime_endpoint(runtime_id, endpoint_id),
        "ListAgentRuntimeEndpoints": lambda: client.list_agent_runtime_endpoints(
            runtime_id, models.ListAgentRuntimeEndpointsRequest()),
        "DeleteAgentRuntimeEndpoint": lambda: client.delete_agent_runtime_endpoint(runtime_id, endpoint_id),
    }


def test_wrong_secret_is_refused_for_every_operation_and_changes_nothing(emulator: daemon.DaemonInfo) -> None:
    good = sdk_client(emulator)
    runtime_id = good.create_agent_runtime(models.CreateAgentRuntimeRequest(body=models.CreateAgentRuntimeInput(
        ).from_map({"agentRuntimeName": "a1", "codeConfiguration": code_configuration(code_zip())}))
    ).body.data.agent_runtime_id
    endpoint_id = good.create_agent_runtime_endpoint(runtime_id, models.CreateAgentRuntimeEndpointRequest(
        body=models.CreateAgentRuntimeEndpointInput(agent_runtime_endpoint_name="e1"))).body.data.agent_runtime_endpoint_id

    operations = all_operations(sdk_client(emulator, secret="not-the-secret"), runtime_id, endpoint_id)
    assert len(operations) == 12
    for name, call in operations.items():
        with pytest.raises(Exception) as caught:
            call()
        assert caught.value.status_code == 403, name
        assert caught.value.code == "SignatureDoesNotMatch", name

    runtimes = good.list_agent_runtimes(models.ListAgentRuntimesRequest()).body.data
    assert [r.agent_runtime_name for r in runtimes.items] == ["a1"] and runtimes.items[0].description is None
    assert good.list_agent_runtime_endpoints(runtime_id, models.ListAgentRuntimeEndpointsRequest()).body.data.total == 1


def test_a_captured_request_replayed_unchanged_is_refused(emulator: daemon.DaemonInfo,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    captured: list[tuple[str, str, dict[str, str], bytes | None]] = []
    original = DaraCore.do_action

    def recording(request: Any, runtime_option: Any = None) -> Any:
        body = request.body.encode() if isinstance(request.body, str) else request.body
        captured.append((DaraCore.compose_url(request), request.method, dict(request.headers), body))
        return original(request, runtime_option)

    monkeypatch.setattr(DaraCore, "do_action", staticmethod(recording))
    create = models.CreateAgentRuntimeInput().from_map(
        {"agentRuntimeName": "replayed", "codeConfiguration": code_configuration(code_zip())})
    sdk_client(emulator).create_agent_runtime(models.CreateAgentRuntimeRequest(body=create))
    monkeypatch.setattr(DaraCore, "do_action", staticmethod(original))

    (url, method, headers, body), = captured
    status, reply = send(url, method, headers, body)
    assert (status, reply["code"]) == (403, "SignatureNonceUsed")
    assert reply["requestId"] and "replay" in reply["message"]
    listed = sdk_client(emulator).list_agent_runtimes(models.ListAgentRuntimesRequest()).body.data
    assert listed.total == 1


def test_unsigned_request_gets_401_missing_authorization(emulator: daemon.DaemonInfo) -> None:
    status, reply = send(emulator.control_url + "/2025-09-10/agents/runtimes", "GET", {})
    assert (status, reply["code"]) == (401, "MissingAuthorization")
    assert set(reply) == {"code", "message", "requestId"}


def test_stale_date_is_refused_even_with_a_good_signature(emulator: daemon.DaemonInfo) -> None:
    import time

    status, reply = signed(emulator, "GET", "/2025-09-10/agents/runtimes", date=format_date(time.time() - 16 * 60))
    assert (status, reply["code"]) == (403, "InvalidTimeStamp.Expired")


def test_signed_request_with_the_local_keys_is_accepted_once(emulator: daemon.DaemonInfo) -> None:
    status, reply = signed(emulator, "GET", "/2025-09-10/agents/runtimes", nonce="fixed-nonce-1")
    assert status == 200 and reply["code"] == "SUCCESS" and reply["data"]["items"] == []
    status, reply = signed(emulator, "GET", "/2025-09-10/agents/runtimes", nonce="fixed-nonce-1")
    assert (status, reply["code"]) == (403, "SignatureNonceUsed")


def test_unknown_access_key_is_refused(emulator: daemon.DaemonInfo) -> None:
    headers = sign("GET", "/2025-09-10/agents/runtimes", {}, {"host": f"127.0.0.1:{emulator.control_port}"}, b"",
                   "LTAIunknown", "whatever")
    status, reply = send(emulator.control_url + "/2025-09-10/agents/runtimes", "GET", headers)
    assert (status, reply["code"]) == (403, "InvalidAccessKeyId.NotFound")


def test_a_body_changed_after_signing_is_refused(emulator: daemon.DaemonInfo) -> None:
    creds = AccessStore().get("local")
    assert creds is not None
    path = "/2025-09-10/agents/runtimes"
    headers = sign("POST", path, {}, {"host": f"127.0.0.1:{emulator.control_port}"}, b'{"agentRuntimeName": "a"}',
                   creds.access_key_id, creds.access_key_secret)
    status, reply = send(emulator.control_url + path, "POST", headers, b'{"agentRuntimeName": "b"}')
    assert (status, reply["code"]) == (403, "SignatureDoesNotMatch")


def test_a_captured_request_replayed_after_a_daemon_restart_is_refused() -> None:
    """The nonces seen in the last 15 minutes survive a restart (they are journaled in the state directory)."""
    first = daemon.ensure_running()
    try:
        creds = AccessStore().get("local")
        assert creds is not None
        path = "/2025-09-10/agents/runtimes"
        headers = sign("GET", path, {}, {"host": f"127.0.0.1:{first.control_port}", "x-acs-action": "ListAgentRuntimes",
                                         "x-acs-version": "2025-09-10"}, b"", creds.access_key_id,
                       creds.access_key_secret)
        assert send(first.control_url + path, "GET", headers)[0] == 200
        daemon.stop()
        again = daemon.ensure_running()
        assert again.control_port == first.control_port  # the same port: the captured request fits as it is
        status, reply = send(again.control_url + path, "GET", headers)
        assert (status, reply["code"]) == (403, "SignatureNonceUsed")
    finally:
        daemon.stop()
