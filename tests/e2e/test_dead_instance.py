"""New requests sent to an instance that has just died go to a replacement (issue #9, item 8).

The instance is killed with ``kill -9`` (process driver) or ``docker kill`` (docker driver), and requests
are sent at once, before the pool can have noticed: a connection to the dead instance is refused (or the
Docker proxy drops it) before any byte of an answer, so the request is sent once more, to a healthy or new
instance. Only requests really in flight on the dead instance may fail (here none is).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

import docker_support
from gate_project import GateProject, gate_project, host_pid

BURST = 24


def burst_after(kill: Callable[[], None], project: GateProject) -> list[tuple[int, str]]:
    """Kill, then send BURST requests from 8 threads at once: (status, instance) of each."""
    with ThreadPoolExecutor(8) as threads:
        kill()
        replies = list(threads.map(lambda _: project.request("ok", timeout=60), range(BURST)))
    return [(reply.status, reply.instance) for reply in replies]


def test_requests_right_after_kill_9_are_served_by_a_replacement(tmp_path: Path) -> None:
    with gate_project(tmp_path, concurrency=10, start=("--idle-timeout", "60")) as project:
        victim = project.request("ok").instance
        pid = host_pid(project, victim)

        answers = burst_after(lambda: os.kill(pid, 9), project)

        assert [status for status, _ in answers] == [200] * BURST, answers
        assert victim not in {instance for _, instance in answers}


@pytest.mark.docker
@pytest.mark.timeout(600)
def test_requests_right_after_docker_kill_are_served_by_a_replacement(tmp_path: Path,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AGENTCTL_BUILD_IMAGE", docker_support.require_image(docker_support.BASE_IMAGE))
    engine = docker_support.require_docker()
    start = ("--driver", "docker", "--idle-timeout", "60")
    with gate_project(tmp_path, concurrency=10, start=start) as project:
        victim = project.request("ok").instance
        container = next(c for c in engine.containers.list(filters={"label": f"agentctl.instance={victim}"}))

        answers = burst_after(lambda: container.kill(), project)

        assert [status for status, _ in answers] == [200] * BURST, answers
        assert victim not in {instance for _, instance in answers}
