"""AgentRunClient against a real loopback server that checks every signature: routes, paging,
error mapping, connection failures and the --debug log."""

from __future__ import annotations

import socket

import httpx
import pytest
from api_testserver import KEY_ID, SECRET, ApiServer, ok

from agentctl.access import Credentials
from agentctl.api.client import AgentRunClient, base_url, mask
from agentctl.errors import ApiError, AuthError, BackendError, NotFound

CREDS = Credentials(access_key_id=KEY_ID, access_key_secret=SECRET)


def _client(server: ApiServer, **kwargs) -> AgentRunClient:
    return AgentRunClient(server.url, kwargs.pop("credentials", CREDS), **kwargs)


def test_every_method_calls_its_operation_and_returns_data(api_server):
    calls = []

    def respond(op, params, query, body):
        calls.append((op, params, query, body))
        return ok({"items": [{"n": 1}], "total": 1} if op and op.startswith("List") else {"op": op})

    api_server.responder = respond
    rid, eid = "ar id/é*", "ep~1"
    with _client(api_server) as c:
        assert c.create_agent_runtime({"agentRuntimeName": "demo"}) == {"op": "CreateAgentRuntime"}
        c.update_agent_runtime(rid, {"description": "x"})
        c.get_agent_runtime(rid)
        assert c.list_agent_runtimes("demo") == [{"n": 1}]
        c.publish_runtime_version(rid, "first")
        c.list_agent_runtime_versions(rid)
        c.create_agent_runtime_endpoint(rid, {"agentRuntimeEndpointName": "prod", "targetVersion": "1"})
        c.update_agent_runtime_endpoint(rid, eid, {"targetVersion": "2"})
        c.get_agent_runtime_endpoint(rid, eid)
        c.list_agent_runtime_endpoints(rid)
        c.delete_agent_runtime_endpoint(rid, eid)
        c.delete_agent_runtime(rid)
    ops = [op for op, *_ in calls]
    assert ops == ["CreateAgentRuntime", "UpdateAgentRuntime", "GetAgentRuntime", "ListAgentRuntimes",
                   "PublishRuntimeVersion", "ListAgentRuntimeVersions", "CreateAgentRuntimeEndpoint",
                   "UpdateAgentRuntimeEndpoint", "GetAgentRuntimeEndpoint", "ListAgentRuntimeEndpoints",
                   "DeleteAgentRuntimeEndpoint", "DeleteAgentRuntime"]
    assert calls[7][1] == {"agentRuntimeId": rid, "agentRuntimeEndpointId": eid}  # ids survive the round trip
    assert calls[3][2]["agentRuntimeName"] == "demo"
    assert calls[4][3] == {"description": "first"}
    actions = [dict((k.lower(), v) for k, v in c.headers)["x-acs-action"] for c in api_server.captured]
    assert actions == ops


def test_list_follows_pages_to_the_end(api_server):
    runtimes = [{"agentRuntimeId": f"ar-{i}", "agentRuntimeName": f"rt-{i}"} for i in range(123)]

    def respond(op, params, query, body):
        number, size = int(query["pageNumber"]), int(query["pageSize"])
        items = runtimes[(number - 1) * size: number * size]
        return ok({"items": items, "pageNumber": number, "pageSize": size, "total": len(runtimes)})

    api_server.responder = respond
    with _client(api_server) as c:
        assert c.list_agent_runtimes() == runtimes
    assert [dict(r.query)["pageNumber"] for r in api_server.captured] == ["1", "2", "3"]


def test_list_stops_on_an_empty_page_even_if_total_is_wrong(api_server):
    api_server.responder = lambda op, params, query, body: ok(
        {"items": [{"i": 1}] * 50 if query["pageNumber"] == "1" else [], "total": 999})
    with _client(api_server) as c:
        assert len(c.list_agent_runtime_versions("ar-1")) == 50
    assert len(api_server.captured) == 2


def test_error_reply_becomes_api_error_with_code_request_id_and_hint(api_server):
    api_server.responder = lambda *a: (404, {"code": "ERR_NOT_FOUND", "message": "runtime ar-9 not found",
                                             "requestId": "req-404"})
    with _client(api_server) as c, pytest.raises(ApiError) as caught:
        c.get_agent_runtime("ar-9")
    err = caught.value
    assert (err.status, err.code, err.request_id) == (404, "ERR_NOT_FOUND", "req-404")
    assert err.exit_code == NotFound.exit_code
    assert "runtime ar-9 not found" in err.message and "GetAgentRuntime" in err.message
    assert err.hint


def test_fc_style_error_fields_are_understood(api_server):
    api_server.responder = lambda *a: (400, {"Code": "InvalidArgument", "Message": "bad", "RequestId": "r"})
    with _client(api_server) as c, pytest.raises(ApiError) as caught:
        c.delete_agent_runtime("x")
    assert (caught.value.code, caught.value.request_id) == ("InvalidArgument", "r")


