"""Health-gated changes: traffic never moves to code that has not passed its health check (DESIGN §8).

The control service asks a :data:`Gate` before a change takes traffic:

- ``UpdateAgentRuntime`` while an endpoint sends traffic to LATEST: the new LATEST (code and
  configuration) is started and checked; until then the runtime is UPDATING and LATEST serves the old
  code. Healthy → READY and the gateway switches (to the instance already started); not healthy →
  UPDATE_FAILED, ``statusReason`` = what failed and the tail of the instance's output, and LATEST stays
  what it was (the stored runtime keeps the previous configuration, so the next deploy tries again).
- ``Create``/``UpdateAgentRuntimeEndpoint``: every version that gets a share it did not have is checked;
  meanwhile the endpoint is CREATING/UPDATING and serves its previous split (a new endpoint answers 503
  until it is ready). Failed → CREATE_FAILED/UPDATE_FAILED with the reason; the split stays as it was.

What the cloud does here is not written down; these are the statuses and ``statusReason`` fields of the
API (the official SDK models carry both, for runtimes and endpoints), used the way Cloud Run and Knative
report a revision that never became ready. A runtime is not checked when it is created, nor LATEST when
no endpoint routes to it: no traffic goes there, so nothing is protected (the first request then reports
the start failure). The daemon's gate (``emulator.health_gate``) starts the instances in the pool, so the
gateway later switches to instances that are already up.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from agentctl.emulator.codestore import BadZip, CodeStore, zip_digest
from agentctl.emulator.drivers.base import runnable
from agentctl.emulator.routing import LATEST, split_of
from agentctl.emulator.store import EndpointRow, RuntimeRow, Store, frozen_config
from agentctl.errors import AgentctlError

IN_PROGRESS = {"CREATING": "CREATE_FAILED", "UPDATING": "UPDATE_FAILED"}  # and how each one fails
Job = Callable[[], None]
NOT_SERVING = frozenset({"CREATING", "CREATE_FAILED"})  # an endpoint that never passed its check


@dataclass(frozen=True)
class Candidate:
    """A version about to take traffic: ``record`` as ``Store.version`` gives it (config, codeDir)."""

    runtime_id: str
    runtime_name: str
    version: str
    record: Mapping[str, Any]


class RolloutFailed(Exception):
    """A candidate did not become healthy; ``reason`` is the runtime's or endpoint's ``statusReason``."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class GateClosed(Exception):
    """The daemon is stopping: the change stays in progress and is checked again at the next start."""


# Starts checking the candidates; the future resolves to None (all healthy) or raises RolloutFailed/GateClosed.
Gate = Callable[[Sequence[Candidate]], "concurrent.futures.Future[None]"]


def live_versions(endpoint: Mapping[str, Any]) -> set[str]:
    """The versions an endpoint sends traffic to (share > 0)."""
    return {version for version, share in split_of(endpoint).shares if share > 0}


def serves_latest(endpoints: Iterable[Mapping[str, Any]]) -> bool:
    """Does any endpoint send traffic to LATEST now (a new endpoint still being checked does not)?"""
    return any(LATEST in live_versions(endpoint) for endpoint in endpoints
               if endpoint.get("status") not in NOT_SERVING)


def newly_routed(requested: Mapping[str, Any], served: Mapping[str, Any] | None) -> list[str]:
    """Versions the requested split sends traffic to that the served one does not (all, for a new endpoint)."""
    before = live_versions(served) if served is not None else set()
    return sorted(live_versions(requested) - before)


def now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def outcome(future: concurrent.futures.Future[None]) -> str | None:
    """None when the gate passed, else the failure reason; GateClosed propagates."""
    try:
        future.result()
    except RolloutFailed as failed:
        return failed.reason
    return None


