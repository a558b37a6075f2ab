"""Waiting for READY: success after transitions, a failed state, a timeout (scripted statuses, no network)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from agentctl.backends.local import LocalBackend
from agentctl.deploy.execute import wait_ready
from agentctl.errors import BackendError, TimedOut


class ScriptedClient:
    """Answers GetAgentRuntime with the next scripted status (the last one repeats)."""

    def __init__(self, *statuses: str, reason: str = "") -> None:
        self.statuses, self.reason, self.calls = list(statuses), reason, 0

    def get_agent_runtime(self, runtime_id: str) -> dict[str, Any]:
        status = self.statuses[min(self.calls, len(self.statuses) - 1)]
        self.calls += 1
        return {"agentRuntimeId": runtime_id, "status": status, "statusReason": self.reason}


class Recorder:
    def __init__(self) -> None:
        self.seen: list[str] = []

    def step(self, message: str) -> None:
        self.seen.append(message)

    def waiting(self, what: str, status: str, elapsed: float) -> None:
        self.seen.append(f"{what}:{status}")


def backend(client: ScriptedClient) -> LocalBackend:
    return LocalBackend(client, region="cn-hangzhou", gateway_url="http://127.0.0.1:1")  # type: ignore[arg-type]


def test_ready_after_creating_reports_progress() -> None:
    reporter = Recorder()
    runtime = wait_ready(backend(ScriptedClient("CREATING", "CREATING", "READY")), "rt", "echo", reporter,
                         interval=0)
    assert runtime["status"] == "READY"
    assert reporter.seen == ["echo:CREATING", "echo:CREATING"]


def test_failed_state_raises_with_the_backend_reason() -> None:
    client = ScriptedClient("UPDATING", "UPDATE_FAILED", reason="health check failed on port 9000")
    with pytest.raises(BackendError, match="UPDATE_FAILED: health check failed on port 9000") as err:
        wait_ready(backend(client), "rt", "echo", Recorder(), interval=0)
    assert err.value.hint and "agentctl logs" in err.value.hint


def test_timeout_raises_timed_out() -> None:
    ticks: Iterator[float] = iter(range(0, 1000, 50))
    with pytest.raises(TimedOut, match="still CREATING after 120s"):
        wait_ready(backend(ScriptedClient("CREATING")), "rt", "echo", Recorder(), timeout=120, interval=0,
                   clock=lambda: float(next(ticks)))
