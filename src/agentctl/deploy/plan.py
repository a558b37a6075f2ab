"""The deploy plan: a read-only diff of what s.yaml wants against what the backend has, as data.

``plan_deploy`` never changes anything; it returns frozen steps, each with a
message for people. An empty plan is the "nothing changed" answer. The
executor (``deploy.execute``) carries the steps out in order.

A runtime is unchanged when its code checksum and every configuration field
s.yaml sets are equal to what the backend reports (fields the backend adds on
its own, such as ids and timestamps, are not compared).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from agentctl.deploy.endpoints import (
    DesiredEndpoint,
    default_endpoint,
    describe_split,
    missing_versions,
    routing_of,
)
from agentctl.errors import NotFound

FAILED_STATES = ("CREATE_FAILED", "UPDATE_FAILED", "FAILED")


@dataclass(frozen=True)
class CreateRuntime:
    name: str
    body: Mapping[str, Any]

    @property
    def message(self) -> str:
        return f"create agent runtime {self.name}"


@dataclass(frozen=True)
class UpdateRuntime:
    runtime_id: str
    name: str
    body: Mapping[str, Any]
    changed: tuple[str, ...]

    @property
    def message(self) -> str:
        return f"update agent runtime {self.name} ({', '.join(self.changed)})"


@dataclass(frozen=True)
class CreateEndpoint:
    endpoint: DesiredEndpoint

    @property
    def message(self) -> str:
        return f"create endpoint {self.endpoint.name} → {_split(self.endpoint)}"


@dataclass(frozen=True)
class UpdateEndpoint:
    endpoint_id: str
    endpoint: DesiredEndpoint

    @property
    def message(self) -> str:
        return f"update endpoint {self.endpoint.name} → {_split(self.endpoint)}"


Step = CreateRuntime | UpdateRuntime | CreateEndpoint | UpdateEndpoint


def _split(endpoint: DesiredEndpoint) -> str:
    return describe_split(endpoint.routing)


@dataclass(frozen=True)
class Plan:
    runtime_name: str
    steps: tuple[Step, ...]

    def __bool__(self) -> bool:
        return bool(self.steps)

    @property
    def messages(self) -> list[str]:
        return [step.message for step in self.steps]


def plan_deploy(
    name: str,
    body: Mapping[str, Any],
    current: Mapping[str, Any] | None,
    desired_endpoints: Sequence[DesiredEndpoint],
    current_endpoints: Sequence[Mapping[str, Any]] = (),
    published_versions: Sequence[str] = (),
) -> Plan:
    """What deploy must do so that the backend matches s.yaml. Pure: the caller reads the backend."""
    steps: list[Step] = []
    if current is None:
        steps.append(CreateRuntime(name, body))
    elif changed := changed_fields(body, current):
        steps.append(UpdateRuntime(str(current["agentRuntimeId"]), name, body, changed))
    elif str(current.get("status")) in FAILED_STATES:
        # Unchanged, but the last create/update failed: send it again rather than claim all is well.
        steps.append(UpdateRuntime(str(current["agentRuntimeId"]), name, body, (f"retry after {current['status']}",)))
    wanted = list(desired_endpoints)
    if not wanted and not current_endpoints:
        wanted = [default_endpoint()]
    missing = missing_versions((ep.routing for ep in wanted), published_versions)
    if missing:
        raise NotFound(f"s.yaml routes endpoint traffic to version {missing[0]} of {name}, which is not published",
                       hint="Publish it first (`agentctl version publish`), or route to LATEST.")
    steps += endpoint_steps(wanted, current_endpoints)
    return Plan(name, tuple(steps))


def endpoint_steps(wanted: Sequence[DesiredEndpoint], current: Sequence[Mapping[str, Any]]) -> list[Step]:
    """Create or update the named endpoints; endpoints s.yaml does not name are left alone."""
    by_name = {str(ep.get("agentRuntimeEndpointName")): ep for ep in current}
    steps: list[Step] = []
    for endpoint in wanted:
        existing = by_name.get(endpoint.name)
        if existing is None:
            steps.append(CreateEndpoint(endpoint))
        elif routing_of(existing) != endpoint.routing or str(existing.get("status")) in FAILED_STATES or (
            endpoint.description is not None and endpoint.description != existing.get("description")
        ):  # a failed endpoint is sent again (it may have failed for a reason since fixed)
            steps.append(UpdateEndpoint(str(existing["agentRuntimeEndpointId"]), endpoint))
    return steps


def changed_fields(body: Mapping[str, Any], current: Mapping[str, Any]) -> tuple[str, ...]:
    """Top-level fields of ``body`` that differ from ``current`` (code compared by checksum)."""
    changed = []
    for key, wanted in body.items():
        have = current.get(key)
        same = _same_code(wanted, have or {}) if key == "codeConfiguration" else _contains(have, wanted)
        if not same:
            changed.append(key)
    return tuple(changed)


def _same_code(wanted: Mapping[str, Any], have: Mapping[str, Any]) -> bool:
    # The zip itself never comes back from the API: its checksum stands for it.
    keys = set(wanted) - {"zipFile"}
    if "zipFile" in wanted and "checksum" not in wanted:
        return False
    return all(_contains(have.get(key), wanted[key]) for key in keys)


def _contains(have: Any, wanted: Any) -> bool:
    """``wanted`` is contained in ``have``: maps compare by wanted's keys, numbers by value."""
    if isinstance(wanted, Mapping):
        if not isinstance(have, Mapping):
            return not wanted and have is None
        return all(_contains(have.get(key), value) for key, value in wanted.items())
    if isinstance(wanted, list | tuple):
        return isinstance(have, list | tuple) and len(have) == len(wanted) and all(
            _contains(h, w) for h, w in zip(have, wanted, strict=True))
    if isinstance(wanted, bool) or isinstance(have, bool):
        return type(wanted) is type(have) and wanted == have
    if isinstance(wanted, int | float) and isinstance(have, int | float):
        return float(wanted) == float(have)
    if wanted is None:
        return have is None
    return bool(wanted == have)
