"""The gateway through real HTTP, with real instance processes of the test apps."""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
from gateway_support import APPS, MemoryRoutes, Running


@pytest.fixture
def routes() -> MemoryRoutes:
    routes = MemoryRoutes()
    routes.add("agent", "echo", {"LATEST": {}, "1": {}, "2": {}})
    routes.route("agent", "prod", "1", {"2": 0.1})
    routes.route("agent", "default", "LATEST")
    return routes


@pytest.fixture
def gateway(routes: MemoryRoutes) -> Iterator[Running]:
    running = Running(routes)
    try:
        yield running
    finally:
        running.close()


@pytest.fixture
def client(gateway: Running) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=gateway.url + "/agent-runtimes/agent/endpoints", timeout=30) as client:
        yield client


def test_request_reaches_the_app_with_path_query_body_and_request_id(client: httpx.Client) -> None:
    reply = client.post("/default/invocations/echo/a%20b/c?x=1&y=two", content=b"hello", headers={"X-Mine": "m"})
    assert reply.status_code == 200
    seen = reply.json()
    assert (seen["method"], seen["path"], seen["query"], seen["body"]) == ("POST", "/echo/a%20b/c", "x=1&y=two",
                                                                          "hello")
    assert seen["headers"]["x-mine"] == "m"
    assert seen["headers"]["x-agentrun-request-id"] == reply.headers["x-agentrun-request-id"]
    assert reply.headers["x-agentrun-version"] == "LATEST" and seen["appVersion"] == "LATEST"
    assert reply.headers["x-agentrun-instance-id"].startswith("c-")
    assert reply.headers["x-app-header"] == "yes"  # the app's own headers pass through
    assert seen["cwd"] == str(APPS / "echo")


def test_each_request_gets_its_own_request_id(client: httpx.Client) -> None:
    ids = {client.get("/default/invocations/echo").headers["x-agentrun-request-id"] for _ in range(5)}
    assert len(ids) == 5


def test_weights_split_traffic_over_1000_requests(client: httpx.Client) -> None:
    def one(_: int) -> tuple[str, str]:
        reply = client.get("/prod/invocations/echo")
        assert reply.status_code == 200
        return reply.headers["x-agentrun-version"], reply.json()["appVersion"]

    with ThreadPoolExecutor(8) as threads:
        answers = list(threads.map(one, range(1000)))
    assert all(header == app for header, app in answers)  # the header names the version that really answered
    counts = Counter(header for header, _ in answers)
    assert set(counts) == {"1", "2"}
    assert 60 <= counts["2"] <= 140


def test_an_sse_stream_arrives_chunk_by_chunk(client: httpx.Client) -> None:
    with client.stream("GET", "/default/invocations/held", timeout=10) as reply:  # buffered would hang 120 s
        assert reply.headers["content-type"] == "text/event-stream"
        assert reply.headers["x-agentrun-version"] == "LATEST"
        events = reply.iter_lines()
        assert next(events) == "data: first"  # the app holds the rest until /release: only streaming gets here
        client.get("/default/invocations/release")
        rest = [line for line in events if line]
    assert rest == ["data: last"]


def test_a_stream_of_many_events_is_complete(client: httpx.Client) -> None:
    reply = client.get("/default/invocations/stream?n=200")
    assert [line for line in reply.text.splitlines() if line] == [f"data: {i}" for i in range(200)]


@pytest.mark.parametrize(("path", "code"), [
    ("/agent-runtimes/nobody/endpoints/prod/invocations/echo", "AgentRuntimeNotFound"),
    ("/agent-runtimes/agent/endpoints/nowhere/invocations/echo", "AgentRuntimeEndpointNotFound"),
    ("/agent-runtimes/agent/endpoints/prod", "NotFound"),
    ("/elsewhere", "NotFound"),
])
def test_unknown_routes_get_a_json_404(gateway: Running, path: str, code: str) -> None:
    reply = httpx.post(gateway.url + path, content=b"{}")
    assert reply.status_code == 404
    body = reply.json()
    assert body["code"] == code and body["message"] and body["requestId"] == reply.headers["x-agentrun-request-id"]


def test_an_endpoint_routing_to_a_missing_version_is_a_clear_404(routes: MemoryRoutes, gateway: Running) -> None:
    routes.route("agent", "ghost", "7")
    reply = httpx.get(gateway.url + "/agent-runtimes/agent/endpoints/ghost/invocations/echo")
    assert reply.status_code == 404
    assert reply.json()["code"] == "RuntimeVersionNotFound" and "version 7" in reply.json()["message"]


def test_a_version_without_code_is_a_clear_503(routes: MemoryRoutes, gateway: Running) -> None:
    routes.versions[("id-agent", "LATEST")]["codeDir"] = None
    reply = httpx.get(gateway.url + "/agent-runtimes/agent/endpoints/default/invocations/echo")
    assert reply.status_code == 503 and reply.json()["code"] == "CodeNotReady"


def test_an_app_that_never_gets_healthy_gets_a_503_with_its_output(routes: MemoryRoutes) -> None:
    routes.add("stuck", "never_healthy", {"LATEST": {}})
    routes.route("stuck", "default", "LATEST")
    running = Running(routes, startup_timeout=1.5)
    try:
        reply = httpx.get(running.url + "/agent-runtimes/stuck/endpoints/default/invocations/", timeout=30)
        assert reply.status_code == 503
        body = reply.json()
        assert body["code"] == "InstanceStartTimeout" and "did not become healthy within 1.5s" in body["message"]
        assert body["hint"] and any("never listen" in line for line in body["logs"])
        assert running.pool.instances() == []
    finally:
        running.close()


def test_an_app_that_crashes_on_start_gets_a_502_with_its_output(routes: MemoryRoutes, gateway: Running) -> None:
    routes.add("broken", "crash", {"LATEST": {}})
    routes.route("broken", "default", "LATEST")
    reply = httpx.get(gateway.url + "/agent-runtimes/broken/endpoints/default/invocations/")
    assert reply.status_code == 502
    assert reply.json()["code"] == "InstanceStartFailed" and "RuntimeError: missing API key" in reply.json()["logs"]


def test_a_changed_latest_is_served_by_a_new_instance(routes: MemoryRoutes, client: httpx.Client) -> None:
    before = client.get("/default/invocations/echo")
    routes.versions[("id-agent", "LATEST")]["config"]["environmentVariables"] = {"APP_VERSION": "LATEST-2"}
    after = client.get("/default/invocations/echo")
    assert after.json()["appVersion"] == "LATEST-2"
    assert after.headers["x-agentrun-instance-id"] != before.headers["x-agentrun-instance-id"]


def test_closing_the_gateway_stops_every_instance(routes: MemoryRoutes) -> None:
    running = Running(routes)
    try:
        for endpoint in ("default", "prod"):
            httpx.get(f"{running.url}/agent-runtimes/agent/endpoints/{endpoint}/invocations/echo").raise_for_status()
        pids = [i.handle.pid for i in running.pool.instances() if i.handle and i.handle.pid]
        assert len(pids) >= 2
    finally:
        running.close()
    for pid in pids:
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)
