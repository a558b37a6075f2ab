"""What the gateway says about the pool: cold start and queue headers, 429 when throttled, 502 on a crash."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from gateway_support import MemoryRoutes, Running

from agentctl.emulator.limits import Limits
from agentctl.emulator.log_recorder import LogRecorder
from agentctl.emulator.logs import LogQuery, LogStore

BASE = "/agent-runtimes/probe/endpoints/default/invocations"


@pytest.fixture
def routes() -> MemoryRoutes:
    routes = MemoryRoutes()
    routes.add("probe", "gateway_probe", {"LATEST": {"sessionConcurrencyLimitPerInstance": 1}})
    routes.route("probe", "default", "LATEST")
    return routes


@pytest.fixture
def store(tmp_path: Path) -> Iterator[LogStore]:
    store = LogStore(tmp_path / "logs.db")
    try:
        yield store
    finally:
        store.close()


def test_the_first_answer_reports_a_cold_start_and_the_next_does_not(routes: MemoryRoutes) -> None:
    running = Running(routes)
    try:
        first = httpx.get(running.url + BASE + "/echo", timeout=30)
        second = httpx.get(running.url + BASE + "/echo", timeout=30)
    finally:
        running.close()
    assert first.headers["x-agentrun-cold-start"] == "true"
    assert second.headers["x-agentrun-cold-start"] == "false"
    assert second.headers["x-agentrun-instance-id"] == first.headers["x-agentrun-instance-id"]
    assert int(first.headers["x-agentrun-queue-wait-ms"]) >= 0


def test_past_the_maximum_a_request_gets_429_with_retry_after(routes: MemoryRoutes, store: LogStore) -> None:
    running = Running(routes, logs=LogRecorder(store), limits=Limits(max_instances=1, queue_depth=0))
    try:
        with socket.create_connection(("127.0.0.1", running.server.port), timeout=30) as held:
            held.sendall(f"GET {BASE}/endless HTTP/1.1\r\nHost: x\r\n\r\n".encode())
            assert b"data: x" in held.recv(4096) + held.recv(4096)  # the only slot of the only instance is taken
            reply = httpx.get(running.url + BASE + "/echo", timeout=30)
    finally:
        running.close()
    assert reply.status_code == 429
    assert int(reply.headers["retry-after"]) >= 1
    body = reply.json()
    assert body["code"] == "Throttled" and "max-instances" in body["message"]
    assert body["requestId"] == reply.headers["x-agentrun-request-id"]
    store.flush()
    records = store.query(LogQuery(request_id=body["requestId"])).records
    assert [r.status for r in records] == [429]


def test_an_instance_dying_under_a_request_gives_a_502_naming_it_and_is_logged(routes: MemoryRoutes,
                                                                                store: LogStore) -> None:
    running = Running(routes, logs=LogRecorder(store))
    try:
        reply = httpx.get(running.url + BASE + "/die", timeout=30)
        after = httpx.get(running.url + BASE + "/echo", timeout=30)
    finally:
        running.close()
    assert reply.status_code == 502
    body = reply.json()
    instance = reply.headers["x-agentrun-instance-id"]
    assert body["code"] == "InstanceCrashed" and instance in body["message"] and body["instanceId"] == instance
    assert after.status_code == 200 and after.headers["x-agentrun-instance-id"] != instance  # a replacement
    store.flush()
    end = [r for r in store.query(LogQuery(request_id=body["requestId"])).records if r.kind == "request-end"]
    assert [r.status for r in end] == [502] and instance in (end[0].message or "")
