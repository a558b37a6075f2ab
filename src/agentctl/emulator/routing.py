"""Weighted version choice for an endpoint: the routing math, pure.

An endpoint serves ``targetVersion`` and may send shares of its traffic to other
versions (``routingConfiguration.versionWeights: [{version, weight}]``). Each
entry gets its weight; the target keeps ``1 − Σw``. A choice is a point ``r`` in
``[0, 1)`` mapped onto consecutive intervals: the weighted versions first (in
their listed order), the target last. Keeping the canary intervals at the start
means that changing a weight from w1 to w2 moves only the points between them,
which is what sticky sessions (issue 4) need: a session hashes to a fixed point
(:func:`session_point`) and so keeps its version unless its point is crossed.

Nothing here does I/O; the gateway draws ``r`` from its RNG per request.
"""

from __future__ import annotations

import hashlib
import math
import random
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

LATEST = "LATEST"


@dataclass(frozen=True)
class TrafficSplit:
    """Shares of an endpoint's traffic: ``shares`` sum to 1, target last."""

    target: str
    shares: tuple[tuple[str, float], ...]

    def choose(self, r: float) -> str:
        """The version whose interval holds ``r`` (0 ≤ r < 1)."""
        edge = 0.0
        for version, share in self.shares:
            edge += share
            if r < edge:
                return version
        return self.target  # r at the very top, or float rounding: the target keeps the rest

    def share_of(self, version: str) -> float:
        return sum(share for name, share in self.shares if name == version)


def version_label(value: object) -> str:
    """``"LATEST"``, ``"1"``, … from the API's ``targetVersion``/``version`` values (str or int)."""
    text = str(value).strip() if value is not None else ""
    if not text or text.upper() == LATEST:
        return LATEST
    return text


def split_of(endpoint: Mapping[str, Any]) -> TrafficSplit:
    """The traffic split of an endpoint as the control API returns it.

    Weights outside [0, 1] are clamped; entries with weight 0 or naming the
    target itself are dropped. If the weights add up to more than 1 (the
    control API refuses that, so only a damaged store can hold it) they are
    scaled down so the split stays a distribution and the target gets nothing.
    """
    target = version_label(endpoint.get("targetVersion"))
    routing = endpoint.get("routingConfiguration") or {}
    weighted: list[tuple[str, float]] = []
    for entry in routing.get("versionWeights") or []:
        version = version_label(entry.get("version"))
        weight = _clamp(entry.get("weight"))
        if version != target and weight > 0:
            weighted.append((version, weight))
    total = math.fsum(w for _, w in weighted)
    if total > 1:
        weighted = [(v, w / total) for v, w in weighted]
        total = 1.0
    return TrafficSplit(target, (*weighted, (target, max(0.0, 1.0 - total))))


def _clamp(value: object) -> float:
    try:
        number = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return 0.0
    if math.isnan(number):
        return 0.0
    return min(1.0, max(0.0, number))


def session_point(session_id: str) -> float:
    """A stable point in [0, 1) for a session id (same id → same version while weights stay)."""
    digest = hashlib.blake2b(session_id.encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2.0**64


class Router:
    """Draws a version per request. The RNG is seeded from the OS (``random.Random()``).

    With a session the point is the session's own (:func:`session_point`), so the
    session keeps its version while the weights stay, and a weight change from w1
    to w2 moves only the sessions whose points lie between the old and new edges.
    """

    def __init__(self, rng: random.Random | None = None) -> None:
        self._rng = rng or random.Random()

    def choose(self, split: TrafficSplit, session: str | None = None) -> str:
        if len(split.shares) == 1:
            return split.target
        return split.choose(session_point(session) if session else self._rng.random())