def test_non_json_server_error_still_maps(api_server):
    api_server.responder = lambda *a: (502, "upstream exploded")
    with _client(api_server) as c, pytest.raises(ApiError) as caught:
        c.get_agent_runtime("x")
    assert caught.value.status == 502 and caught.value.hint


def test_wrong_secret_is_an_auth_error_with_a_hint(api_server):
    bad = Credentials(access_key_id=KEY_ID, access_key_secret="wrong")
    with _client(api_server, credentials=bad) as c, pytest.raises(ApiError) as caught:
        c.list_agent_runtimes()
    assert caught.value.code == "SignatureDoesNotMatch" and caught.value.status == 403
    assert caught.value.exit_code == AuthError.exit_code
    assert "secret" in caught.value.hint


def test_replaying_a_client_request_is_refused(api_server):
    with _client(api_server) as c:
        c.get_agent_runtime("ar-1")
    first = api_server.captured[0]
    headers = {k: v for k, v in first.headers if k.lower() not in ("content-length", "accept-encoding")}
    reply = httpx.get(api_server.url + first.raw_path, headers=headers, trust_env=False)
    assert reply.status_code == 403 and reply.json()["code"] == "SignatureNonceUsed"


def test_sts_token_is_sent_and_signed(api_server):
    sts = Credentials(access_key_id=KEY_ID, access_key_secret=SECRET, security_token="sts-token")
    with _client(api_server, credentials=sts) as c:
        c.get_agent_runtime("ar-1")
    headers = dict((k.lower(), v) for k, v in api_server.captured[0].headers)
    assert headers["x-acs-security-token"] == "sts-token"
    assert "x-acs-security-token" in headers["authorization"]


def test_unreachable_emulator_is_a_backend_error_with_a_hint():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed again before use: nothing listens there
    with AgentRunClient(f"http://127.0.0.1:{port}", CREDS) as c, pytest.raises(BackendError) as caught:
        c.list_agent_runtimes()
    assert not isinstance(caught.value, ApiError)
    assert f"127.0.0.1:{port}" in caught.value.message
    assert "agentctl local start" in caught.value.hint


def test_debug_log_masks_secrets_and_shortens_zip(api_server):
    lines: list[str] = []
    zip_b64 = "UEsDBBQ" * 5000
    body = {"agentRuntimeName": "demo", "codeConfiguration": {"zipFile": zip_b64, "language": "python3.12"},
            "environmentVariables": {"OPENAI_API_KEY": "sk-very-secret", "GREETING": "hello"}}
    api_server.responder = lambda *a: ok({"agentRuntimeId": "ar-1", "status": "CREATING"})
    with _client(api_server, debug=True, log=lines.append) as c:
        c.create_agent_runtime(body)
    text = "\n".join(lines)
    assert f"POST {api_server.url}/2025-09-10/agents/runtimes" in text and "CreateAgentRuntime" in text
    assert f"<{len(zip_b64)} base64 chars>" in text and zip_b64[:100] not in text
    assert "sk-very-secret" not in text and '"GREETING": "hello"' in text
    assert SECRET not in text and "Signature=" not in text
    assert "← 200" in text and "CREATING" in text


def test_debug_off_logs_nothing(api_server):
    lines: list[str] = []
    with _client(api_server, log=lines.append) as c:
        c.get_agent_runtime("ar-1")
    assert lines == []


def test_mask_leaves_other_values_and_the_input_alone():
    data = {"a": [{"accessKeySecret": "s", "x": 1}], "zipFile": "abc", "token": ""}
    assert mask(data) == {"a": [{"accessKeySecret": "***", "x": 1}], "zipFile": "<3 base64 chars>", "token": ""}
    assert data["a"][0]["accessKeySecret"] == "s"


@pytest.mark.parametrize(("endpoint", "url"), [
    ("http://127.0.0.1:8080", "http://127.0.0.1:8080"),
    ("127.0.0.1:8080", "http://127.0.0.1:8080"),
    ("localhost:9", "http://localhost:9"),
    ("agentrun.cn-hangzhou.aliyuncs.com", "https://agentrun.cn-hangzhou.aliyuncs.com"),
    ("https://agentrun.cn-hangzhou.aliyuncs.com/", "https://agentrun.cn-hangzhou.aliyuncs.com"),
])
def test_endpoint_forms(endpoint, url):
    assert base_url(endpoint) == url


def test_a_proxy_in_the_environment_does_not_capture_emulator_calls(api_server, monkeypatch):
    monkeypatch.setenv("HTTP_PROXY", "http://127.0.0.1:1")  # a dead proxy
    monkeypatch.setenv("ALL_PROXY", "http://127.0.0.1:1")
    with _client(api_server) as c:
        c.get_agent_runtime("ar-1")
    assert len(api_server.captured) == 1
