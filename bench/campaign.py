"""The fault campaign's load scenarios, bounded: every change under steady load, counting failed requests.

    python bench/campaign.py [--rounds 2] [--clients 4]

A private emulator (``emulator_kit.Kit``) runs a tiny agent; client threads on loopback send requests back
to back to ``default`` (LATEST) and ``production`` (published versions), and one more keeps reading
server-sent event streams (a stream counts as failed when an event is missing). Meanwhile, per round:
two deploys, two publishes, ``production`` to v1, a 10% canary of v2, raised to 50%, the cut-over, the
rollback, reserved concurrency put and removed, a deploy of code that cannot start (must fail, exit 5)
and a canary to a published version that cannot start (must fail). Each step waits until the load has
seen answers after it. Prints the requests, streams and failures per step; exits 1 when any request
failed or a broken change was accepted. Bounded: a fixed number of rounds, one request in flight per
client.
"""

from __future__ import annotations

import argparse
import http.client
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path
from urllib.parse import urlsplit

sys.path.insert(0, str(Path(__file__).resolve().parent))
from emulator_kit import Kit

BROKEN = "import sys; sys.exit(1)\n"
STREAM_EVENTS = 5


class Load:
    """Client threads; per phase: answers, streams and failures (with what failed)."""

    def __init__(self, urls: list[str], stream_url: str) -> None:
        self.phase = "warm-up"
        self.answers: Counter[str] = Counter()
        self.streams: Counter[str] = Counter()
        self.failures: list[str] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._requests, args=(url,), daemon=True) for url in urls]
        self._threads.append(threading.Thread(target=self._stream, args=(stream_url,), daemon=True))

    def _requests(self, url: str) -> None:
        parts = urlsplit(url)
        conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=60)
        while not self._stop.is_set():
            phase = self.phase
            try:
                conn.request("GET", f"{parts.path}/work?ms=5")
                reply = conn.getresponse()
                body = reply.read()
                ok, what = reply.status == 200, f"{reply.status} {body[:200]!r}"
            except (OSError, http.client.HTTPException) as exc:
                ok, what = False, repr(exc)
                conn.close()
                conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=60)
            self._count(phase, self.answers, ok, f"{url.rsplit('/', 2)[-2]}: {what}")

    def _stream(self, url: str) -> None:
        parts = urlsplit(url)
        while not self._stop.is_set():
            phase = self.phase
            conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=60)
            try:
                conn.request("GET", f"{parts.path}/stream?chunks={STREAM_EVENTS}&ms=20")
                reply = conn.getresponse()
                events = reply.read().count(b"data: ")
                ok, what = reply.status == 200 and events == STREAM_EVENTS, f"{reply.status}, {events} events"
            except (OSError, http.client.HTTPException) as exc:
                ok, what = False, repr(exc)
            finally:
                conn.close()
            self._count(phase, self.streams, ok, f"stream: {what}")

    def _count(self, phase: str, counter: Counter[str], ok: bool, what: str) -> None:
        with self._lock:
            counter[phase] += 1
            if not ok:
                self.failures.append(f"{phase}: {what}")

    def step(self, phase: str, action: object, *, answers: int = 40, limit: float = 120.0) -> None:
        """Enter ``phase``, run ``action`` (a callable), then wait until the load answered ``answers`` more."""
        self.phase = phase
        assert callable(action)
        action()
        deadline = time.monotonic() + limit
        while self.answers[phase] < answers and time.monotonic() < deadline:
            time.sleep(0.05)

    def __enter__(self) -> Load:
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(90)


def must_fail(kit: Kit, *args: str) -> None:
    done = kit.run(*args, check=False)
    if done.returncode == 0:
        raise SystemExit(f"agentctl {' '.join(args)} accepted a change that cannot start")


def publish(kit: Kit, *args: str) -> None:
    kit.run("endpoint", "publish", "--endpoint-name", "production", *args)


def round_of(kit: Kit, load: Load, n: int) -> None:
    app = kit.dir / "code" / "app.py"
    good = app.read_text()
    for deploy in (1, 2):
        load.step(f"r{n} deploy {deploy}", lambda deploy=deploy: kit.publish(f"r{n}-v{deploy}"))
    versions = [str(v["version"]) for v in kit.json("version", "list")]
    old, new = versions[-2], versions[-1]
    load.step(f"r{n} production → {old}", lambda: publish(kit, "--target-version", old))
    load.step(f"r{n} canary 10%", lambda: publish(kit, "--target-version", old, "--canary-version", new,
                                                  "--weight", "0.1"))
    load.step(f"r{n} canary 50%", lambda: publish(kit, "--target-version", new, "--weight", "0.5"))
    load.step(f"r{n} cut-over", lambda: publish(kit, "--target-version", new))
    load.step(f"r{n} rollback", lambda: publish(kit, "--target-version", old))
    load.step(f"r{n} reserved 20", lambda: kit.run("concurrency", "put", "--reserved-concurrency", "20"))
    load.step(f"r{n} reserved off", lambda: kit.run("concurrency", "remove", "-y"))

    def broken_deploy() -> None:
        app.write_text(BROKEN + good)
        must_fail(kit, "deploy", "-y")

    load.step(f"r{n} broken deploy", broken_deploy)

    def broken_canary() -> None:  # a version that cannot start, published while nothing routes to LATEST
        kit.run("endpoint", "publish", "--endpoint-name", "default", "--target-version", old)
        kit.deploy()  # the broken code, unchecked: no traffic goes to LATEST now
        broken = str(kit.json("version", "publish")["version"])
        must_fail(kit, "endpoint", "publish", "--endpoint-name", "production", "--target-version", old,
                  "--canary-version", broken, "--weight", "0.5")
        app.write_text(good)
        kit.deploy()
        kit.run("endpoint", "publish", "--endpoint-name", "default", "--target-version", "LATEST")

    load.step(f"r{n} broken canary", broken_canary)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--clients", type=int, default=4)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="agentctl-campaign-") as root, Kit(Path(root)) as kit:
        kit.start(idle_timeout=60)
        kit.deploy()
        urls = [kit.url("", endpoint="default")] * (args.clients // 2)
        kit.publish("v1")
        publish(kit, "--target-version", "1")
        urls += [kit.url("", endpoint="production")] * (args.clients - len(urls))
        began = time.monotonic()
        with Load(urls, kit.url("", endpoint="default")) as load:
            load.step("warm-up", lambda: None)
            for n in range(1, args.rounds + 1):
                round_of(kit, load, n)
        elapsed = time.monotonic() - began
    total, streams = sum(load.answers.values()), sum(load.streams.values())
    for phase in load.answers:
        print(f"{phase:24} {load.answers[phase]:6} requests {load.streams[phase]:4} streams")
    print(f"total: {total} requests and {streams} streams in {elapsed:.0f} s; failed: {len(load.failures)}")
    for failure in load.failures[:20]:
        print("  " + failure)
    return 1 if load.failures else 0


if __name__ == "__main__":
    sys.exit(main())
