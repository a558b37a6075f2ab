"""The AgentRun logic behind the control API (in-process service, real SQLite and real code trees)."""

from __future__ import annotations

import base64
import io
import zipfile
from pathlib import Path
from typing import Any

import pytest
from daemon_support import code_configuration, code_zip

from agentctl.emulator.codestore import CodeStore
from agentctl.emulator.service import AgentRunService, ServiceConfig, ServiceError
from agentctl.emulator.store import Store


@pytest.fixture
def service(tmp_path: Path) -> AgentRunService:
    return AgentRunService(Store(tmp_path / "state.db"), CodeStore(tmp_path / "code"),
                           ServiceConfig(gateway_url="http://127.0.0.1:9"))


def runtime(service: AgentRunService, name: str = "agent", text: str = "v1", **extra: Any) -> dict[str, Any]:
    code = code_configuration(code_zip(app=text))
    return service.create_runtime({"agentRuntimeName": name, "codeConfiguration": code, **extra})


def fails(status: int, code: str, call: Any, *args: Any) -> str:
    with pytest.raises(ServiceError) as caught:
        call(*args)
    assert (caught.value.status, caught.value.code) == (status, code), caught.value.message
    return caught.value.message


def test_create_unpacks_the_code_and_becomes_ready(service: AgentRunService) -> None:
    created = runtime(service)
    assert created["status"] == "CREATING"
    ready = service.get_runtime(created["agentRuntimeId"])
    assert ready["status"] == "READY" and "zipFile" not in ready["codeConfiguration"]
    latest = service.store.version(created["agentRuntimeId"], "LATEST")
    assert latest is not None and (Path(latest["codeDir"]) / "app.py").read_text() == "v1"
    assert latest["config"]["agentRuntimeName"] == "agent" and "status" not in latest["config"]


@pytest.mark.parametrize(("body", "status", "code"), [
    ({"agentRuntimeName": "1bad"}, 400, "InvalidParameter"),
    ({"agentRuntimeName": "a" * 129}, 400, "InvalidParameter"),
    ({}, 400, "MissingParameter"),
    ({"agentRuntimeName": "ok"}, 400, "MissingParameter"),
    ({"agentRuntimeName": "ok", "codeConfiguration": {"ossBucketName": "b", "ossObjectName": "o"}}, 400,
     "NotSupported"),
    ({"agentRuntimeName": "ok", "codeConfiguration": {"zipFile": "not base64!"}}, 400, "InvalidParameter"),
    ({"agentRuntimeName": "ok", "codeConfiguration": {"zipFile": base64.b64encode(b"plain").decode()}}, 400,
     "InvalidParameter"),
    ({"agentRuntimeName": "ok", "codeConfiguration": {**code_configuration(code_zip()), "checksum": "1"}}, 400,
     "CodeChecksumMismatch"),
    ({"agentRuntimeName": "ok", "codeConfiguration": code_configuration(code_zip()), "cpu": 64}, 400,
     "InvalidParameter"),
    ({"agentRuntimeName": "ok", "codeConfiguration": code_configuration(code_zip()), "memory": "big"}, 400,
     "InvalidParameter"),
])
def test_bad_runtime_input_is_refused_and_stores_nothing(service: AgentRunService, body: dict[str, Any], status: int,
                                                         code: str) -> None:
    fails(status, code, service.create_runtime, body)
    assert service.store.counts()["runtimes"] == 0
    assert not list((service.codes.root / "staging").iterdir())


def test_a_duplicate_name_is_a_conflict(service: AgentRunService) -> None:
    runtime(service)
    assert "agent" in fails(409, "AgentRuntimeAlreadyExists", runtime, service)


