"""Fixed signing inputs shared by test_signing_sdk.py and make_sdk_vectors.py, and the SDK's signer for them."""

from __future__ import annotations

from typing import Any

from agentctl.api.signing import sign

KEY, SECRET = "LTAI5tFixedKeyId", "FixedSecretValue0123456789abcd"
DATE, NONCE = "2025-09-10T08:00:00Z", "3f1c0e6a9b2d4c5e8f7a6b5c4d3e2f10"
HOST = "agentrun.cn-hangzhou.aliyuncs.com"
_JSON = "application/json; charset=utf-8"


def _headers(action: str, *, json_body: bool = False) -> dict[str, str]:
    headers = {"host": HOST, "x-acs-action": action, "x-acs-version": "2025-09-10", "accept": "application/json",
               "user-agent": "AlibabaCloud (Linux; x86_64) Python/3.11.7 Core/0.4.3 TeaDSL/2"}
    return {**headers, "content-type": _JSON} if json_body else headers


CASES: list[dict[str, Any]] = [
    {"name": "roa-post-json-body", "method": "POST", "path": "/2025-09-10/agents/runtimes", "query": {},
     "headers": _headers("CreateAgentRuntime", json_body=True),
     "body": '{"agentRuntimeName":"my-agent","cpu":1.0,"memory":2048,"environmentVariables":{"GREETING":"héllo"}}'},
    {"name": "get-with-query", "method": "GET", "path": "/2025-09-10/agents/runtimes",
     "query": {"pageNumber": "1", "pageSize": "50", "agentRuntimeName": "my agent+v2&x=y/~*"},
     "headers": _headers("ListAgentRuntimes"), "body": ""},
    {"name": "delete", "method": "DELETE", "path": "/2025-09-10/agents/runtimes/ar-123/endpoints/ep-9",
     "query": {}, "headers": _headers("DeleteAgentRuntimeEndpoint"), "body": ""},
    {"name": "path-special-characters", "method": "PUT",
     "path": "/2025-09-10/agents/runtimes/a%20b%2Fc%C3%A9/endpoints/e%2A~1",
     "query": {}, "headers": _headers("UpdateAgentRuntimeEndpoint", json_body=True),
     "body": '{"targetVersion":"1","routingConfiguration":{"versionWeights":[{"version":"2","weight":0.1}]}}'},
    {"name": "empty-body-post", "method": "POST", "path": "/2025-09-10/agents/runtimes/ar-123/versions",
     "query": {}, "headers": _headers("PublishRuntimeVersion"), "body": ""},
    {"name": "empty-query-value", "method": "GET", "path": "/2025-09-10/agents/runtimes/ar-123",
     "query": {"agentRuntimeVersion": ""}, "headers": _headers("GetAgentRuntime"), "body": ""},
    {"name": "sts-security-token", "method": "GET", "path": "/2025-09-10/agents/runtimes/ar-123/versions",
     "query": {"pageNumber": "2"}, "headers": _headers("ListAgentRuntimeVersions"), "body": "",
     "security_token": "CAIS-sts-token=="},
    {"name": "header-whitespace-and-case", "method": "GET", "path": "/2025-09-10/agents/runtimes", "query": {},
     "headers": {**_headers("ListAgentRuntimes"), "X-Acs-Custom": "  padded value  "}, "body": ""},
]


def agentctl_headers(case: dict[str, Any]) -> dict[str, str]:
    return sign(case["method"], case["path"], case["query"], case["headers"], case["body"], KEY, SECRET,
                security_token=case.get("security_token"), date=DATE, nonce=NONCE)


def sdk_headers(case: dict[str, Any]) -> dict[str, str]:
    """The headers the SDK sends for the same request, built as its ``do_request`` builds them and
    signed by its own ``Utils.get_authorization``."""
    from alibabacloud_tea_openapi.utils import Utils
    from darabonba.request import DaraRequest

    body = case["body"].encode()
    headers = {**case["headers"], "x-acs-date": DATE, "x-acs-signature-nonce": NONCE,
               "x-acs-content-sha256": Utils.hash(body, "ACS3-HMAC-SHA256").hex()}
    if case.get("security_token"):
        headers |= {"x-acs-accesskey-id": KEY, "x-acs-security-token": case["security_token"]}
    request = DaraRequest()
    request.method, request.pathname, request.query = case["method"], case["path"], dict(case["query"])
    request.headers = headers
    payload = Utils.hash(body, "ACS3-HMAC-SHA256").hex()
    return {**headers, "Authorization": Utils.get_authorization(request, "ACS3-HMAC-SHA256", payload, KEY, SECRET)}
