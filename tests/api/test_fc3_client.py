"""The FC3 subset: routes and shapes over a real signed HTTP round trip, and the exec WebSocket request."""

from __future__ import annotations

from urllib.parse import parse_qsl, urlsplit

from api_testserver import KEY_ID, SECRET

from agentctl.access import Credentials
from agentctl.api.fc3 import FC3Client, exec_query, exec_request, function_name
from agentctl.api.signing import verify

CREDS = Credentials(access_key_id=KEY_ID, access_key_secret=SECRET)


def test_instances_and_concurrency_calls_use_the_fc3_routes(api_server):
    replies = {
        ("GET", "instances"): {"instances": [{"instanceId": "c-1", "versionId": "1"}], "requestId": "r"},
        ("GET", "concurrency"): {"functionArn": "acs:fc:...", "reservedConcurrency": 2},
        ("PUT", "concurrency"): {"functionArn": "acs:fc:...", "reservedConcurrency": 5},
        ("DELETE", "concurrency"): "",
    }
    api_server.responder = lambda op, params, query, body: (
        200, replies[(api_server.captured[-1].method, api_server.captured[-1].raw_path.rsplit("/", 1)[1])])
    fn = function_name("ar-1")
    with FC3Client(api_server.url, CREDS) as fc:
        assert fc.list_instances(fn, qualifier="LATEST", with_all_active=True) == [{"instanceId": "c-1",
                                                                                    "versionId": "1"}]
        assert fc.get_concurrency_config(fn)["reservedConcurrency"] == 2
        assert fc.put_concurrency_config(fn, 5)["reservedConcurrency"] == 5
        fc.delete_concurrency_config(fn)
    seen = [(c.method, c.raw_path, dict(c.query), c.body) for c in api_server.captured]
    assert seen[0] == ("GET", "/2023-03-30/functions/agentrun-ar-1/instances",
                       {"qualifier": "LATEST", "withAllActive": "true"}, b"")
    assert seen[2][:2] == ("PUT", "/2023-03-30/functions/agentrun-ar-1/concurrency")
    assert b'"reservedConcurrency": 5' in seen[2][3]
    versions = {dict((k.lower(), v) for k, v in c.headers)["x-acs-version"] for c in api_server.captured}
    assert versions == {"2023-03-30"}


def test_exec_request_is_a_signed_websocket_url_with_repeated_command():
    query = exec_query(["sh", "-c", "echo hi && ls"], tty=True, qualifier="1", idle_timeout=60)
    url, headers = exec_request("http://127.0.0.1:9000", "agentrun-ar 1", "c-1", query, CREDS)
    parts = urlsplit(url)
    assert (parts.scheme, parts.netloc) == ("ws", "127.0.0.1:9000")
    assert parts.path == "/2023-03-30/functions/agentrun-ar%201/instances/c-1/exec"
    pairs = parse_qsl(parts.query)
    assert [v for k, v in pairs if k == "command"] == ["sh", "-c", "echo hi && ls"]
    assert dict(pairs)["tty"] == "true" and dict(pairs)["idleTimeout"] == "60"
    assert verify("GET", parts.path, pairs, headers, b"", {KEY_ID: SECRET}.get) == KEY_ID


def test_exec_url_is_wss_for_https_endpoints():
    url, _ = exec_request("123.cn-hangzhou.fc.aliyuncs.com", "f", "c-1", exec_query(["ls"]), CREDS)
    assert url.startswith("wss://123.cn-hangzhou.fc.aliyuncs.com/2023-03-30/functions/f/instances/c-1/exec?")