def test_publish_freezes_latest_and_refuses_when_nothing_changed(service: AgentRunService) -> None:
    runtime_id = runtime(service)["agentRuntimeId"]
    assert service.publish_version(runtime_id, {"description": "first"})["agentRuntimeVersion"] == "1"
    message = fails(400, "VersionNotChanged", service.publish_version, runtime_id, {})
    assert "version 1" in message
    # Same files zipped again (other timestamps): still no change.
    service.update_runtime(runtime_id, {"codeConfiguration": code_configuration(code_zip(app="v1"))})
    fails(400, "VersionNotChanged", service.publish_version, runtime_id, {})
    service.update_runtime(runtime_id, {"codeConfiguration": code_configuration(code_zip(app="v2"))})
    assert service.publish_version(runtime_id, {})["agentRuntimeVersion"] == "2"
    service.update_runtime(runtime_id, {"memory": 4096})
    assert service.publish_version(runtime_id, {})["agentRuntimeVersion"] == "3"

    one, two = service.store.version(runtime_id, 1), service.store.version(runtime_id, "2")
    assert one is not None and two is not None
    assert (Path(one["codeDir"]) / "app.py").read_text() == "v1"
    assert (Path(two["codeDir"]) / "app.py").read_text() == "v2"
    assert one["codeDir"] != two["codeDir"] and "memory" not in one["config"]
    assert service.get_runtime(runtime_id, "3")["memory"] == 4096
    assert service.get_runtime(runtime_id, "1")["agentRuntimeVersion"] == "1"
    fails(404, "AgentRuntimeVersionNotFound", service.get_runtime, runtime_id, "9")


def test_endpoint_versions_and_weights_are_checked(service: AgentRunService) -> None:
    runtime_id = runtime(service)["agentRuntimeId"]
    service.publish_version(runtime_id, {})

    def create(target: Any, weights: list[dict[str, Any]], name: str = "prod") -> dict[str, Any]:
        return service.create_endpoint(runtime_id, {"agentRuntimeEndpointName": name, "targetVersion": target,
                                                    "routingConfiguration": {"versionWeights": weights}})

    assert "published: 1" in fails(404, "AgentRuntimeVersionNotFound", create, "2", [])
    fails(404, "AgentRuntimeVersionNotFound", create, "1", [{"version": "5", "weight": 0.1}])
    fails(400, "InvalidParameter", create, "1", [{"version": "LATEST", "weight": 1.5}])
    fails(400, "InvalidParameter", create, "1", [{"version": "LATEST", "weight": -0.1}])
    assert "below 1" in fails(400, "InvalidParameter", create, "LATEST", [{"version": "1", "weight": 1}])
    fails(400, "InvalidParameter", create, "1", [{"version": "1", "weight": 0.5}])
    fails(400, "InvalidParameter", create, "latest-ish", [])
    assert service.store.counts()["endpoints"] == 0

    endpoint = create(1, [{"version": "LATEST", "weight": 0.1}])
    assert endpoint["targetVersion"] == "1" and endpoint["endpointPublicUrl"].endswith(
        "/agent-runtimes/agent/endpoints/prod/invocations")
    fails(409, "AgentRuntimeEndpointAlreadyExists", create, "1", [])
    routed = service.store.endpoint_by_name(runtime_id, "prod")
    assert routed is not None and routed["routingConfiguration"]["versionWeights"] == [
        {"version": "LATEST", "weight": 0.1}]
    updated = service.update_endpoint(runtime_id, endpoint["agentRuntimeEndpointId"], {"targetVersion": "LATEST",
                                                                                     "routingConfiguration": {}})
    assert updated["targetVersion"] == "LATEST" and updated["routingConfiguration"]["versionWeights"] == []


