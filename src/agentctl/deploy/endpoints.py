"""Weighted-endpoint rules (DESIGN §4) as pure functions: no I/O, unit-tested routing math.

An endpoint serves ``targetVersion`` and sends shares of its traffic to other
versions through ``routingConfiguration.versionWeights`` (each 0 < w < 1, sum
< 1); the rest stays on the target. Versions are strings on the wire
("LATEST", "1", "2", ...), and so they are here.

Two sources of endpoint state:

- s.yaml (``desired_from_spec``): an endpoint with ``weight`` takes that share
  of the *primary* endpoint (the first one without weight) and serves its own
  version alone on its own URL.
- ``endpoint publish`` (``publish_routing``): V alone; V with a canary C at w;
  or, on an existing endpoint, w moved to V with the rest on its current version.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from agentctl.errors import BadInput

LATEST = "LATEST"


@dataclass(frozen=True)
class Routing:
    """Where one endpoint sends its traffic: ``target`` gets whatever ``weights`` leave over."""

    target: str
    weights: tuple[tuple[str, float], ...] = field(default_factory=tuple)

    def to_api(self) -> dict[str, Any]:
        """The ``targetVersion`` + ``routingConfiguration`` part of an endpoint body."""
        return {
            "targetVersion": self.target,
            "routingConfiguration": {"versionWeights": [{"version": v, "weight": w} for v, w in self.weights]},
        }

    def shares(self) -> list[tuple[str, float]]:
        """Each version with its share of traffic, target first, shares summing to 1."""
        rest = round(1.0 - sum(w for _, w in self.weights), 6)
        return [(self.target, rest), *self.weights]

    def versions(self) -> set[str]:
        return {self.target, *(v for v, _ in self.weights)}


def version_text(version: object) -> str:
    """A version as the API spells it: ``LATEST`` or a positive integer as text."""
    text = str(version).strip()
    if text.upper() == LATEST:
        return LATEST
    if text.isdigit() and int(text) > 0:
        return str(int(text))
    raise BadInput(f"invalid version {version!r}",
                   hint="A version is LATEST or a published version number (see `agentctl version list`).")


def check_weight(weight: float, flag: str = "--weight") -> float:
    if not 0 < weight < 1:
        raise BadInput(f"{flag} {weight:g} is out of range: a weight must be between 0 and 1, both excluded",
                       hint="Give the share for the other version, e.g. --weight 0.1 sends 10% of the traffic.")
    return weight


def routing_of(endpoint: Mapping[str, Any]) -> Routing:
    """The routing of an endpoint as the API returns it."""
    config = endpoint.get("routingConfiguration") or {}
    weights = tuple(
        (version_text(item["version"]), float(item["weight"]))
        for item in config.get("versionWeights") or []
        if item.get("version") is not None and item.get("weight")
    )
    return Routing(version_text(endpoint.get("targetVersion") or LATEST), weights)


def describe_split(routing: Routing) -> str:
    """``90% → 1, 10% → 2``: the traffic split in words, largest share first."""
    shares = sorted(routing.shares(), key=lambda item: -item[1])
    return ", ".join(f"{_percent(share)} → {version}" for version, share in shares if share > 0)


def _percent(share: float) -> str:
    value = round(share * 100, 2)
    return f"{value:g}%"


def publish_routing(
    current: Routing | None,
    target_version: str,
    *,
    canary_version: str | None = None,
    weight: float | None = None,
    endpoint_name: str = "the endpoint",
) -> Routing:
    """The routing ``endpoint publish`` gives an endpoint (DESIGN §4, CLI forms)."""
    target = version_text(target_version)
    if canary_version is not None:
        canary = version_text(canary_version)
        if weight is None:
            raise BadInput("--canary-version needs --weight (the canary's share of the traffic)",
                           hint=f"e.g. --target-version {target} --canary-version {canary} --weight 0.1")
        if canary == target:
            raise BadInput(f"--canary-version {canary} is the same as --target-version",
                           hint="Name two different versions, or drop --canary-version and --weight.")
        return Routing(target, ((canary, check_weight(weight)),))
    if weight is None:
        return Routing(target)
    check_weight(weight)
    if current is None:
        raise BadInput(f"--weight without --canary-version needs an existing endpoint, and {endpoint_name} is new",
                       hint=f"First send all its traffic to one version: --target-version {target} (no --weight).")
    if current.target == target:
        raise BadInput(f"{endpoint_name} already serves version {target}: --weight {weight:g} would change nothing",
                       hint="Give another --target-version to shift traffic to, or drop --weight to send it all.")
    # The rest of the traffic stays on what the endpoint serves now; V gets exactly w (raising a canary).
    return Routing(current.target, ((target, weight),))


@dataclass(frozen=True)
class DesiredEndpoint:
    name: str
    routing: Routing
    description: str | None = None

    def to_api(self) -> dict[str, Any]:
        body: dict[str, Any] = {"agentRuntimeEndpointName": self.name, **self.routing.to_api()}
        if self.description is not None:
            body["description"] = self.description
        return body


def desired_from_spec(endpoints: Sequence[Any]) -> list[DesiredEndpoint]:
    """Endpoints as s.yaml names them, with the weighted rule applied.

    Items are ``EndpointSpec``-like objects (``name``, ``version``, ``weight``,
    ``description``). An empty list means "s.yaml names none" (deploy then
    makes ``default`` → LATEST when the runtime has no endpoint at all).
    """
    names = [ep.name for ep in endpoints]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise BadInput(f"endpoint {duplicates[0]!r} is named twice in s.yaml",
                       hint="Give every endpoint in props.endpoints its own name.")
    primaries = [ep for ep in endpoints if ep.weight is None]
    weighted = [ep for ep in endpoints if ep.weight is not None]
    if weighted and not primaries:
        raise BadInput(f"endpoint {weighted[0].name!r} has a weight but no endpoint without weight takes the rest",
                       hint="Add a primary endpoint without `weight`, e.g. {name: prod, version: LATEST}.")
    shares = tuple((version_text(ep.version), check_weight(float(ep.weight), f"endpoint {ep.name!r} weight"))
                   for ep in weighted)
    if sum(w for _, w in shares) >= 1:
        raise BadInput("the weights of the endpoints in s.yaml add up to 1 or more",
                       hint="The primary endpoint keeps 1 minus their sum; make it positive.")
    result = []
    for index, ep in enumerate(primaries):
        routing = Routing(version_text(ep.version), shares if index == 0 else ())
        result.append(DesiredEndpoint(ep.name, routing, ep.description))
    result += [DesiredEndpoint(ep.name, Routing(version_text(ep.version)), ep.description) for ep in weighted]
    return result


def default_endpoint() -> DesiredEndpoint:
    return DesiredEndpoint("default", Routing(LATEST))


def missing_versions(routings: Iterable[Routing], published: Iterable[str]) -> list[str]:
    """Versions the routings name that are neither LATEST nor published, in order."""
    known = {version_text(v) for v in published} | {LATEST}
    wanted = sorted({v for r in routings for v in r.versions()} - known, key=lambda v: (len(v), v))
    return wanted
