"""The rollout state machine of the control service: a change that moves traffic waits for its gate.

In-process service (real SQLite, real code trees) with a gate whose verdicts the test gives by hand, so
every state in between can be read: CREATING/UPDATING while checked, then READY or *_FAILED with the
served runtime or split left as it was, and a check cut short by a restart is made again.
"""

from __future__ import annotations

import concurrent.futures
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from daemon_support import code_configuration, code_zip

from agentctl.emulator.codestore import CodeStore
from agentctl.emulator.rollout import Candidate, RolloutFailed
from agentctl.emulator.service import AgentRunService, ServiceConfig
from agentctl.emulator.store import Store


class HandGate:
    """Records what it was asked to check; the test resolves each check with ``passes``/``fails``."""

    def __init__(self) -> None:
        self.asked: list[tuple[list[str], concurrent.futures.Future[None]]] = []

    def __call__(self, candidates: Sequence[Candidate]) -> concurrent.futures.Future[None]:
        future: concurrent.futures.Future[None] = concurrent.futures.Future()
        self.asked.append(([c.version for c in candidates], future))
        return future

    def passes(self) -> None:
        self.asked.pop(0)[1].set_result(None)

    def fails(self, reason: str) -> None:
        self.asked.pop(0)[1].set_exception(RolloutFailed(reason))


def service_with(tmp_path: Path, gate: HandGate) -> AgentRunService:
    return AgentRunService(Store(tmp_path / "state.db"), CodeStore(tmp_path / "code"),
                           ServiceConfig(gateway_url="http://127.0.0.1:9"), gate=gate)


def deployed(service: AgentRunService, gate: HandGate) -> tuple[str, str]:
    """A READY runtime with a published version 1 and an endpoint `default` on LATEST (its check passed)."""
    runtime_id = service.create_runtime({"agentRuntimeName": "agent", "description": "one",
                                         "codeConfiguration": code_configuration(code_zip("one"))})["agentRuntimeId"]
    service.publish_version(runtime_id, {})
    endpoint = service.create_endpoint(runtime_id, {"agentRuntimeEndpointName": "default"})
    assert endpoint["status"] == "CREATING" and gate.asked[0][0] == ["LATEST"]
    gate.passes()
    assert service.get_endpoint(runtime_id, endpoint["agentRuntimeEndpointId"])["status"] == "READY"
    return runtime_id, endpoint["agentRuntimeEndpointId"]


def update(service: AgentRunService, runtime_id: str, tag: str) -> dict[str, Any]:
    return service.update_runtime(runtime_id, {"description": tag, "codeConfiguration":
                                               code_configuration(code_zip(tag))})


def test_a_failed_check_leaves_latest_as_it_was_and_says_why(tmp_path: Path) -> None:
    gate = HandGate()
    service = service_with(tmp_path, gate)
    runtime_id, _ = deployed(service, gate)
    served = service.store.version(runtime_id, "LATEST")

    assert update(service, runtime_id, "two")["status"] == "UPDATING"
    assert service.get_runtime(runtime_id)["description"] == "two"  # the API shows the change in progress
    assert service.store.version(runtime_id, "LATEST") == served  # the gateway still serves the old one
    gate.fails("version LATEST did not pass its health check: boom")

    runtime = service.get_runtime(runtime_id)
    assert runtime["status"] == "UPDATE_FAILED" and "boom" in runtime["statusReason"]
    assert runtime["description"] == "one" and service.store.version(runtime_id, "LATEST") == served

    update(service, runtime_id, "three")
    gate.passes()
    runtime = service.get_runtime(runtime_id)
    assert runtime["status"] == "READY" and runtime["description"] == "three" and "statusReason" not in runtime
    assert service.store.version(runtime_id, "LATEST") != served


def test_an_endpoint_keeps_its_split_until_its_new_version_passes(tmp_path: Path) -> None:
    gate = HandGate()
    service = service_with(tmp_path, gate)
    runtime_id, endpoint_id = deployed(service, gate)

    changed = service.update_endpoint(runtime_id, endpoint_id, {"targetVersion": "1"})
    assert changed["status"] == "UPDATING" and changed["targetVersion"] == "1" and gate.asked[0][0] == ["1"]
    assert service.store.endpoint_by_name(runtime_id, "default")["targetVersion"] == "LATEST"  # still served
    gate.fails("version 1 did not pass its health check")
    endpoint = service.get_endpoint(runtime_id, endpoint_id)
    assert (endpoint["status"], endpoint["targetVersion"]) == ("UPDATE_FAILED", "LATEST")

    service.update_endpoint(runtime_id, endpoint_id, {"targetVersion": "1"})
    gate.passes()
    endpoint = service.get_endpoint(runtime_id, endpoint_id)
    assert (endpoint["status"], endpoint["targetVersion"]) == ("READY", "1") and "statusReason" not in endpoint

    back = service.update_endpoint(runtime_id, endpoint_id, {"targetVersion": "LATEST"})
    assert back["status"] == "UPDATING"  # LATEST had no share here any more: it is checked again
    gate.passes()


def test_a_check_cut_short_by_a_restart_is_made_again(tmp_path: Path) -> None:
    gate = HandGate()
    service = service_with(tmp_path, gate)
    runtime_id, endpoint_id = deployed(service, gate)
    service.update_endpoint(runtime_id, endpoint_id, {"targetVersion": "1"})
    update(service, runtime_id, "two")
    assert len(gate.asked) == 2  # the daemon dies with both checks running: nothing is committed
    service.store.close()

    again = HandGate()
    restarted = service_with(tmp_path, again)
    restarted.recover()
    assert sorted(versions for versions, _ in again.asked) == [["1"], ["LATEST"]]
    while again.asked:
        again.passes()
    assert restarted.get_runtime(runtime_id)["status"] == "READY"
    assert restarted.get_runtime(runtime_id)["description"] == "two"
    assert restarted.get_endpoint(runtime_id, endpoint_id)["targetVersion"] == "1"