def test_delete_refuses_while_endpoints_exist_then_removes_rows_and_trees(service: AgentRunService) -> None:
    runtime_id = runtime(service)["agentRuntimeId"]
    service.publish_version(runtime_id, {})
    endpoint = service.create_endpoint(runtime_id, {"agentRuntimeEndpointName": "prod"})
    assert "prod" in fails(409, "AgentRuntimeHasEndpoints", service.delete_runtime, runtime_id)
    service.delete_endpoint(runtime_id, endpoint["agentRuntimeEndpointId"])
    assert service.delete_runtime(runtime_id)["status"] == "DELETING"
    assert service.store.counts() == {"runtimes": 0, "versions": 0, "endpoints": 0}
    assert not (service.codes.root / runtime_id).exists()
    fails(404, "AgentRuntimeNotFound", service.get_runtime, runtime_id)


def test_lists_filter_by_name_and_page(service: AgentRunService) -> None:
    for name in ("alpha", "alpha-2", "beta"):
        runtime(service, name)
    page = service.list_runtimes({"agentRuntimeName": "alpha", "pageSize": "1", "pageNumber": "2"})
    assert (page["total"], page["pageNumber"], [r["agentRuntimeName"] for r in page["items"]]) == (2, 2, ["alpha-2"])
    exact = service.list_runtimes({"agentRuntimeName": "alpha", "searchMode": "exact"})
    assert [r["agentRuntimeName"] for r in exact["items"]] == ["alpha"]
    fails(400, "InvalidParameter", service.list_runtimes, {"pageSize": "1000"})
    fails(400, "InvalidParameter", service.list_runtimes, {"pageNumber": "zero"})


def test_a_zip_that_cannot_be_unpacked_fails_the_create_with_a_reason(service: AgentRunService) -> None:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("../escape.py", "x")
    created = service.create_runtime({"agentRuntimeName": "evil", "codeConfiguration":
                                      code_configuration(buffer.getvalue())})
    failed = service.get_runtime(created["agentRuntimeId"])
    assert failed["status"] == "CREATE_FAILED" and "unpacked" in failed["statusReason"]
    assert not (service.codes.root.parent / "escape.py").exists()


def test_recover_finishes_interrupted_work_and_removes_orphans(tmp_path: Path) -> None:
    jobs: list[Any] = []
    store, codes = Store(tmp_path / "state.db"), CodeStore(tmp_path / "code")
    crashed = AgentRunService(store, codes, ServiceConfig(), schedule=jobs.append)
    pending = runtime(crashed, "pending")["agentRuntimeId"]  # committed CREATING, job never ran
    lost = runtime(crashed, "lost")["agentRuntimeId"]
    Path(store.runtime(lost).pending_zip).unlink()  # type: ignore[arg-type, union-attr]
    orphan = codes.root / pending / "latest-7"
    orphan.mkdir(parents=True)

    changes: list[int] = []
    store.subscribe(lambda: changes.append(store.generation))
    restarted = AgentRunService(store, codes, ServiceConfig())
    assert orphan in restarted.recover()
    assert restarted.get_runtime(pending)["status"] == "READY"
    assert restarted.get_runtime(lost)["status"] == "CREATE_FAILED"
    assert not orphan.exists() and len(changes) == 2
    assert not list((codes.root / "staging").iterdir())


def test_unknown_fields_are_refused_not_stored(service: AgentRunService) -> None:
    code = code_configuration(code_zip())
    message = fails(400, "InvalidParameter", service.create_runtime,
                    {"agentRuntimeName": "typo", "codeConfiguration": code, "memroy": 512})
    assert "memroy" in message and "memory" in message
    assert service.store.runtime_row_by_name("typo") is None
    runtime_id = runtime(service)["agentRuntimeId"]
    assert "bogus" in fails(400, "InvalidParameter", service.update_runtime, runtime_id, {"bogus": 1})
    assert "zipFiel" in fails(400, "InvalidParameter", service.update_runtime, runtime_id,
                              {"codeConfiguration": {**code, "zipFiel": "x"}})
    assert "targetVersoin" in fails(400, "InvalidParameter", service.create_endpoint, runtime_id,
                                    {"agentRuntimeEndpointName": "e", "targetVersoin": "1"})
    assert service.get_runtime(runtime_id).get("bogus") is None
