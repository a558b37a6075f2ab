"""Send N requests to an endpoint URL and print how the gateway split them by `x-agentrun-version`.

    python scripts/traffic.py URL [N]

Stdlib only, loopback only in the demo; 8 requests in flight at a time, bounded by N.
"""

from __future__ import annotations

import sys
import urllib.request
from collections import Counter
from concurrent.futures import ThreadPoolExecutor


def version_of(url: str) -> str:
    with urllib.request.urlopen(url, timeout=30) as response:
        response.read()
        return response.headers.get("x-agentrun-version", "?")


def main() -> None:
    url = sys.argv[1]
    count = int(sys.argv[2]) if len(sys.argv) > 2 else 200
    with ThreadPoolExecutor(max_workers=8) as pool:
        seen = Counter(pool.map(version_of, [url] * count))
    split = ", ".join(f"version {v}: {n} ({100 * n / count:.1f}%)" for v, n in sorted(seen.items()))
    print(f"  {count} requests through the gateway -> {split}")


if __name__ == "__main__":
    main()
