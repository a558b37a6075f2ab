"""Zero downtime: under a steady load, a redeploy, a canary shift and a rollback fail no request.

A real daemon driven by the real CLI (the python-echo template). Four client threads on loopback send
chats back to back (bounded: one request in flight each) to the ``default`` endpoint (LATEST) and to
``production`` (published versions) while the changes happen; every answer must be a 200 whose
``[vN]`` tag matches the version header.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from lifecycle_support import Project, echo_project

CHAT = {"messages": [{"role": "user", "content": "ping"}]}
CODE_TAG = '"AGENT_VERSION_TAG", "{}"'


class Load:
    """Client threads sending requests back to back; failures and the versions seen are kept per phase."""

    def __init__(self, urls: list[str]) -> None:
        self.urls = urls
        self.phase = "start"
        self.seen: dict[str, Counter[str]] = {}
        self.failures: list[str] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._run, args=(url,), daemon=True) for url in urls]

    def _run(self, url: str) -> None:
        with httpx.Client(trust_env=False, timeout=60) as client:
            while not self._stop.is_set():
                phase = self.phase
                try:
                    reply = client.post(url + "/openai/v1/chat/completions", json=CHAT)
                    outcome = self._check(reply)
                except httpx.HTTPError as exc:
                    outcome = f"error {exc!r}"
                with self._lock:
                    if outcome.startswith("["):
                        self.seen.setdefault(phase, Counter())[f"{url.rsplit('/', 2)[-2]} {outcome}"] += 1
                    else:
                        self.failures.append(f"{phase}: {url}: {outcome}")

    @staticmethod
    def _check(reply: httpx.Response) -> str:
        if reply.status_code != 200:
            return f"status {reply.status_code}: {reply.text[:300]}"
        version = reply.headers["x-agentrun-version"]
        answer = reply.json()["choices"][0]["message"]["content"]
        tag = answer.split("]")[0] + "]"
        if version != "LATEST" and tag != f"[v{version}]":
            return f"version header {version} but the answer says {answer!r}"
        return tag

    def latest(self, predicate: Callable[[Counter[str]], bool], limit: float = 60) -> None:
        """Wait until the current phase's traffic satisfies ``predicate`` (the deadline only guards a hang)."""
        deadline = time.monotonic() + limit
        while True:
            with self._lock:
                seen = Counter(self.seen.get(self.phase, Counter()))
            if predicate(seen):
                return
            assert time.monotonic() < deadline, f"phase {self.phase}: {seen}"
            time.sleep(0.1)

    def enter(self, phase: str) -> None:
        self.phase = phase

    @contextmanager
    def running(self) -> Iterator[Load]:
        for thread in self._threads:
            thread.start()
        try:
            yield self
        finally:
            self._stop.set()
            for thread in self._threads:
                thread.join(60)


def publish(project: Project, *args: str) -> None:
    project.run("endpoint", "publish", "--endpoint-name", "production", *args, ok=True)


@pytest.mark.timeout(600)
def test_redeploy_canary_shift_and_rollback_fail_no_request_under_load(tmp_path: Path) -> None:
    with echo_project(tmp_path, "steady") as project:
        assert project.json("version", "publish", "--description", "v1")["version"] == "1"
        project.edit("code/app.py", CODE_TAG.format("v1"), CODE_TAG.format("v2"))
        project.run("deploy", ok=True)
        assert project.json("version", "publish", "--description", "v2")["version"] == "2"
        publish(project, "--target-version", "1")
        default = project.json("endpoint", "get", "--endpoint-name", "default")["url"]
        production = project.json("endpoint", "get", "--endpoint-name", "production")["url"]

        with Load([default, default, production, production]).running() as load:
            load.latest(lambda seen: seen["default [v2]"] >= 20 and seen["production [v1]"] >= 20)

            load.enter("redeploy")
            project.edit("code/app.py", CODE_TAG.format("v2"), CODE_TAG.format("v3"))
            project.run("deploy", ok=True)
            load.latest(lambda seen: seen["default [v3]"] >= 20)

            for weight in ("0.1", "0.5"):
                load.enter(f"canary {weight}")
                publish(project, "--target-version", "2", "--weight", weight)
                load.latest(lambda seen: seen["production [v2]"] >= 10 and seen["production [v1]"] >= 10)

            load.enter("cut-over")
            publish(project, "--target-version", "2")
            load.latest(lambda seen: seen["production [v2]"] >= 20)
            load.enter("cut-over settled")
            load.latest(lambda seen: seen["production [v2]"] >= 20)

            load.enter("rollback")
            publish(project, "--target-version", "1")
            load.latest(lambda seen: seen["production [v1]"] >= 20)
            load.enter("rolled back")
            load.latest(lambda seen: seen["production [v1]"] >= 50)

        print({phase: dict(counts) for phase, counts in load.seen.items()})
        assert load.failures == []
        assert load.seen["cut-over settled"]["production [v1]"] == 0  # the shift completed …
        assert load.seen["rolled back"]["production [v2]"] == 0  # … and so did the rollback
        assert sum(sum(c.values()) for c in load.seen.values()) > 500  # the load really ran throughout
