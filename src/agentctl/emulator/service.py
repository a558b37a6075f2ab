"""The AgentRun logic of the emulator: the twelve operations on plain dicts, no sockets.

Status transitions are real and quick: Create/Update commit the row as
CREATING/UPDATING (the zip already staged on disk), return, and a scheduled job
unpacks the code and commits READY (or CREATE_FAILED/UPDATE_FAILED with a
``statusReason``). The control server runs every call and every job on one
worker thread, in order, so the job has finished before the next call reads.

Decisions where the cloud's behaviour is not written down:
- DeleteAgentRuntime refuses while the runtime has endpoints (409
  ``AgentRuntimeHasEndpoints``), as the cloud does; ``agentctl remove`` deletes
  the endpoints first. A delete commits at once (DELETING is only reported).
- PublishRuntimeVersion with no change of code (by content) or configuration
  since the last version fails with 400 ``VersionNotChanged`` naming it.
- Name filters are substrings unless ``searchMode=exact``.
- A runtime cannot be renamed; an endpoint can (its URL changes).
- A change that would send traffic to code not served before is health-checked first, through the
  ``gate`` (see ``emulator.rollout``); while it runs the resource is UPDATING/CREATING, and a failure
  leaves what was served in place with ``*_FAILED`` and a ``statusReason``.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from agentctl.api.models import LATEST
from agentctl.emulator import validation as check
from agentctl.emulator.codestore import BadZip, CodeStore, zip_digest
from agentctl.emulator.rollout import IN_PROGRESS, Gate, Job, Rollout, now
from agentctl.emulator.store import RuntimeRow, Store, VersionRow, frozen_config
from agentctl.emulator.validation import ServiceError
from agentctl.errors import NO_ROOM

__all__ = ["AgentRunService", "ServiceConfig", "ServiceError"]



@dataclass(frozen=True)
class ServiceConfig:
    region: str = "local"
    account_id: str = "local"
    gateway_url: str = "http://127.0.0.1:0"  # the gateway's base URL, for endpointPublicUrl


def _run_now(job: Job) -> None:
    job()


class AgentRunService:
    """The operations of AgentRun 2025-09-10 over a ``Store`` and a ``CodeStore``."""

    def __init__(self, store: Store, codes: CodeStore, config: ServiceConfig,
                 schedule: Callable[[Job], object] = _run_now, gate: Gate | None = None) -> None:
        self.store, self.codes, self.config, self._schedule = store, codes, config, schedule
        # gate None: changes take effect without a health check (tests of the API alone)
        self.rollout = Rollout(store, codes, schedule, gate)

    # --- runtimes -----------------------------------------------------------------------------

    def create_runtime(self, body: Any) -> dict[str, Any]:
        body = check.body_object(body)
        check.only_fields(body, check.CREATE_RUNTIME, "CreateAgentRuntime")
        runtime_name = check.name(body.get("agentRuntimeName"), "agentRuntimeName")
        check.runtime_fields(body)
        code, container = body.get("codeConfiguration"), body.get("containerConfiguration")
        if not code and not container:
            raise check.bad("give codeConfiguration (a zip) or containerConfiguration (an image)", "MissingParameter")
        zipped = check.zip_bytes(code, required=True) if code else None
        self._check_zip(zipped)
        if self.store.runtime_row_by_name(runtime_name):
            raise ServiceError(409, "AgentRuntimeAlreadyExists", f"an agent runtime named {runtime_name!r} exists")
        runtime_id = str(uuid.uuid4())
        stamp = now()
        data = {
            **_without_zip(body),
            "agentRuntimeId": runtime_id,
            "agentRuntimeArn": self._arn(runtime_id),
            "agentRuntimeVersion": LATEST,
            "artifactType": body.get("artifactType") or ("Code" if code else "Container"),
            "status": "CREATING",
            "createdAt": stamp,
            "lastUpdatedAt": stamp,
        }
        row = RuntimeRow(runtime_id, runtime_name, data, revision=1 if zipped else 0,
                         pending_zip=self._stage(zipped) if zipped else None)
        with self.store.change() as tx:
            tx.add_runtime(row)
        self._schedule(lambda: self.settle(runtime_id))
        return data

    def update_runtime(self, runtime_id: str, body: Any) -> dict[str, Any]:
        body = check.body_object(body)
        check.only_fields(body, check.UPDATE_RUNTIME, "UpdateAgentRuntime")
        row = self._runtime(runtime_id)
        self._require_ready(row, "update")
        if body.get("agentRuntimeName") not in (None, row.name):
            raise check.bad(f"agentRuntimeName cannot change (it is {row.name!r}); create a new runtime instead")
        check.runtime_fields(body)
        zipped = check.zip_bytes(body["codeConfiguration"], required=False) if body.get("codeConfiguration") else None
        self._check_zip(zipped)
        wanted = dict(row.data)  # the request applied; ``data`` stays what is served until it is settled
        for key, value in _without_zip(body).items():
            if key == "codeConfiguration":
                wanted[key] = {**wanted.get(key, {}), **value}
            elif value is not None:
                wanted[key] = value
        wanted.update(status="UPDATING", lastUpdatedAt=now())
        wanted.pop("statusReason", None)
        row.data["status"] = "UPDATING"
        row.data.pop("statusReason", None)
        row.pending = wanted
        if zipped:
            row.pending_zip, row.revision = self._stage(zipped), row.revision + 1
        with self.store.change() as tx:
            tx.save_runtime(row)
        self._schedule(lambda: self.settle(runtime_id))
        return wanted

    def settle(self, runtime_id: str) -> None:
        """Finish a CREATING/UPDATING runtime (``Rollout.settle_runtime``)."""
        self.rollout.settle_runtime(runtime_id)

    def get_runtime(self, runtime_id: str, version: str | None = None) -> dict[str, Any]:
        row = self._runtime(runtime_id)
        if version in (None, "", LATEST):
            return row.view
        frozen = self._version(row, check.version_label(version, "agentRuntimeVersion"))
        return {**frozen.config, **{k: row.data[k] for k in ("agentRuntimeId", "agentRuntimeArn", "createdAt")},
                "agentRuntimeVersion": str(frozen.version), "status": "READY",
                "lastUpdatedAt": frozen.data.get("lastUpdatedAt")}

    def list_runtimes(self, query: Mapping[str, str]) -> dict[str, Any]:
        number, size = check.page_args(query)
        wanted, status = query.get("agentRuntimeName"), query.get("status")
        items = [r.view for r in self.store.runtimes()
                 if check.name_matches(r.name, wanted, query.get("searchMode"))
                 and (not status or r.data.get("status") == status)]
        return check.page(items, number, size)

    def delete_runtime(self, runtime_id: str) -> dict[str, Any]:
        row = self._runtime(runtime_id)
        endpoints = self.store.endpoints(runtime_id)
        if endpoints:
            names = ", ".join(e["agentRuntimeEndpointName"] for e in endpoints)
            raise ServiceError(409, "AgentRuntimeHasEndpoints",
                               f"agent runtime {row.name!r} still has endpoints ({names}); delete them first")
        trees = [row.code_dir, row.pending_zip, *(v.code_dir for v in self.store.versions(runtime_id))]
        with self.store.change() as tx:
            tx.delete_runtime(runtime_id)
        self.codes.discard(*trees, self.codes.root / runtime_id)
        return {**row.view, "status": "DELETING", "lastUpdatedAt": now()}

    # --- versions -----------------------------------------------------------------------------

    def publish_version(self, runtime_id: str, body: Any) -> dict[str, Any]:
        body = check.body_object(body)
        check.only_fields(body, check.PUBLISH, "PublishRuntimeVersion")
        row = self._runtime(runtime_id)
        self._require_ready(row, "publish a version of")
        versions = self.store.versions(runtime_id)
        config = frozen_config(row.data)
        last = versions[-1] if versions else None
        if last and last.config == config and last.code_digest == row.code_digest:
            raise check.bad(f"nothing changed since version {last.version} of {row.name!r} (same code and "
                            f"configuration); change something, or route traffic to version {last.version}",
                            "VersionNotChanged")
        number = last.version + 1 if last else 1
        tree = self.codes.freeze(Path(row.code_dir), runtime_id, number) if row.code_dir else None
        data = {
            "agentRuntimeArn": row.data["agentRuntimeArn"],
            "agentRuntimeId": runtime_id,
            "agentRuntimeName": row.name,
            "agentRuntimeVersion": str(number),
            "description": str(body.get("description") or ""),
            "lastUpdatedAt": now(),
        }
        version = VersionRow(runtime_id, number, data, config, str(tree) if tree else None, row.code_digest)
        with self.store.change() as tx:
            tx.add_version(version)
        return data

    def list_versions(self, runtime_id: str, query: Mapping[str, str]) -> dict[str, Any]:
        number, size = check.page_args(query)
        self._runtime(runtime_id)
        return check.page([v.data for v in self.store.versions(runtime_id)], number, size)

    # --- endpoints ----------------------------------------------------------------------------

    def create_endpoint(self, runtime_id: str, body: Any) -> dict[str, Any]:
        body = check.body_object(body)
        check.only_fields(body, check.CREATE_ENDPOINT, "CreateAgentRuntimeEndpoint")
        row = self._runtime(runtime_id)
        endpoint_name = check.name(body.get("agentRuntimeEndpointName"), "agentRuntimeEndpointName")
        self._unique_endpoint(row, endpoint_name)
        endpoint_id = str(uuid.uuid4())
        data = {
            "agentRuntimeEndpointId": endpoint_id,
            "agentRuntimeEndpointArn": f"{row.data['agentRuntimeArn']}/endpoints/{endpoint_id}",
            "agentRuntimeEndpointName": endpoint_name,
            "agentRuntimeId": runtime_id,
            "description": str(body.get("description") or ""),
            "disablePublicNetworkAccess": bool(body.get("disablePublicNetworkAccess", False)),
            "status": "READY",
            "createdAt": now(),
        }
        return self._save_endpoint(row, data, body)

    def update_endpoint(self, runtime_id: str, endpoint_id: str, body: Any) -> dict[str, Any]:
        body = check.body_object(body)
        check.only_fields(body, check.UPDATE_ENDPOINT, "UpdateAgentRuntimeEndpoint")
        row = self._runtime(runtime_id)
        data = dict(self._endpoint(runtime_id, endpoint_id))
        if data.get("status") in IN_PROGRESS:
            raise ServiceError(409, "InvalidStatus", f"endpoint {data['agentRuntimeEndpointName']!r} is "
                                                     f"{data['status']} (its new versions are being health-checked); "
                                                     "wait until it is READY or failed")
        new_name = body.get("agentRuntimeEndpointName")
        if new_name not in (None, data["agentRuntimeEndpointName"]):
            self._unique_endpoint(row, check.name(new_name, "agentRuntimeEndpointName"))
            data["agentRuntimeEndpointName"] = new_name
        for key in ("description", "disablePublicNetworkAccess"):
            if body.get(key) is not None:
                data[key] = body[key]
        merged = {"targetVersion": data.get("targetVersion"), "routingConfiguration": data.get("routingConfiguration"),
                  **{k: body[k] for k in ("targetVersion", "routingConfiguration") if body.get(k) is not None}}
        if body.get("targetVersion") is not None and body.get("routingConfiguration") is None:
            # Only the target changes (the SDK allows it): kept weights that name the new target would contradict
            # it, so they go; the response's routingConfiguration says what the endpoint now does.
            target = check.version_label(body["targetVersion"], "targetVersion")
            kept = (data.get("routingConfiguration") or {}).get("versionWeights") or []
            merged["routingConfiguration"] = {"versionWeights": [w for w in kept if str(w.get("version")) != target]}
        return self._save_endpoint(row, data, merged)

    def get_endpoint(self, runtime_id: str, endpoint_id: str) -> dict[str, Any]:
        row = self._runtime(runtime_id)
        self._endpoint(runtime_id, endpoint_id)
        found = self.store.endpoint_row(runtime_id, endpoint_id)
        assert found is not None
        return self._endpoint_view(row, found.view)

    def list_endpoints(self, runtime_id: str, query: Mapping[str, str]) -> dict[str, Any]:
        number, size = check.page_args(query)
        row = self._runtime(runtime_id)
        items = [self._endpoint_view(row, e.view) for e in self.store.endpoint_rows(runtime_id)
                 if check.name_matches(e.view["agentRuntimeEndpointName"], query.get("endpointName"),
                                       query.get("searchMode"))]
        return check.page(items, number, size)

    def delete_endpoint(self, runtime_id: str, endpoint_id: str) -> dict[str, Any]:
        row = self._runtime(runtime_id)
        data = self._endpoint(runtime_id, endpoint_id)
        with self.store.change() as tx:
            tx.delete_endpoint(endpoint_id)
        return {**self._endpoint_view(row, data), "status": "DELETING"}

    # --- start-up -----------------------------------------------------------------------------

    def recover(self) -> list[Path]:
        """Reconcile stored state after a (possibly hard) stop; returns the orphan trees removed.

        Trees and staged zips that no committed row names are deleted; a runtime
        left CREATING/UPDATING gets its staged code unpacked again (or fails with a reason).
        """
        removed = self.codes.collect_garbage(self.store.code_dirs())
        self.rollout.resume()
        return removed

    # --- helpers ------------------------------------------------------------------------------

    def _arn(self, runtime_id: str) -> str:
        return f"acs:agentrun:{self.config.region}:{self.config.account_id}:agentruntimes/{runtime_id}"

    def _runtime(self, runtime_id: str) -> RuntimeRow:
        row = self.store.runtime(runtime_id)
        if row is None:
            raise ServiceError(404, "AgentRuntimeNotFound", f"agent runtime {runtime_id!r} does not exist")
        return row

    def _version(self, row: RuntimeRow, label: str) -> VersionRow:
        found = self.store.version_row(row.id, int(label))
        if found is None:
            raise ServiceError(404, "AgentRuntimeVersionNotFound",
                               f"agent runtime {row.name!r} has no version {label}{self._known_versions(row)}")
        return found

    def _known_versions(self, row: RuntimeRow) -> str:
        numbers = [str(v.version) for v in self.store.versions(row.id)]
        return f" (published: {', '.join(numbers)})" if numbers else " (none is published yet)"

    def _endpoint(self, runtime_id: str, endpoint_id: str) -> dict[str, Any]:
        data = self.store.endpoint(runtime_id, endpoint_id)
        if data is None:
            raise ServiceError(404, "AgentRuntimeEndpointNotFound", f"endpoint {endpoint_id!r} does not exist")
        return data

    def _unique_endpoint(self, row: RuntimeRow, endpoint_name: str) -> None:
        if self.store.endpoint_by_name(row.id, endpoint_name):
            raise ServiceError(409, "AgentRuntimeEndpointAlreadyExists",
                               f"agent runtime {row.name!r} already has an endpoint named {endpoint_name!r}")

    def _require_ready(self, row: RuntimeRow, action: str) -> None:
        status = row.data.get("status")
        if status in IN_PROGRESS:
            raise ServiceError(409, "InvalidStatus", f"cannot {action} agent runtime {row.name!r} while it is "
                                                     f"{status}; wait until it is READY")

    def _stage(self, zipped: bytes) -> str:
        try:
            return str(self.codes.stage(zipped))
        except OSError as exc:  # the emulator's disk is full (507), or it cannot write there: nothing was stored
            full = exc.errno in NO_ROOM
            raise ServiceError(507 if full else 500, "InsufficientStorage" if full else "InternalError",
                               f"the code could not be stored: {exc.strerror or exc}") from exc

    def _check_zip(self, zipped: bytes | None) -> None:
        if zipped is None:
            return
        try:
            zip_digest(zipped)
        except BadZip as exc:
            raise check.bad(str(exc)) from exc

    def _save_endpoint(self, row: RuntimeRow, data: dict[str, Any], routing: Mapping[str, Any]) -> dict[str, Any]:
        target = check.version_label(routing.get("targetVersion") or LATEST, "targetVersion")
        weights = check.weights(routing.get("routingConfiguration"))
        for label in [target, *(w["version"] for w in weights)]:
            if label != LATEST:
                self._version(row, label)
        if any(w["version"] == target for w in weights):
            raise check.bad(f"routingConfiguration.versionWeights names the targetVersion {target}; "
                            "list only the other versions")
        wanted = {**data, "targetVersion": target, "routingConfiguration": {"versionWeights": weights},
                  "lastUpdatedAt": now()}
        return self._endpoint_view(row, self.rollout.change_endpoint(row, wanted))

    def _endpoint_view(self, row: RuntimeRow, data: dict[str, Any]) -> dict[str, Any]:
        # The URL is computed when read: the gateway's port may differ after a restart.
        url = (f"{self.config.gateway_url}/agent-runtimes/{row.name}/endpoints/{data['agentRuntimeEndpointName']}"
               "/invocations")
        return {**data, "endpointPublicUrl": url}


def _without_zip(body: Mapping[str, Any]) -> dict[str, Any]:
    """The request's fields as stored: the code's bytes are kept as a tree, not in the row."""
    out = dict(body)
    if isinstance(out.get("codeConfiguration"), dict):
        out["codeConfiguration"] = {k: v for k, v in out["codeConfiguration"].items() if k != "zipFile"}
    return out
