"""Gateway vs direct: throughput and latency through the emulator's gateway, as ratios, in one run.

    python bench/gateway.py [--seconds 5] [--connections 32] [--uvloop]

Starts a gateway (its own process) in front of one instance of a small aiohttp
app (tests/emulator/apps/fast), then loads with ``wrk`` (Debian: ``apt-get
install wrk``), loopback only and bounded in time: first the instance directly,
then the same instance through the gateway, for a small JSON answer and for a
10-event SSE stream: throughput with many connections, latency with one (p50
with many connections is queueing, not the gateway's own cost). Prints
requests/s, p50/p99 and the ratios; issue 4's target is ≥ 0.5 of direct
throughput and ≤ 0.5 ms added p50. wrk, the gateway and the app share the
machine's cores, so the ratio also depends on what else runs.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import shutil
import subprocess
import sys
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
APP = REPO / "tests" / "emulator" / "apps" / "fast"
CASES = {"small JSON": "/", "SSE 10 events": "/sse?n=10"}
UNITS = {"us": 1e-3, "ms": 1.0, "s": 1e3}


class OneRoute:
    """A RouteSource with one runtime ``bench``, endpoint ``default`` → LATEST = the fast app."""

    def runtime_by_name(self, name: str) -> Mapping[str, Any] | None:
        return {"agentRuntimeId": "bench-id"} if name == "bench" else None

    def endpoint_by_name(self, runtime_id: str, name: str) -> Mapping[str, Any] | None:
        return {"targetVersion": "LATEST"} if name == "default" else None

    def version(self, runtime_id: str, version: str | int) -> Mapping[str, Any] | None:
        command = [sys.executable, "app.py"]
        # one instance takes all the load, as when hitting it directly (the pool caps at 10 by default)
        config = {"codeConfiguration": {"command": command}, "sessionConcurrencyLimitPerInstance": 200}
        return {"config": config, "codeDir": str(APP)}

    def subscribe(self, callback: Callable[[], None]) -> Callable[[], None]:
        """Like the store: the gateway caches routes from a source that notifies changes (this one never changes)."""
        return lambda: None


async def serve() -> None:
    """Child mode: run the gateway, warm the instance, print both URLs as one JSON line, serve until stdin ends."""
    import aiohttp

    from agentctl.emulator.drivers import driver_named
    from agentctl.emulator.gateway import Gateway, start_gateway
    from agentctl.emulator.pool import InstancePool

    pool = InstancePool(driver_named("process"))
    server = await start_gateway(Gateway(OneRoute(), pool))
    base = f"{server.url}/agent-runtimes/bench/endpoints/default/invocations"
    async with aiohttp.ClientSession() as session, session.get(base + "/") as reply:
        reply.raise_for_status()
    direct = pool.instances()[0].base_url
    print(json.dumps({"gateway": base, "direct": direct}), flush=True)
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)
    await server.close()


def wrk(url: str, seconds: int, connections: int) -> tuple[float, float, float]:
    """(requests/s, p50 ms, p99 ms) from one bounded wrk run."""
    out = subprocess.run(["wrk", "-t1", f"-c{connections}", f"-d{seconds}s", "--latency", url],
                         capture_output=True, text=True, timeout=seconds + 30, check=True).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)|Socket errors: .*", out)
    if errors:
        print(f"  warning: {errors.group(0)}", file=sys.stderr)
    return rps, _percentile(out, "50%"), _percentile(out, "99%")


def _percentile(out: str, label: str) -> float:
    value, unit = re.search(rf"^\s+{label}\s+([\d.]+)(us|ms|s)\s*$", out, re.M).groups()  # type: ignore[union-attr]
    return float(value) * UNITS[unit]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=5)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--uvloop", action="store_true", help="run the gateway on uvloop (if installed)")
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        if args.uvloop:
            import uvloop

            uvloop.install()
        asyncio.run(serve())
        return 0
    if shutil.which("wrk") is None:
        print("wrk is not installed (Debian/Ubuntu: apt-get install -y wrk)", file=sys.stderr)
        return 2
    child = subprocess.Popen([sys.executable, __file__, "--serve", *(["--uvloop"] if args.uvloop else [])],
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout is not None
        urls = json.loads(child.stdout.readline())
        print(f"gateway vs direct (same instance), wrk -t1, {args.seconds}s per run"
              f"{', gateway on uvloop' if args.uvloop else ''}; throughput at {args.connections} connections, "
              "latency at 1 connection")
        for name, path in CASES.items():
            direct = wrk(urls["direct"] + path, args.seconds, args.connections)
            through = wrk(urls["gateway"] + path, args.seconds, args.connections)
            alone = wrk(urls["direct"] + path, args.seconds, 1)
            alone_through = wrk(urls["gateway"] + path, args.seconds, 1)
            print(f"{name:14} throughput direct {direct[0]:7.0f} req/s, gateway {through[0]:7.0f} req/s → "
                  f"ratio {through[0] / direct[0]:.2f} (target ≥ 0.5)")
            print(f"{'':14} p50 at 1 conn direct {alone[1]:.3f} ms, gateway {alone_through[1]:.3f} ms → "
                  f"added {alone_through[1] - alone[1]:+.3f} ms (target ≤ 0.5); "
                  f"p99 {alone[2]:.2f} / {alone_through[2]:.2f} ms")
    finally:
        if child.stdin:
            child.stdin.close()
        child.wait(30)
    return 0


if __name__ == "__main__":
    sys.exit(main())