class Rollout:
    """How a CREATING/UPDATING runtime or endpoint settles: unpacked, checked by the gate, committed.

    Every commit runs through ``schedule`` (the control service's one worker thread), so it is ordered
    with the API calls; the gate answers on its own thread.
    """

    def __init__(self, store: Store, codes: CodeStore, schedule: Callable[[Job], object],
                 gate: Gate | None) -> None:
        self.store, self.codes, self._schedule, self._gate = store, codes, schedule, gate

    # runtimes -----------------------------------------------------------------------------------
    def settle_runtime(self, runtime_id: str) -> None:
        """Unpack the staged code, check the new LATEST when an endpoint routes to it, then commit."""
        row = self.store.runtime(runtime_id)
        if row is None or row.data.get("status") not in IN_PROGRESS:
            return
        staged = row.pending_zip
        code_dir, digest = row.code_dir, row.code_digest
        try:
            if staged:
                code_dir = str(self.codes.unpack(Path(staged), runtime_id, row.revision))
                digest = zip_digest(Path(staged).read_bytes())
        except (OSError, BadZip, AgentctlError) as exc:
            self._runtime_settled(runtime_id, row.code_dir, row.code_digest, f"code could not be unpacked: {exc}")
            return
        if self._gate is None or row.pending is None or not serves_latest(self.store.endpoints(runtime_id)):
            self._runtime_settled(runtime_id, code_dir, digest, None)
            return
        record = {"version": LATEST, "config": frozen_config(row.pending), "codeDir": code_dir}
        self._check([Candidate(runtime_id, row.name, LATEST, record)],
                    lambda reason: self._runtime_settled(runtime_id, code_dir, digest, reason))

    def _runtime_settled(self, runtime_id: str, code_dir: str | None, digest: str | None,
                         reason: str | None) -> None:
        """Commit: the requested runtime (READY), or what was served (``*_FAILED`` + reason)."""
        row = self.store.runtime(runtime_id)
        if row is None or row.data.get("status") not in IN_PROGRESS:  # deleted meanwhile
            if row is None or code_dir != row.code_dir:
                self.codes.discard(code_dir)
            return
        staged = row.pending_zip
        if reason is None:
            row.data = {**row.view, "status": "READY"}
            row.code_dir, row.code_digest = code_dir, digest
        else:
            if code_dir != row.code_dir:
                self.codes.discard(code_dir)
            row.data.update(status=IN_PROGRESS[row.data["status"]], statusReason=reason, lastUpdatedAt=now())
        row.pending = row.pending_zip = None
        with self.store.change() as tx:
            tx.save_runtime(row)
        self.codes.discard(staged)
        self.codes.prune_latest(runtime_id, row.code_dir)

    # endpoints ----------------------------------------------------------------------------------
    def change_endpoint(self, row: RuntimeRow, wanted: dict[str, Any]) -> dict[str, Any]:
        """Store a validated endpoint (new or changed); returns it as the API shows it now.

        Without versions to check it is READY at once; else CREATING (never served yet) or UPDATING
        (the served split stays until the check passes).
        """
        served = self.store.endpoint_row(row.id, str(wanted["agentRuntimeEndpointId"]))
        wanted = {k: v for k, v in wanted.items() if k != "statusReason"}
        candidates = self._candidates(row, wanted, served)
        pending = None
        if not candidates:
            data = wanted = {**wanted, "status": "READY"}
        elif served is None or served.data.get("status") in NOT_SERVING:  # never served: nothing to keep
            data = wanted = {**wanted, "status": "CREATING"}
        else:
            wanted["status"] = "UPDATING"
            data = {k: v for k, v in served.data.items() if k != "statusReason"}
            data["status"] = "UPDATING"
            pending = wanted
        with self.store.change() as tx:
            tx.save_endpoint(row.id, data, pending)
        if candidates:
            self._check_endpoint(row.id, str(data["agentRuntimeEndpointId"]), candidates)
        return wanted

    def _check_endpoint(self, runtime_id: str, endpoint_id: str, candidates: Sequence[Candidate]) -> None:
        self._check(candidates, lambda reason: self._endpoint_settled(runtime_id, endpoint_id, reason))

    def _candidates(self, row: RuntimeRow, wanted: Mapping[str, Any], served: EndpointRow | None) -> list[Candidate]:
        """The versions this change sends traffic to for the first time (when there is a gate to ask)."""
        if self._gate is None:
            return []
        before = served.data if served is not None and served.data.get("status") not in NOT_SERVING else None
        found = []
        for version in newly_routed(wanted, before):
            record = self.store.version(row.id, version)
            if record is not None and runnable(record):  # no code yet: the gateway says so per request
                found.append(Candidate(row.id, row.name, version, record))
        return found

    def _endpoint_settled(self, runtime_id: str, endpoint_id: str, reason: str | None) -> None:
        """Commit a checked endpoint change: the requested split (READY), or the served one (``*_FAILED``)."""
        found = self.store.endpoint_row(runtime_id, endpoint_id)
        if found is None or found.data.get("status") not in IN_PROGRESS:  # deleted meanwhile
            return
        if reason is None:
            data = {**found.view, "status": "READY"}
        else:
            data = {**found.data, "status": IN_PROGRESS[found.data["status"]], "statusReason": reason}
        with self.store.change() as tx:
            tx.save_endpoint(runtime_id, data, None)

    # both ---------------------------------------------------------------------------------------
    def resume(self) -> None:
        """After a restart: settle again what was left CREATING/UPDATING (its check was cut short)."""
        for row in self.store.runtimes():
            if row.data.get("status") in IN_PROGRESS:
                runtime_id = row.id
                self._schedule(lambda runtime_id=runtime_id: self.settle_runtime(runtime_id))  # type: ignore[misc]
            for endpoint in self.store.endpoint_rows(row.id):
                if endpoint.data.get("status") in IN_PROGRESS:
                    served = None if endpoint.pending is None else EndpointRow(row.id, endpoint.data)
                    candidates = self._candidates(row, endpoint.view, served)
                    if candidates:
                        self._check_endpoint(row.id, endpoint.id, candidates)
                    else:
                        self._endpoint_settled(row.id, endpoint.id, None)

    def _check(self, candidates: Sequence[Candidate], commit: Callable[[str | None], None]) -> None:
        """Ask the gate; its verdict (on another thread) is committed on the service's own thread."""
        assert self._gate is not None

        def verdict(done: concurrent.futures.Future[None]) -> None:
            try:
                reason = outcome(done)
            except GateClosed:
                return  # stays in progress; ``resume`` checks it again at the next start
            with contextlib.suppress(RuntimeError):  # the worker is shutting down: ``resume`` does it later
                self._schedule(lambda: commit(reason))

        self._gate(candidates).add_done_callback(verdict)
