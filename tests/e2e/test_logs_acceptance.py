"""Issue 4 acceptance for logs: a tail started before the traffic labels lines of two versions and three
instances correctly, and ``logs -r`` returns exactly one request's records.

Set-up: instanceConcurrency 1, versions 1 (tag a) and 2 (tag b) behind two endpoints, ``--max-instances 4``;
three concurrent slow requests on version 1 need three instances, one more goes to version 2.
"""

from __future__ import annotations

import json
import queue
import re
import signal
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))
from emulator_kit import Kit, get

# table output of a line the agent printed: "<time> [v1 c-1a2b] <request id> /work <request id> tag=a"
LINE = re.compile(r"\[(\S+) (c-[0-9a-f]+)\] (\S+) /work (\S+) tag=(\w+)")
TAGS = {"v1": "a", "v2": "b"}


class Tail:
    """`agentctl logs --tail` (table output) in the background; its stdout lines arrive on a queue."""

    def __init__(self, kit: Kit, *args: str) -> None:
        self.proc = kit.popen("logs", "--tail", *args)
        self.lines: queue.Queue[str] = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.put(line.rstrip("\n"))

    def labelled(self, wanted: set[str], timeout: float = 30) -> dict[str, tuple[str, str, str]]:
        """Request id → (version label, instance label, tag) of the agent's lines, until all ``wanted`` came."""
        seen: dict[str, tuple[str, str, str]] = {}
        deadline = time.monotonic() + timeout
        while not wanted <= seen.keys() and time.monotonic() < deadline:
            try:
                line = self.lines.get(timeout=0.5)
            except queue.Empty:
                continue
            if match := LINE.search(line):
                version, instance, owner, request_id, tag = match.groups()
                assert owner == request_id, f"line attributed to {owner}, printed by {request_id}: {line}"
                seen[request_id] = (version, instance, tag)
        return seen

    def stop(self) -> int:
        self.proc.send_signal(signal.SIGINT)
        return self.proc.wait(10)


def batch(kit: Kit) -> dict[str, tuple[str, str]]:
    """Three concurrent slow requests to version 1 and one to version 2: request id → (version, instance)."""
    urls = [kit.url("/work?ms=600")] * 3 + [kit.url("/work?ms=600", endpoint="canary")]
    with ThreadPoolExecutor(len(urls)) as pool:
        replies = list(pool.map(get, urls))
    served = {}
    for status, headers, _ in replies:
        assert status == 200, headers
        served[headers["x-agentrun-request-id"]] = (headers["x-agentrun-version"], headers["x-agentrun-instance-id"])
    return served


def records(kit: Kit, *args: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in kit.run("-o", "json", "logs", *args).stdout.splitlines() if line.strip()]


def test_tail_labels_two_versions_and_three_instances_and_r_selects_one_request(tmp_path: Path) -> None:
    with Kit(tmp_path, "tail-agent", concurrency=1) as kit:
        kit.start(max_instances=4)
        assert kit.publish("a") == "1" and kit.publish("b") == "2"
        kit.run("endpoint", "publish", "--endpoint-name", "default", "--target-version", "1")
        kit.run("endpoint", "publish", "--endpoint-name", "canary", "--target-version", "2")
        tail = Tail(kit, "-s", str(int(time.time() * 1000)))  # -s: nothing is missed while it connects
        try:
            served: dict[str, tuple[str, str]] = {}
            for _ in range(3):  # the first batch may find instances still booting; more make room for a third
                served |= batch(kit)
                if len({instance for _, instance in served.values()}) >= 3:
                    break
            shown = tail.labelled(set(served))
        finally:
            assert tail.stop() == 0

        missing = {rid: served[rid] for rid in served.keys() - shown.keys()}
        assert not missing, f"no labelled line of {missing} in the tail; served: {served}"
        for request_id, (version, instance, tag) in shown.items():
            assert (version, instance) == ("v" + served[request_id][0], served[request_id][1])
            assert TAGS[version] == tag, f"a line of tag {tag} labelled {version}"
        assert {version for version, _, _ in shown.values()} == {"v1", "v2"}
        assert len({instance for _, instance, _ in shown.values()}) >= 3

        one = next(iter(served))
        only = records(kit, "-r", one)
        everything = records(kit, "--limit", "10000")
        assert {r["id"] for r in only} == {r["id"] for r in everything if r["requestId"] == one}
        assert {r["requestId"] for r in only} == {one}
        assert sorted(r["kind"] for r in only) == ["request-end", "request-start", "stdout"]
