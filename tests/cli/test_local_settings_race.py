"""Two `local start` with different settings at once: both settings hold afterwards (issue #9, item 11).

Each start reads the kept settings, changes its own and writes them back; without a lock the second write
silently dropped the first one's change. Real CLI processes started together, three rounds.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path


def test_concurrent_local_starts_keep_both_settings(agentctl_home: Path) -> None:
    env = {**os.environ, "AGENTCTL_HOME": str(agentctl_home), "NO_COLOR": "1"}
    try:
        for round_ in range(3):
            flags = (["--max-instances", str(7 + round_)], ["--idle-timeout", str(40 + round_)])
            starts = [subprocess.Popen([sys.executable, "-m", "agentctl", "local", "start", *args], env=env,
                                       stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
                      for args in flags]
            for start in starts:
                _, err = start.communicate(timeout=120)
                assert start.returncode == 0, err
            status = subprocess.run([sys.executable, "-m", "agentctl", "-o", "json", "local", "status"], env=env,
                                    capture_output=True, text=True, timeout=60)
            kept = json.loads(status.stdout)["settings"]
            assert (kept["max_instances"], kept["idle_timeout_seconds"]) == (7 + round_, 40 + round_), kept
    finally:
        subprocess.run([sys.executable, "-m", "agentctl", "local", "stop"], env=env, capture_output=True, timeout=60)
