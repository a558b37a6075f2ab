"""The weighted-endpoint rules of DESIGN §4: s.yaml endpoints and `endpoint publish`."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from agentctl.deploy.endpoints import (
    DesiredEndpoint,
    PublishRequest,
    Routing,
    describe_split,
    desired_from_spec,
    missing_versions,
    plan_publish,
    publish_routing,
    routing_of,
    version_text,
)
from agentctl.errors import BadInput


@dataclass(frozen=True)
class Ep:
    name: str
    version: str | int = "LATEST"
    weight: float | None = None
    description: str | None = None


def test_publish_without_weight_sends_all_traffic_to_target() -> None:
    assert publish_routing(Routing("1", (("2", 0.5),)), "2") == Routing("2")


def test_publish_with_canary_splits_between_target_and_canary() -> None:
    routing = publish_routing(None, "1", canary_version="2", weight=0.1)
    assert routing.shares() == [("1", 0.9), ("2", 0.1)]


def test_weight_alone_moves_that_share_to_target_and_keeps_rest_on_current_version() -> None:
    routing = publish_routing(Routing("1"), "2", weight=0.1)
    assert routing == Routing("1", (("2", 0.1),))
    raised = publish_routing(routing, "2", weight=0.5)
    assert raised.shares() == [("1", 0.5), ("2", 0.5)]


def test_canary_walk_to_cutover_and_rollback() -> None:
    start = publish_routing(None, "1")
    canary = publish_routing(start, "2", weight=0.1)
    half = publish_routing(canary, "2", weight=0.5)
    cut = publish_routing(half, "2")
    back = publish_routing(cut, "1")
    assert [describe_split(r) for r in (start, canary, half, cut, back)] == [
        "100% → 1", "90% → 1, 10% → 2", "50% → 1, 50% → 2", "100% → 2", "100% → 1"]


@pytest.mark.parametrize("weight", [0, 1, -0.1, 1.5])
def test_weight_out_of_range_is_refused(weight: float) -> None:
    with pytest.raises(BadInput, match="between 0 and 1"):
        publish_routing(Routing("1"), "2", weight=weight)
    with pytest.raises(BadInput, match="between 0 and 1"):
        publish_routing(None, "1", canary_version="2", weight=weight)


def test_weight_on_a_new_endpoint_without_canary_is_refused() -> None:
    with pytest.raises(BadInput, match="is new") as err:
        publish_routing(None, "2", weight=0.1, endpoint_name="endpoint 'production'")
    assert err.value.hint and "--target-version 2" in err.value.hint


def test_weight_towards_the_version_already_served_is_refused() -> None:
    with pytest.raises(BadInput, match="already serves version 1"):
        publish_routing(Routing("1"), "1", weight=0.2)


def test_canary_needs_a_weight_and_a_different_version() -> None:
    with pytest.raises(BadInput, match="needs --weight"):
        publish_routing(None, "1", canary_version="2")
    with pytest.raises(BadInput, match="same as --target-version"):
        publish_routing(None, "2", canary_version="2", weight=0.1)


@pytest.mark.parametrize("raw,expected", [("latest", "LATEST"), ("LATEST", "LATEST"), (3, "3"), ("07", "7")])
def test_version_text_normalises(raw: object, expected: str) -> None:
    assert version_text(raw) == expected


@pytest.mark.parametrize("raw", ["0", "-1", "v2", "", "1.5"])
def test_version_text_refuses_what_is_not_a_version(raw: str) -> None:
    with pytest.raises(BadInput, match="invalid version"):
        version_text(raw)


def test_weighted_spec_endpoint_feeds_primary_and_serves_its_version_alone() -> None:
    desired = {d.name: d for d in desired_from_spec([Ep("prod", 1), Ep("canary", 2, 0.1)])}
    assert desired["prod"].routing == Routing("1", (("2", 0.1),))
    assert desired["canary"].routing == Routing("2")
    assert desired["prod"].to_api()["routingConfiguration"] == {"versionWeights": [{"version": "2", "weight": 0.1}]}


def test_spec_endpoints_without_weight_are_plain() -> None:
    desired = desired_from_spec([Ep("default"), Ep("stable", "2")])
    assert [(d.name, d.routing) for d in desired] == [("default", Routing("LATEST")), ("stable", Routing("2"))]


def test_spec_weights_without_a_primary_or_summing_to_one_are_refused() -> None:
    with pytest.raises(BadInput, match="no endpoint without weight"):
        desired_from_spec([Ep("canary", 2, 0.1)])
    with pytest.raises(BadInput, match="add up to 1"):
        desired_from_spec([Ep("prod", 1), Ep("a", 2, 0.5), Ep("b", 3, 0.5)])
    with pytest.raises(BadInput, match="named twice"):
        desired_from_spec([Ep("prod"), Ep("prod", 1)])


def test_routing_of_reads_the_api_shape() -> None:
    endpoint = {"targetVersion": "1", "routingConfiguration": {"versionWeights": [{"version": 2, "weight": 0.25}]}}
    assert routing_of(endpoint) == Routing("1", (("2", 0.25),))
    assert routing_of({}) == Routing("LATEST")


def test_missing_versions_ignores_latest_and_published() -> None:
    routings = [Routing("1", (("3", 0.1),)), Routing("LATEST")]
    assert missing_versions(routings, ["1", "2"]) == ["3"]
    assert missing_versions(routings, ["1", "2", "3"]) == []


# --- the guide's canary form: `endpoint publish --endpoint-name canary --target-version 2 --weight 0.1` -----

def canary(weight: float, **extra: object) -> PublishRequest:
    return PublishRequest("canary", "2", weight=weight, **extra)  # type: ignore[arg-type]


def test_guide_canary_serves_v2_alone_and_takes_its_share_of_production() -> None:
    current = {"default": Routing("LATEST"), "production": Routing("1")}
    first = plan_publish(canary(0.1, description="Canary 10%"), current)
    assert first == [DesiredEndpoint("canary", Routing("2"), "Canary 10%"),
                     DesiredEndpoint("production", Routing("1", (("2", 0.1),)))]
    current.update({change.name: change.routing for change in first})
    raised = plan_publish(canary(0.5), current)  # canary already serves 2 alone: production's share becomes 0.5
    assert raised == [DesiredEndpoint("canary", Routing("2")),
                      DesiredEndpoint("production", Routing("1", (("2", 0.5),)))]
    assert [describe_split(change.routing) for change in raised] == ["100% → 2", "50% → 1, 50% → 2"]


def test_share_of_another_version_on_the_primary_is_kept() -> None:
    current = {"production": Routing("1", (("3", 0.2),))}
    assert plan_publish(canary(0.1), current)[1].routing == Routing("1", (("3", 0.2), ("2", 0.1)))


def test_raising_on_the_primary_itself_keeps_todays_form() -> None:
    current = {"default": Routing("LATEST"), "production": Routing("1")}
    assert plan_publish(PublishRequest("production", "2", weight=0.1), current) == [
        DesiredEndpoint("production", Routing("1", (("2", 0.1),)))]


def test_an_endpoint_that_is_not_a_canary_of_v_is_raised_in_place() -> None:
    current = {"production": Routing("1"), "canary": Routing("3")}
    assert plan_publish(canary(0.1), current) == [DesiredEndpoint("canary", Routing("3", (("2", 0.1),)))]


def test_s_yaml_names_the_primary() -> None:
    current = {"live": Routing("1"), "other": Routing("1")}
    changes = plan_publish(canary(0.2), current, [Ep("live", 1), Ep("canary", 2, 0.2)])
    assert [c.name for c in changes] == ["canary", "live"]
    with pytest.raises(BadInput, match="'ghost' does not exist yet"):
        plan_publish(canary(0.2), current, [Ep("ghost", 1), Ep("canary", 2, 0.1)])


def test_s_yaml_without_weights_names_no_primary() -> None:
    # The templates list `default` → LATEST: the guide's canary still takes its share of production.
    current = {"default": Routing("LATEST"), "production": Routing("1")}
    assert plan_publish(canary(0.1), current, [Ep("default")])[1].name == "production"


def test_an_endpoint_already_on_the_canary_version_is_not_a_candidate() -> None:
    # The guide also makes `prod-v2` → 2 (`--description "Production v2"`): production still feeds the canary.
    current = {"default": Routing("LATEST"), "production": Routing("1"), "prod-v2": Routing("2")}
    assert plan_publish(canary(0.1), current)[1].name == "production"


def test_an_endpoint_on_latest_counts_only_when_nothing_serves_a_version() -> None:
    assert plan_publish(canary(0.1), {"default": Routing("LATEST")})[1].name == "default"
    assert plan_publish(canary(0.1), {"default": Routing("LATEST"), "prod": Routing("1")})[1].name == "prod"


def test_several_candidates_need_primary() -> None:
    current = {"blue": Routing("1"), "green": Routing("1")}
    with pytest.raises(BadInput, match="blue, green") as err:
        plan_publish(canary(0.1), current)
    assert err.value.hint and "--primary blue" in err.value.hint
    assert plan_publish(canary(0.1, primary="green"), current)[1].name == "green"
    with pytest.raises(BadInput, match="not an endpoint"):
        plan_publish(canary(0.1, primary="nope"), current)
    with pytest.raises(BadInput, match="its own primary"):
        plan_publish(canary(0.1, primary="canary"), {**current, "canary": Routing("2")})


def test_canary_form_refuses_what_cannot_work() -> None:
    with pytest.raises(BadInput, match="there is none"):
        plan_publish(canary(0.1), {})
    with pytest.raises(BadInput, match="already serves version 2"):
        plan_publish(canary(0.1), {"production": Routing("2")})
    with pytest.raises(BadInput, match="add up to 1"):
        plan_publish(canary(0.5), {"production": Routing("1", (("3", 0.6),))})
    with pytest.raises(BadInput, match="--primary goes with --weight"):
        plan_publish(PublishRequest("canary", "2", primary="production"), {"production": Routing("1")})


@pytest.mark.parametrize("weight,split", [
    (0.9999999, "99.99999% → 2, 0.00001% → 1"),
    (0.001, "99.9% → 1, 0.1% → 2"),
    (0.1, "90% → 1, 10% → 2"),
    (1 / 3, "66.67% → 1, 33.33% → 2"),
])
def test_split_never_shows_a_real_share_as_0_or_100_percent(weight: float, split: str) -> None:
    assert describe_split(Routing("1", (("2", weight),))) == split
