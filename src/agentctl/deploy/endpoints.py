"""Weighted-endpoint rules (DESIGN §4) as pure functions: no I/O, unit-tested routing math.

An endpoint serves ``targetVersion`` and sends shares of its traffic to other
versions through ``routingConfiguration.versionWeights`` (each 0 < w < 1, sum
< 1); the rest stays on the target. Versions are strings on the wire
("LATEST", "1", "2", ...), and so they are here.

Two sources of endpoint state:

- s.yaml (``desired_from_spec``): an endpoint with ``weight`` takes that share
  of the *primary* endpoint (the first one without weight) and serves its own
  version alone on its own URL.
- ``endpoint publish`` (``plan_publish``): V alone; V with a canary C at w;
  on the primary endpoint (or any endpoint that is not a canary), w moved to V
  with the rest on its current version (``publish_routing``); and the guide's
  form, ``--endpoint-name canary --target-version 2 --weight 0.1`` on an
  endpoint that is new or already a canary on V: the s.yaml rule, applied by hand.
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
        rest = round(1.0 - sum(w for _, w in self.weights), 12)  # 12 digits: float noise goes, 1e-7 stays
        return [(self.target, rest), *self.weights]

    def weight_of(self, version: str) -> float | None:
        return next((w for v, w in self.weights if v == version), None)

    def with_share(self, version: str, weight: float) -> Routing:
        """This routing with ``version`` taking exactly ``weight`` (added, or its old weight replaced)."""
        others = tuple((v, w) for v, w in self.weights if v != version)
        return Routing(self.target, (*others, (version, weight)))

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
        raise BadInput(f"{flag} {weight} is out of range: a weight must be between 0 and 1, both excluded",
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
    """A share as a percentage: two decimals at most, more when fewer would show a real share as 0% or 100%."""
    if share >= 1:
        return "100%"
    for digits in range(2, 13):
        value = round(share * 100, digits)
        if 0 < value < 100:
            break
    return f"{value:.{digits}f}".rstrip("0").rstrip(".") + "%"


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
        raise BadInput(f"{endpoint_name} already serves version {target}: --weight {weight} would change nothing",
                       hint="Give another --target-version to shift traffic to, or drop --weight to send it all.")
    # The rest of the traffic stays on what the endpoint serves now; V gets exactly w (raising a canary).
    return Routing(current.target, ((target, weight),))


@dataclass(frozen=True)
class PublishRequest:
    """What ``endpoint publish`` was asked: ``--endpoint-name``, ``--target-version`` and the optional rest."""

    endpoint: str
    target_version: str
    canary_version: str | None = None
    weight: float | None = None
    description: str | None = None
    primary: str | None = None  # --primary: the endpoint a new canary takes its share from


def plan_publish(request: PublishRequest, current: Mapping[str, Routing],
                 declared: Sequence[Any] = ()) -> list[DesiredEndpoint]:
    """The endpoints ``endpoint publish`` changes, the endpoint itself first (DESIGN §4: the canary rule).

    ``current`` is every endpoint of the runtime by name; ``declared`` the ``EndpointSpec``-like
    items of s.yaml. ``--target-version V --weight w`` (no ``--canary-version``) on an endpoint E:

    - E is new, or a canary already serving V alone (``--primary`` given counts as saying so): E serves V
      alone on its own URL, and the primary endpoint sends w of its traffic to V (the s.yaml rule);
    - otherwise (E is the primary, or some other endpoint): w of E moves to V, the rest stays on E's
      current version — how a canary on one endpoint is raised step by step.
    """
    name, target = request.endpoint, version_text(request.target_version)
    existing = current.get(name)
    if request.canary_version is not None or request.weight is None:
        if request.primary is not None:
            raise BadInput("--primary goes with --weight and no --canary-version (a canary endpoint's share)",
                           hint=f"Drop --primary, or: --endpoint-name {name} --target-version {target} --weight 0.1 "
                                f"--primary {request.primary}")
        routing = publish_routing(existing, target, canary_version=request.canary_version, weight=request.weight,
                                  endpoint_name=f"endpoint {name!r}")
        return [DesiredEndpoint(name, routing, request.description)]
    weight = check_weight(request.weight)
    is_canary = existing is None or request.primary is not None or (
        existing == Routing(target) and name in canaries(current, declared))
    if not is_canary:
        routing = publish_routing(existing, target, weight=weight, endpoint_name=f"endpoint {name!r}")
        return [DesiredEndpoint(name, routing, request.description)]
    primary = primary_endpoint(name, target, current, declared, request.primary)
    feeding = current[primary]
    if feeding.target == target:
        raise BadInput(f"the primary endpoint {primary!r} already serves version {target} (its target)",
                       hint=f"A canary of version {target} has nothing to take; publish {primary!r} to the version "
                            "it should keep, or name another primary with --primary NAME.")
    shifted = feeding.with_share(target, weight)
    if sum(w for _, w in shifted.weights) >= 1:
        raise BadInput(f"endpoint {primary!r} would give away all its traffic: its canary weights add up to 1 or more",
                       hint=f"Lower --weight below {round(1 - sum(w for v, w in feeding.weights if v != target), 6)}.")
    return [DesiredEndpoint(name, Routing(target), request.description), DesiredEndpoint(primary, shifted)]


def canaries(current: Mapping[str, Routing], declared: Sequence[Any] = ()) -> set[str]:
    """Endpoints that are some primary's canary: s.yaml gives them a weight, or they serve alone a version
    that another endpoint sends a weighted share to."""
    weighted = {v for routing in current.values() for v, _ in routing.weights}
    return {ep.name for ep in declared if ep.weight is not None} | {
        name for name, routing in current.items() if not routing.weights and routing.target in weighted}


def primary_endpoint(canary: str, version: str, current: Mapping[str, Routing], declared: Sequence[Any] = (),
                     chosen: str | None = None) -> str:
    """The endpoint a canary of ``version`` takes its share from.

    ``--primary``; else the primary of s.yaml (its first endpoint without weight, when s.yaml gives some
    endpoint a weight: that is when s.yaml says which endpoint feeds the canaries); else the only other
    endpoint that is not a canary itself, preferring one on another published version, then one on
    LATEST (such as the ``default`` deploy makes), then one already on ``version`` (which is refused
    with a clear message). Several equally good: an error naming them.
    """
    known = ", ".join(sorted(current)) or "none"
    if chosen is None and any(ep.weight is not None for ep in declared):
        chosen = next((ep.name for ep in declared if ep.weight is None), None)
        if chosen is not None and chosen not in current:
            raise BadInput(f"s.yaml's primary endpoint {chosen!r} does not exist yet (endpoints: {known})",
                           hint="Deploy first (`agentctl deploy` creates the endpoints s.yaml names).")
    if chosen is not None:
        if chosen == canary:
            raise BadInput(f"endpoint {canary!r} cannot be its own primary",
                           hint="--primary names the endpoint whose traffic the canary takes a share of.")
        if chosen not in current:
            raise BadInput(f"--primary {chosen!r} is not an endpoint of this runtime (endpoints: {known})",
                           hint="Name one of them, or create it first: --endpoint-name NAME --target-version V.")
        return chosen
    others = [name for name in current if name != canary and name not in canaries(current, declared)]
    ranked = ([name for name in others if current[name].target not in (LATEST, version)],
              [name for name in others if current[name].target == LATEST],
              [name for name in others if current[name].target == version])
    candidates = next((group for group in ranked if group), [])
    if len(candidates) == 1:
        return candidates[0]
    if not candidates:
        raise BadInput(f"--weight on endpoint {canary!r} needs a primary endpoint to take the share from, "
                       "and there is none", hint="First send an endpoint's traffic to one version: "
                                                 "--endpoint-name production --target-version 1 (no --weight).")
    raise BadInput(f"which endpoint should endpoint {canary!r} take its share from: "
                   f"{', '.join(sorted(candidates))}?", hint=f"Name it: --primary {sorted(candidates)[0]} "
                                                          "(or list the endpoints in s.yaml, the primary first).")


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
