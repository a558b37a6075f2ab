"""CLI start-up: median wall time of `agentctl --help` against `python -c pass` and `s -h`.

Prints the medians and their ratios measured in this one run. `s` (@serverless-devs/s) is installed with npm
into .cache/sdevs-cli the first time, when npm is reachable; otherwise that comparison is skipped.
Target (issue 2): agentctl --help <= 0.15 s and under a third of `s -h`.

    python bench/cli_startup.py [--runs N]
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

CACHE = Path(__file__).resolve().parent.parent / ".cache" / "sdevs-cli"


def median_seconds(cmd: list[str], runs: int) -> float:
    subprocess.run(cmd, capture_output=True)  # warm the page cache once
    samples = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run(cmd, capture_output=True)
        samples.append(time.perf_counter() - start)
    return statistics.median(samples)


def serverless_devs_cli() -> list[str] | None:
    binary = CACHE / "node_modules" / ".bin" / "s"
    if not binary.exists():
        if not shutil.which("npm"):
            return None
        CACHE.mkdir(parents=True, exist_ok=True)
        install = subprocess.run(
            ["npm", "install", "--no-audit", "--no-fund", "--prefix", str(CACHE), "@serverless-devs/s"],
            capture_output=True, text=True,
        )
        if install.returncode != 0 or not binary.exists():
            print(f"(could not install @serverless-devs/s: {install.stderr.strip()[-200:]})")
            return None
    return [str(binary), "-h"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=15)
    args = parser.parse_args()
    agentctl = shutil.which("agentctl")
    agentctl_cmd = [agentctl, "--help"] if agentctl else [sys.executable, "-m", "agentctl", "--help"]

    python = median_seconds([sys.executable, "-c", "pass"], args.runs)
    ours = median_seconds(agentctl_cmd, args.runs)
    print(f"python -c pass     median {python * 1000:7.1f} ms")
    print(f"agentctl --help    median {ours * 1000:7.1f} ms   ({ours / python:.2f}x python -c pass;"
          f" target <= 150 ms: {'met' if ours <= 0.15 else 'NOT met'})")
    s_cmd = serverless_devs_cli()
    if s_cmd:
        theirs = median_seconds(s_cmd, args.runs)
        print(f"s -h               median {theirs * 1000:7.1f} ms")
        verdict = "met" if ours / theirs < 1 / 3 else "NOT met"
        print(f"ratio agentctl/s   {ours / theirs:.2f}  (target < 0.33: {verdict})")
    else:
        print("s -h               skipped (npm not reachable)")


if __name__ == "__main__":
    main()
