"""Sessions through the gateway: a session keeps its version and instance; a weight change moves few sessions."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
from gateway_support import MemoryRoutes, Running

from agentctl.emulator.drivers import driver_named
from agentctl.emulator.gateway import Gateway, Invocation
from agentctl.emulator.pool import InstancePool

HEADER_SESSIONS = {"sessionAffinityType": "HEADER_FIELD", "headerFieldName": "X-Chat-Session",
                   "sessionConcurrencyLimitPerInstance": 200}
COOKIE_SESSIONS = {"sessionAffinityType": "GENERATED_COOKIE", "sessionConcurrencyLimitPerInstance": 200}


def two_versions(config: dict[str, object], weight: float = 0.5) -> MemoryRoutes:
    routes = MemoryRoutes()
    routes.add("chat", "echo", {"1": config, "2": config})
    routes.route("chat", "prod", "1", {"2": weight})
    return routes


@pytest.fixture
def header_gateway() -> Iterator[tuple[MemoryRoutes, Running]]:
    routes = two_versions(HEADER_SESSIONS)
    running = Running(routes)
    try:
        yield routes, running
    finally:
        running.close()


def test_fifty_requests_of_one_session_stay_on_one_version_and_instance(
        header_gateway: tuple[MemoryRoutes, Running]) -> None:
    _, running = header_gateway
    url = running.url + "/agent-runtimes/chat/endpoints/prod/invocations/echo"

    def one(session: str) -> tuple[str, str, str]:
        reply = httpx.get(url, headers={"x-chat-session": session}, timeout=30)
        assert reply.status_code == 200
        return session, reply.headers["x-agentrun-version"], reply.headers["x-agentrun-instance-id"]

    with ThreadPoolExecutor(4) as threads:
        answers = list(threads.map(one, ["alice"] * 50 + [f"other-{i}" for i in range(40)]))
    alice = {(version, instance) for session, version, instance in answers if session == "alice"}
    assert len(alice) == 1
    assert {version for _, version, _ in answers} == {"1", "2"}  # other sessions do spread over both


def test_a_generated_cookie_makes_a_session_sticky() -> None:
    running = Running(two_versions(COOKIE_SESSIONS))
    try:
        with httpx.Client(base_url=running.url + "/agent-runtimes/chat/endpoints/prod/invocations",
                          timeout=30) as client:
            first = client.get("/echo")
            cookie = first.cookies["agentrun-session"]
            seen = {(r.headers["x-agentrun-version"], r.headers["x-agentrun-instance-id"])
                    for r in (client.get("/echo") for _ in range(50))}
            assert client.get("/echo").json()["headers"]["cookie"] == f"agentrun-session={cookie}"
        fresh = httpx.get(running.url + "/agent-runtimes/chat/endpoints/prod/invocations/echo", timeout=30)
    finally:
        running.close()
    assert seen == {(first.headers["x-agentrun-version"], first.headers["x-agentrun-instance-id"])}
    assert fresh.cookies["agentrun-session"] != cookie  # a client without the cookie starts a new session


def test_without_affinity_there_is_no_cookie_and_no_session() -> None:
    running = Running(two_versions({}))
    try:
        reply = httpx.get(running.url + "/agent-runtimes/chat/endpoints/prod/invocations/echo", timeout=30)
    finally:
        running.close()
    assert reply.status_code == 200 and "set-cookie" not in reply.headers


def versions_of(routes: MemoryRoutes, sessions: list[str]) -> dict[str, str]:
    """The version each session is routed to (the gateway's own logic, no sockets)."""
    gateway = Gateway(routes, InstancePool(driver_named("process")))  # resolve() starts nothing
    invocation = Invocation("chat", "prod", "/echo")
    return {s: gateway.resolve(invocation, session=s).version for s in sessions}


def test_a_weight_change_moves_only_the_difference_of_1000_sessions() -> None:
    routes = two_versions(HEADER_SESSIONS, weight=0.1)
    sessions = [f"session-{i}" for i in range(1000)]
    before = versions_of(routes, sessions)
    routes.route("chat", "prod", "1", {"2": 0.5})
    after = versions_of(routes, sessions)
    moved = [s for s in sessions if before[s] != after[s]]
    print(f"moved {len(moved)} of 1000 sessions for |Δw| = 0.4")
    assert all(before[s] == "1" and after[s] == "2" for s in moved)  # nobody left the canary
    assert 340 <= len(moved) <= 460
    assert 60 <= sum(v == "2" for v in before.values()) <= 140


def test_the_version_a_session_gets_through_http_follows_the_weight_change_minimally(
        header_gateway: tuple[MemoryRoutes, Running]) -> None:
    routes, running = header_gateway
    routes.route("chat", "prod", "1", {"2": 0.1})
    url = running.url + "/agent-runtimes/chat/endpoints/prod/invocations/echo"
    sessions = [f"s{i}" for i in range(200)]

    def versions() -> dict[str, str]:
        with httpx.Client(timeout=30) as client:
            return {s: client.get(url, headers={"x-chat-session": s}).headers["x-agentrun-version"]
                    for s in sessions}

    before = versions()
    routes.route("chat", "prod", "1", {"2": 0.5})
    after = versions()
    moved = [s for s in sessions if before[s] != after[s]]
    print(f"moved {len(moved)} of 200 sessions through HTTP for |Δw| = 0.4")
    assert all(after[s] == "2" for s in moved)
    assert 0.25 * 200 <= len(moved) <= 0.55 * 200
