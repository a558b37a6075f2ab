"""The routing math: shares from an endpoint's weights, and the choice of a version per point."""

from __future__ import annotations

import random
from collections import Counter

import pytest

from agentctl.emulator.routing import LATEST, Router, TrafficSplit, session_point, split_of, version_label


def endpoint(target: object, *weights: tuple[object, object]) -> dict[str, object]:
    return {"targetVersion": target,
            "routingConfiguration": {"versionWeights": [{"version": v, "weight": w} for v, w in weights]}}


def test_target_alone_gets_everything() -> None:
    split = split_of({"targetVersion": "1"})
    assert split.shares == (("1", 1.0),)
    assert Router().choose(split) == "1"


def test_missing_target_means_latest() -> None:
    assert split_of({}).target == LATEST
    assert version_label(None) == LATEST and version_label("latest") == LATEST and version_label(2) == "2"


def test_target_keeps_one_minus_the_sum_of_weights() -> None:
    split = split_of(endpoint("1", ("2", 0.1), ("3", 0.25)))
    assert split.share_of("2") == pytest.approx(0.1)
    assert split.share_of("3") == pytest.approx(0.25)
    assert split.share_of("1") == pytest.approx(0.65)
    assert sum(share for _, share in split.shares) == pytest.approx(1.0)


def test_points_map_onto_consecutive_intervals_canary_first() -> None:
    split = split_of(endpoint("1", (2, 0.1)))
    assert split.choose(0.0) == "2"
    assert split.choose(0.0999) == "2"
    assert split.choose(0.1) == "1"
    assert split.choose(0.9999999) == "1"


def test_weight_change_moves_only_the_points_between_the_old_and_new_weight() -> None:
    before, after = split_of(endpoint("1", ("2", 0.1))), split_of(endpoint("1", ("2", 0.5)))
    points = [i / 10_000 for i in range(10_000)]
    moved = sum(before.choose(p) != after.choose(p) for p in points)
    assert moved == 4000


@pytest.mark.parametrize("weights", [
    (("2", 0.0),),            # a zero weight is no traffic
    (("1", 0.3),),            # a weight on the target itself changes nothing
    (("2", "not a number"),),
    (("2", -0.5),),
])
def test_degenerate_weights_leave_everything_on_the_target(weights: tuple[tuple[object, object], ...]) -> None:
    split = split_of(endpoint("1", *weights))
    assert split.shares == (("1", 1.0),)


def test_weights_above_one_are_scaled_to_a_distribution() -> None:
    split = split_of(endpoint("1", ("2", 0.8), ("3", 0.8)))
    assert split.share_of("2") == pytest.approx(0.5)
    assert split.share_of("3") == pytest.approx(0.5)
    assert split.share_of("1") == 0.0


def test_full_weight_sends_everything_to_the_canary() -> None:
    split = split_of(endpoint("1", ("2", 1)))
    assert {split.choose(p / 100) for p in range(100)} == {"2"}


@pytest.mark.parametrize("weight", [0.1, 0.5])
def test_router_applies_the_weights_over_many_draws(weight: float) -> None:
    router = Router(random.Random(7))
    split = split_of(endpoint("1", ("2", weight)))
    counts = Counter(router.choose(split) for _ in range(10_000))
    assert abs(counts["2"] / 10_000 - weight) < 0.02


def test_session_points_are_stable_and_spread() -> None:
    assert session_point("abc") == session_point("abc")
    points = [session_point(f"session-{i}") for i in range(2000)]
    assert all(0 <= p < 1 for p in points)
    assert 0.4 < sum(p < 0.5 for p in points) / 2000 < 0.6


def test_split_is_a_value() -> None:
    assert split_of(endpoint("1", ("2", 0.5))) == TrafficSplit("1", (("2", 0.5), ("1", 0.5)))


def test_a_session_always_gets_the_version_of_its_own_point() -> None:
    router = Router(random.Random(3))
    split = split_of(endpoint("1", ("2", 0.5)))
    for session in (f"s-{i}" for i in range(200)):
        expected = split.choose(session_point(session))
        assert {router.choose(split, session) for _ in range(5)} == {expected}


def test_sessions_split_by_the_weights_and_move_only_across_the_changed_edge() -> None:
    router = Router()
    sessions = [f"user-{i}" for i in range(10_000)]
    before = [router.choose(split_of(endpoint("1", ("2", 0.1))), s) for s in sessions]
    after = [router.choose(split_of(endpoint("1", ("2", 0.5))), s) for s in sessions]
    assert abs(before.count("2") / 10_000 - 0.1) < 0.02
    moved = [(b, a) for b, a in zip(before, after, strict=True) if b != a]
    assert set(moved) == {("1", "2")} and abs(len(moved) / 10_000 - 0.4) < 0.02
