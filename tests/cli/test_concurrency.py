"""`agentctl concurrency get|put|remove` against a real emulator: warm instances for reserved concurrency,
no cold start for the first N concurrent requests, and `remove` lets them go."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from gate_project import GateProject, gate_project

START = ("--idle-timeout", "2", "--max-instances", "3")


def ready(project: GateProject) -> list[dict[str, Any]]:
    return [row for row in project.instances() if row["status"] in ("READY", "BUSY")]


def wait_until(check: Any, what: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, f"timed out waiting until {what}"
        time.sleep(0.3)


def test_reserved_concurrency_keeps_instances_warm_until_removed(tmp_path: Path) -> None:
    with gate_project(tmp_path, concurrency=1, start=START) as project:
        cli = project.project
        assert cli.json("concurrency", "get")["reservedConcurrency"] is None
        put = cli.run("concurrency", "put", "--reserved-concurrency", "2", ok=True)
        assert "is now 2" in put.stderr
        assert cli.json("concurrency", "get")["reservedConcurrency"] == 2
        wait_until(lambda: len(ready(project)) == 2, "two warm instances are ready")
        warm = {row["instanceId"] for row in ready(project)}

        time.sleep(3)  # past the idle timeout (2 s): reserved instances stay
        assert {row["instanceId"] for row in ready(project)} == warm

        gate = project.gate()
        held = [project.request(f"hold?{gate.query}", held=True) for _ in range(2)]
        assert [reply.status for reply in held] == [200, 200]
        assert not any(reply.cold for reply in held) and {reply.instance for reply in held} == warm
        gate.open()
        for reply in held:
            reply.finish()

        refused = cli.run("concurrency", "remove")  # no terminal and no -y
        assert refused.returncode == 2 and "needs confirmation" in refused.stderr and "-y" in refused.stderr
        assert cli.json("concurrency", "get")["reservedConcurrency"] == 2
        removed = cli.run("concurrency", "remove", "-y", ok=True)
        assert "stop once idle" in removed.stderr
        assert cli.json("concurrency", "get")["reservedConcurrency"] is None
        wait_until(lambda: not project.instances(), "the formerly warm instances stop once idle")

        again = cli.run("concurrency", "remove", "-y")
        assert again.returncode == 3 and "no reserved concurrency" in again.stderr


def test_reserved_concurrency_is_kept_across_a_restart_and_bad_values_are_refused(tmp_path: Path) -> None:
    with gate_project(tmp_path, concurrency=1, start=START) as project:
        cli = project.project
        zero = cli.run("concurrency", "put", "--reserved-concurrency", "0")
        assert zero.returncode == 2 and "at least 1" in zero.stderr and "concurrency remove" in zero.stderr
        too_many = cli.run("concurrency", "put", "--reserved-concurrency", "4")  # 4 instances > --max-instances 3
        assert too_many.returncode == 2 and "ReservedConcurrencyExceedsLimit" in too_many.stderr
        assert "--max-instances 3" in too_many.stderr
        cli.run("concurrency", "put", "--reserved-concurrency", "1", ok=True)

        cli.stop()
        cli.run("local", "start", ok=True)
        assert cli.json("concurrency", "get")["reservedConcurrency"] == 1
        wait_until(lambda: len(ready(project)) == 1, "the warm instance is started again at start-up")

        unknown = cli.run("concurrency", "get", "--runtime-id", "no-such-runtime")
        assert unknown.returncode == 3 and "FunctionNotFound" in unknown.stderr
