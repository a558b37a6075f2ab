"""200 concurrent streaming requests at ``instanceConcurrency: 10``: errors, instances, emulator RSS, duration.

A private emulator (own AGENTCTL_HOME, ``--max-instances 50``) runs the kit's agent; ``--requests`` (200)
SSE requests (``/stream``: ``--chunks`` events ``--gap-ms`` apart) start at once through the gateway.
A request counts as an error unless it answers 200 with every event. Instances: distinct
``x-agentrun-instance-id`` values, and the peak ``agentctl metrics`` reports. RSS: ``VmRSS`` of the
daemon and of all its descendants (the instances), sampled every 100 ms; the peak is reported.
Target (issue 4): no error, about requests / 10 instances. Loopback only.

    python bench/concurrency.py [--requests 200] [--chunks 20] [--gap-ms 50]
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import threading
import time
from pathlib import Path

import aiohttp
from emulator_kit import Kit

CONCURRENCY = 10


def rss_kb(pid: int) -> int:
    """Resident memory of one process (0 when it is gone)."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def descendants(pid: int) -> list[int]:
    found, todo = [], [pid]
    while todo:
        parent = todo.pop()
        for task in Path(f"/proc/{parent}/task").glob("*"):
            try:
                children = [int(c) for c in (task / "children").read_text().split()]
            except OSError:
                continue
            found += children
            todo += children
    return found


class RssSampler(threading.Thread):
    """Peak RSS of the daemon alone and of the daemon with its descendants, sampled until stopped."""

    def __init__(self, pid: int) -> None:
        super().__init__(daemon=True)
        self.pid, self.done = pid, threading.Event()
        self.daemon_kb = self.total_kb = 0

    def run(self) -> None:
        while not self.done.wait(0.1):
            own = rss_kb(self.pid)
            self.daemon_kb = max(self.daemon_kb, own)
            self.total_kb = max(self.total_kb, own + sum(rss_kb(p) for p in descendants(self.pid)))


async def stream_all(url: str, requests: int, chunks: int) -> tuple[int, set[str], list[str]]:
    """(errors, instance ids, first few error descriptions) of ``requests`` concurrent streams."""
    instances: set[str] = set()
    problems: list[str] = []

    async def one(session: aiohttp.ClientSession) -> None:
        try:
            async with session.get(url) as reply:
                body = await reply.read()
                instances.add(reply.headers.get("x-agentrun-instance-id", "?"))
                events = body.count(b"data: ")
                if reply.status != 200 or events != chunks:
                    problems.append(f"status {reply.status}, {events}/{chunks} events: {body[:200]!r}")
        except (aiohttp.ClientError, asyncio.TimeoutError) as exc:
            problems.append(f"{type(exc).__name__}: {exc}")

    connector = aiohttp.TCPConnector(limit=0)
    async with aiohttp.ClientSession(connector=connector, timeout=aiohttp.ClientTimeout(total=120)) as session:
        await asyncio.gather(*(one(session) for _ in range(requests)))
    return len(problems), instances - {"?"}, problems[:5]


def run(requests: int, chunks: int, gap_ms: int) -> int:
    with tempfile.TemporaryDirectory(prefix="agentctl-bench-conc-") as tmp, \
            Kit(Path(tmp), "bench-conc", concurrency=CONCURRENCY) as kit:
        kit.start(max_instances=50)
        kit.deploy()
        url = kit.url(f"/stream?chunks={chunks}&ms={gap_ms}")
        sampler = RssSampler(int(kit.status()["pid"]))
        idle_kb = rss_kb(sampler.pid)
        sampler.start()
        began = time.perf_counter()
        errors, instances, problems = asyncio.run(stream_all(url, requests, chunks))
        elapsed = time.perf_counter() - began
        sampler.done.set()
        sampler.join()
        rows = kit.json("metrics", "--window", "10m")["rows"]
    peak = max((r["instancesPeak"] for r in rows), default=0)
    expected = -(-requests // CONCURRENCY)
    print(f"{requests} concurrent streams of {chunks} events {gap_ms} ms apart, instanceConcurrency "
          f"{CONCURRENCY}: {errors} errors, {len(instances)} instances served (metrics peak {peak}), "
          f"{elapsed:.2f} s (one stream alone lasts ~{chunks * gap_ms / 1000:.2f} s)")
    print(f"emulator RSS: daemon {idle_kb / 1024:.0f} MiB idle, {sampler.daemon_kb / 1024:.0f} MiB peak; with its "
          f"instances {sampler.total_kb / 1024:.0f} MiB peak ({sampler.total_kb / 1024 / max(len(instances), 1):.0f} "
          f"MiB per instance incl. the daemon)")
    for problem in problems:
        print(f"  error: {problem}")
    print(f"instances / expected ({expected}) = {len(instances) / expected:.2f}; errors {errors} "
          f"({'met' if errors == 0 else 'MISSED'})")
    return 0 if errors == 0 else 1


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--chunks", type=int, default=20)
    parser.add_argument("--gap-ms", type=int, default=50)
    args = parser.parse_args()
    return run(max(1, min(args.requests, 500)), max(1, min(args.chunks, 1000)), max(0, min(args.gap_ms, 1000)))


if __name__ == "__main__":
    sys.exit(main())
