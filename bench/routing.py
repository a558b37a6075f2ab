"""Routing accuracy: ``--requests`` (10,000) requests at canary weights 0.1 and 0.5, measured split vs weight.

Publishes versions 1 and 2 of the kit's agent in a private emulator, points ``default`` at version 1 with
version 2 as the canary (``endpoint publish --canary-version 2 --weight w``), sends the requests through
the gateway (``--concurrency`` at a time, keep-alive, loopback) and counts ``x-agentrun-version``.
Target (issue 4): the measured share within 1 percentage point of the weight.

    python bench/routing.py [--requests 10000] [--concurrency 16]
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import aiohttp
from emulator_kit import Kit

WEIGHTS = (0.1, 0.5)
TARGET_POINTS = 1.0


async def count_versions(url: str, requests: int, concurrency: int) -> tuple[Counter[str], int]:
    """Versions that answered (``x-agentrun-version``) and how many requests failed."""
    versions: Counter[str] = Counter()
    failed = 0
    left = iter(range(requests))

    async def worker(session: aiohttp.ClientSession) -> None:
        nonlocal failed
        for _ in left:
            async with session.get(url) as reply:
                await reply.read()
                if reply.status == 200:
                    versions[reply.headers.get("x-agentrun-version", "?")] += 1
                else:
                    failed += 1

    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=60)) as session:
        await asyncio.gather(*(worker(session) for _ in range(concurrency)))
    return versions, failed


def run(requests: int, concurrency: int) -> int:
    worst = 0.0
    with tempfile.TemporaryDirectory(prefix="agentctl-bench-routing-") as tmp, Kit(Path(tmp), "bench-routing") as kit:
        one, two = kit.publish("a"), kit.publish("b")
        url = kit.url("/work")
        for weight in WEIGHTS:
            kit.run("endpoint", "publish", "--endpoint-name", "default", "--target-version", one,
                    "--canary-version", two, "--weight", str(weight))
            began = time.perf_counter()
            versions, failed = asyncio.run(count_versions(url, requests, concurrency))
            elapsed = time.perf_counter() - began
            share = versions[two] / max(sum(versions.values()), 1)
            off = abs(share - weight) * 100
            worst = max(worst, off)
            print(f"weight {weight:.2f} on version {two}: measured {share * 100:.2f}% of {sum(versions.values())} "
                  f"answers ({dict(versions)}), off by {off:.2f} points; {failed} failed; "
                  f"{requests / elapsed:.0f} req/s")
    print(f"worst deviation / target ({TARGET_POINTS:.0f} point) = {worst / TARGET_POINTS:.2f}  "
          f"({'met' if worst <= TARGET_POINTS else 'MISSED'})")
    return 0 if worst <= TARGET_POINTS else 1


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=10_000)
    parser.add_argument("--concurrency", type=int, default=16)
    args = parser.parse_args()
    return run(max(100, min(args.requests, 100_000)), max(1, min(args.concurrency, 64)))


if __name__ == "__main__":
    sys.exit(main())
