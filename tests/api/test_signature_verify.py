"""``verify`` accepts what the official SDK sends over real HTTP, and rejects tampered, wrongly signed,
stale, replayed and unsigned requests with the right status and code."""

from __future__ import annotations

import dataclasses
from datetime import datetime, timezone

import pytest
from api_testserver import KEY_ID, SECRET, Captured, ok

from agentctl.api.signing import NonceCache, SignatureError, sign, verify

sdk_client = pytest.importorskip("alibabacloud_agentrun20250910.client")
sdk_models = pytest.importorskip("alibabacloud_agentrun20250910.models")


def _sdk(url: str, secret: str = SECRET):
    from alibabacloud_tea_openapi.utils_models import Config

    host = url.removeprefix("http://")
    return sdk_client.Client(Config(access_key_id=KEY_ID, access_key_secret=secret, endpoint=host, protocol="HTTP"))


def _all_twelve(sdk, rid: str = "ar id/é*~", eid: str = "ep+1") -> None:
    m = sdk_models
    code = m.CodeConfiguration(language="python3.12", command=["python", "app.py"], zip_file="UEsFBgAAAAAA")
    sdk.create_agent_runtime(m.CreateAgentRuntimeRequest(body=m.CreateAgentRuntimeInput(
        agent_runtime_name="demo", artifact_type="Code", code_configuration=code, cpu=1.0, memory=2048)))
    sdk.get_agent_runtime(rid, m.GetAgentRuntimeRequest(agent_runtime_version="LATEST"))
    sdk.list_agent_runtimes(m.ListAgentRuntimesRequest(agent_runtime_name="demo agent&x", page_number=2, page_size=1))
    sdk.update_agent_runtime(rid, m.UpdateAgentRuntimeRequest(body=m.UpdateAgentRuntimeInput(description="ü")))
    publish = m.PublishRuntimeVersionInput(description="v1")
    sdk.publish_runtime_version(rid, m.PublishRuntimeVersionRequest(body=publish))
    sdk.list_agent_runtime_versions(rid, m.ListAgentRuntimeVersionsRequest(page_number=1, page_size=10))
    routing = m.RoutingConfiguration(version_weights=[m.VersionWeight(version="2", weight=0.1)])
    sdk.create_agent_runtime_endpoint(rid, m.CreateAgentRuntimeEndpointRequest(body=m.CreateAgentRuntimeEndpointInput(
        agent_runtime_endpoint_name="production", target_version="1", routing_configuration=routing)))
    sdk.get_agent_runtime_endpoint(rid, eid)
    sdk.list_agent_runtime_endpoints(rid, m.ListAgentRuntimeEndpointsRequest(endpoint_name="production"))
    sdk.update_agent_runtime_endpoint(rid, eid, m.UpdateAgentRuntimeEndpointRequest(
        body=m.UpdateAgentRuntimeEndpointInput(target_version="2")))
    sdk.delete_agent_runtime_endpoint(rid, eid)
    sdk.delete_agent_runtime(rid)


@pytest.fixture
def sdk_request(api_server) -> Captured:
    """One real request as the SDK sends it (captured by the loopback server, then verified)."""
    api_server.responder = lambda *args: ok({})
    sdk = _sdk(api_server.url)
    m = sdk_models
    sdk.update_agent_runtime("ar-1", m.UpdateAgentRuntimeRequest(body=m.UpdateAgentRuntimeInput(cpu=2.0)))
    return api_server.captured[-1]


def _verify(req: Captured, *, secret: str = SECRET, nonces: NonceCache | None = None, now: float | None = None):
    return verify(req.method, req.raw_path, req.query, req.headers, req.body, {KEY_ID: secret}.get,
                  nonces=nonces, now=now)


def _rejected(req: Captured, status: int, code: str, **kwargs) -> None:
    with pytest.raises(SignatureError) as caught:
        _verify(req, **kwargs)
    assert (caught.value.status, caught.value.code) == (status, code), caught.value.message


