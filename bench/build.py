"""Cold `agentctl build` vs a cached rebuild, measured end to end (CLI process included).

    python bench/build.py [--image IMAGE] [--requirements "six idna"] [--runs 3]

A throwaway project in a temporary folder gets a requirements.txt; the first build installs it in
Docker (cold), the next ones find the cache (target: cached <= 1 s). The image defaults to
$AGENTCTL_BUILD_IMAGE, else agentctl/python:3.11-bookworm (scripts/make-base-image.sh builds it).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from emulator_kit import agent_spec  # bench/ is on sys.path when a bench runs as a script


def timed_build(project: Path, env: dict[str, str]) -> tuple[float, str]:
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "agentctl", "-o", "json", "build"], cwd=project, env=env,
                          capture_output=True, text=True)
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        sys.exit(f"agentctl build failed ({done.returncode}):\n{done.stderr}")
    return seconds, json.loads(done.stdout)[0]["status"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--image", default=os.environ.get("AGENTCTL_BUILD_IMAGE", "agentctl/python:3.11-bookworm"))
    parser.add_argument("--requirements", default="six idna", help="space-separated packages")
    parser.add_argument("--runs", type=int, default=3, help="cached rebuilds to time")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="agentctl-bench-") as tmp:
        project = Path(tmp)
        (project / "code").mkdir()
        (project / "code" / "app.py").write_text("print('bench')\n")
        (project / "code" / "requirements.txt").write_text("\n".join(args.requirements.split()) + "\n")
        (project / "s.yaml").write_text(agent_spec("bench-build", concurrency=None, access="default"))
        env = {**os.environ, "AGENTCTL_BUILD_IMAGE": args.image, "AGENTCTL_HOME": str(project / ".home"),
               "NO_COLOR": "1"}

        cold, status = timed_build(project, env)
        print(f"image {args.image}, requirements: {args.requirements}")
        print(f"cold build      {cold:6.2f} s  ({status})")
        cached = [timed_build(project, env) for _ in range(args.runs)]
        times = [seconds for seconds, _ in cached]
        print(f"cached rebuild  {statistics.median(times):6.2f} s  (median of {len(times)}; "
              f"{', '.join(sorted({s for _, s in cached}))}; target <= 1 s)")


if __name__ == "__main__":
    main()
