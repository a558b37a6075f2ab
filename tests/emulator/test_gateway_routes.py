"""The route cache: no store read per request, and a change switches only once the new instances are healthy."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
from gateway_support import NotifyingRoutes, Running

URL = "/agent-runtimes/probe/endpoints/default/invocations/env"


@pytest.fixture
def routes() -> NotifyingRoutes:
    routes = NotifyingRoutes()
    routes.add("probe", "gateway_probe", {"LATEST": {"environmentVariables": {"MARK": "old", "BOOT_DELAY": "1"}}})
    routes.route("probe", "default", "LATEST")
    return routes


@pytest.fixture
def running(routes: NotifyingRoutes) -> Iterator[Running]:
    running = Running(routes)
    try:
        yield running
    finally:
        running.close()


def settle(running: Running) -> None:
    assert running.gateway.cache is not None, "a source that announces changes is cached"
    running.call(running.gateway.cache.settled())


def change_latest(routes: NotifyingRoutes, mark: str) -> None:
    routes.versions[("id-probe", "LATEST")]["config"]["environmentVariables"] = {"MARK": mark, "BOOT_DELAY": "1"}


def test_routes_are_read_once_and_again_only_after_a_change(routes: NotifyingRoutes, running: Running) -> None:
    assert httpx.get(running.url + URL, timeout=30).json()["mark"] == "old"
    routes.route("probe", "default", "7")  # not announced: the cached route stays
    assert httpx.get(running.url + URL, timeout=30).status_code == 200
    routes.changed()
    settle(running)
    reply = httpx.get(running.url + URL, timeout=30)
    assert reply.status_code == 404 and reply.json()["code"] == "RuntimeVersionNotFound"


def test_a_change_is_served_only_once_its_new_instance_is_healthy(routes: NotifyingRoutes, running: Running) -> None:
    first = httpx.get(running.url + URL, timeout=30)
    old_instance = first.headers["x-agentrun-instance-id"]
    change_latest(routes, "new")
    routes.changed()
    answers: list[httpx.Response] = []
    with httpx.Client(timeout=30) as client:
        while not answers or answers[-1].json()["mark"] != "new":  # the new app takes 1 s to boot meanwhile
            answers.append(client.get(running.url + URL))
    assert all(r.status_code == 200 for r in answers)
    before = [r for r in answers if r.json()["mark"] == "old"]
    assert before and {r.headers["x-agentrun-instance-id"] for r in before} == {old_instance}
    assert answers[-1].headers["x-agentrun-cold-start"] == "false"  # prewarmed: nobody waited for its boot
    assert answers[-1].headers["x-agentrun-instance-id"] != old_instance


def test_while_latest_is_settling_the_old_code_keeps_serving(routes: NotifyingRoutes, running: Running) -> None:
    assert httpx.get(running.url + URL, timeout=30).json()["mark"] == "old"
    routes.runtimes["probe"]["status"] = "UPDATING"  # config saved, new code still being unpacked
    change_latest(routes, "half-done")
    routes.changed()
    settle(running)
    assert httpx.get(running.url + URL, timeout=30).json()["mark"] == "old"
    routes.runtimes["probe"]["status"] = "READY"
    change_latest(routes, "done")
    routes.changed()

    def mark(_: int) -> str:
        reply = httpx.get(running.url + URL, timeout=30)
        assert reply.status_code == 200
        return str(reply.json()["mark"])

    with ThreadPoolExecutor(2) as threads:
        seen: Counter[str] = Counter()
        while seen["done"] == 0:
            seen.update(threads.map(mark, range(4)))
    assert set(seen) == {"old", "done"}  # never the half-done revision