def _with_header(req: Captured, name: str, value: str | None) -> Captured:
    headers = [(k, v) for k, v in req.headers if k.lower() != name.lower()]
    return dataclasses.replace(req, headers=headers + ([(name, value)] if value is not None else []))


def test_all_twelve_sdk_operations_pass_verification_over_http(api_server):
    seen: list[str | None] = []
    api_server.responder = lambda op, params, query, body: (seen.append(op), ok({"items": []}))[1]
    _all_twelve(_sdk(api_server.url))
    assert len(seen) == 12 and None not in seen  # every request verified and routed by the route table
    assert len({_header(c, "x-acs-signature-nonce") for c in api_server.captured}) == 12


def test_sdk_with_wrong_secret_is_refused_for_every_operation(api_server):
    from alibabacloud_tea_openapi.exceptions import ClientException

    sdk = _sdk(api_server.url, secret="not-the-secret")
    with pytest.raises(ClientException) as caught:
        sdk.delete_agent_runtime("ar-1")
    assert caught.value.status_code == 403 and caught.value.code == "SignatureDoesNotMatch"
    # and the same for all twelve: the server answered 403 to each request
    api_server.captured.clear()
    for call in _each_operation(sdk):
        with pytest.raises(ClientException):
            call()
    assert len(api_server.captured) == 12


def _each_operation(sdk):
    """The twelve operations one by one (the SDK stops at the first error, so each gets its own call)."""
    calls = []
    recorder = _Recorder(calls)
    _all_twelve(recorder)
    return [lambda name=name, args=args: getattr(sdk, name)(*args) for name, args in calls]


class _Recorder:
    def __init__(self, calls: list) -> None:
        self.calls = calls

    def __getattr__(self, name: str):
        return lambda *args: self.calls.append((name, args))


def _header(req: Captured, name: str) -> str:
    return next(v for k, v in req.headers if k.lower() == name)


def test_untouched_sdk_request_verifies(sdk_request):
    assert _verify(sdk_request) == KEY_ID


@pytest.mark.parametrize("tamper", [
    lambda r: dataclasses.replace(r, body=r.body.replace(b"2.0", b"4.0")),
    lambda r: _with_header(r, "x-acs-action", "DeleteAgentRuntime"),
    lambda r: _with_header(r, "host", "evil.example:80"),
    lambda r: dataclasses.replace(r, raw_path=r.raw_path.replace("ar-1", "ar-2")),
    lambda r: dataclasses.replace(r, method="DELETE"),
    lambda r: dataclasses.replace(r, query=[("pageNumber", "2")]),
], ids=["body", "signed-header", "host", "path", "method", "query"])
def test_tampered_request_is_rejected_with_403(sdk_request, tamper):
    _rejected(tamper(sdk_request), 403, "SignatureDoesNotMatch")


def test_unsigned_extra_header_does_not_matter(sdk_request):
    assert _verify(_with_header(sdk_request, "x-forwarded-for", "10.0.0.1")) == KEY_ID


def test_wrong_secret_is_rejected(sdk_request):
    _rejected(sdk_request, 403, "SignatureDoesNotMatch", secret="other-secret")


def test_unknown_key_is_rejected(sdk_request):
    with pytest.raises(SignatureError) as caught:
        verify(sdk_request.method, sdk_request.raw_path, sdk_request.query, sdk_request.headers,
               sdk_request.body, {}.get)
    assert (caught.value.status, caught.value.code) == (403, "InvalidAccessKeyId.NotFound")


def test_stale_date_is_rejected(sdk_request):
    date = _header(sdk_request, "x-acs-date")
    signed_at = datetime.strptime(date, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=timezone.utc).timestamp()
    assert _verify(sdk_request, now=signed_at + 899) == KEY_ID
    _rejected(sdk_request, 403, "InvalidTimeStamp.Expired", now=signed_at + 16 * 60)
    _rejected(sdk_request, 403, "InvalidTimeStamp.Expired", now=signed_at - 16 * 60)


