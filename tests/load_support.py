"""Steady client load for the zero-downtime tests: threads sending chats back to back to endpoints.

``Load(urls)`` keeps, per phase (``enter(name)``), how many answers each endpoint got from each version
tag (``"default [v2]"``) and every failure; ``latest(predicate)`` waits until the current phase's traffic
satisfies it. Bounded: loopback, one request in flight per thread.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import httpx

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