def test_replayed_request_is_rejected(sdk_request):
    nonces = NonceCache()
    assert _verify(sdk_request, nonces=nonces) == KEY_ID
    _rejected(sdk_request, 403, "SignatureNonceUsed", nonces=nonces)


def test_bad_signature_does_not_burn_the_nonce(sdk_request):
    nonces = NonceCache()
    _rejected(sdk_request, 403, "SignatureDoesNotMatch", secret="wrong", nonces=nonces)
    assert _verify(sdk_request, nonces=nonces) == KEY_ID


def test_missing_authorization_is_401(sdk_request):
    _rejected(_with_header(sdk_request, "Authorization", None), 401, "MissingAuthorization")


@pytest.mark.parametrize("value", ["HMAC-SHA1 abc", "ACS3-HMAC-SHA256 Credential=x", "ACS3-HMAC-SHA256"])
def test_malformed_authorization_is_401(sdk_request, value):
    _rejected(_with_header(sdk_request, "Authorization", value), 401, "InvalidAuthorization")


def test_missing_nonce_header_is_401(sdk_request):
    _rejected(_with_header(sdk_request, "x-acs-signature-nonce", None), 401, "MissingParameter")


def test_nonce_must_be_signed():
    headers = sign("GET", "/", {}, {"host": "h"}, b"", KEY_ID, SECRET)
    auth = headers["Authorization"].replace(";x-acs-signature-nonce", "")
    assert auth != headers["Authorization"]
    with pytest.raises(SignatureError) as caught:
        verify("GET", "/", {}, {**headers, "Authorization": auth}, b"", {KEY_ID: SECRET}.get)
    assert (caught.value.status, caught.value.code) == (403, "IncompleteSignature")


def test_unparseable_date_is_rejected():
    headers = sign("GET", "/", {}, {}, b"", KEY_ID, SECRET, date="yesterday")
    with pytest.raises(SignatureError) as caught:
        verify("GET", "/", {}, headers, b"", {KEY_ID: SECRET}.get)
    assert (caught.value.status, caught.value.code) == (403, "InvalidTimeStamp.Format")


def test_security_token_is_signed_and_verified():
    headers = sign("GET", "/p", {"a": "1"}, {"host": "h"}, b"", KEY_ID, SECRET, security_token="sts")
    assert headers["x-acs-security-token"] == "sts" and "x-acs-security-token" in headers["Authorization"]
    assert verify("GET", "/p", {"a": "1"}, headers, b"", {KEY_ID: SECRET}.get) == KEY_ID
    with pytest.raises(SignatureError):
        verify("GET", "/p", {"a": "1"}, {**headers, "x-acs-security-token": "other"}, b"", {KEY_ID: SECRET}.get)


def test_repeated_query_keys_are_signed_in_a_stable_order():
    pairs = [("command", "sh"), ("command", "-c"), ("command", "echo hi")]
    headers = sign("GET", "/exec", pairs, {}, b"", KEY_ID, SECRET)
    assert verify("GET", "/exec", list(reversed(pairs)), headers, b"", {KEY_ID: SECRET}.get) == KEY_ID
    with pytest.raises(SignatureError):
        verify("GET", "/exec", pairs[:2], headers, b"", {KEY_ID: SECRET}.get)


def test_nonce_cache_forgets_expired_entries_and_stays_bounded():
    cache = NonceCache(ttl=10, max_entries=3)
    assert cache.check_and_add("a", now=0) and not cache.check_and_add("a", now=5)
    assert cache.check_and_add("a", now=11)  # expired, so accepted again (the date check rejects it anyway)
    for i, nonce in enumerate("bcdef"):
        cache.check_and_add(nonce, now=12 + i)
    assert len(cache) == 3
