"""`agentctl endpoint publish|list|get|remove` against a real emulator, bad input included."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from lifecycle_support import Project, echo_project


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Project]:
    with echo_project(tmp_path_factory.mktemp("endpoint")) as deployed:
        deployed.run("version", "publish", ok=True)
        deployed.edit("code/app.py", '"AGENT_VERSION_TAG", "v1"', '"AGENT_VERSION_TAG", "v2"')
        deployed.run("deploy", ok=True)
        deployed.run("version", "publish", ok=True)
        yield deployed


def traffic(project: Project, name: str) -> str:
    return str(project.json("endpoint", "get", "--endpoint-name", name)["traffic"])


def test_publish_creates_a_missing_endpoint_on_one_version(project: Project) -> None:
    row = project.json("endpoint", "publish", "--endpoint-name", "production", "--target-version", "1",
                       "--description", "live")
    assert row["traffic"] == "100% → 1" and row["description"] == "live"


def test_canary_version_with_weight_splits_the_traffic(project: Project) -> None:
    project.run("endpoint", "publish", "--endpoint-name", "beta", "--target-version", "1",
                "--canary-version", "2", "--weight", "0.25", ok=True)
    assert traffic(project, "beta") == "75% → 1, 25% → 2"


def test_weight_alone_raises_the_canary_and_full_publish_cuts_over(project: Project) -> None:
    steps = [("--weight", "0.1"), ("--weight", "0.5"), ()]
    seen = []
    for extra in steps:
        project.run("endpoint", "publish", "--endpoint-name", "production", "--target-version", "2", *extra,
                    ok=True)
        seen.append(traffic(project, "production"))
    assert seen == ["90% → 1, 10% → 2", "50% → 1, 50% → 2", "100% → 2"]


def test_list_shows_the_split_of_every_endpoint(project: Project) -> None:
    table = project.run("endpoint", "list", ok=True).stdout
    assert "TRAFFIC" in table and "100% → LATEST" in table and "75% → 1, 25% → 2" in table


@pytest.mark.parametrize("args,code,words", [
    (("--endpoint-name", "production", "--target-version", "7"), 3, "version 7 of app does not exist"),
    (("--endpoint-name", "production", "--target-version", "1", "--canary-version", "9", "--weight", "0.1"), 3,
     "version 9 of app does not exist"),
    (("--endpoint-name", "production", "--target-version", "1", "--weight", "0"), 2, "between 0 and 1"),
    (("--endpoint-name", "production", "--target-version", "1", "--weight", "1"), 2, "between 0 and 1"),
    (("--endpoint-name", "production", "--target-version", "1", "--weight", "-0.5"), 2, "between 0 and 1"),
    (("--endpoint-name", "fresh", "--target-version", "2", "--weight", "0.1", "--primary", "production"), 2,
     "primary endpoint 'production' already serves version 2"),
    (("--endpoint-name", "fresh", "--target-version", "2", "--weight", "0.1", "--primary", "nope"), 2,
     "--primary 'nope' is not an endpoint"),
    (("--endpoint-name", "production", "--target-version", "v2"), 2, "invalid version"),
])
def test_bad_publish_says_what_and_changes_nothing(project: Project, args: tuple[str, ...], code: int,
                                                   words: str) -> None:
    before = project.snapshot()
    result = project.run("endpoint", "publish", *args, ok=False)
    assert result.returncode == code and words in result.stderr
    assert "Hint:" in result.stderr and "Traceback" not in result.stderr
    assert project.snapshot() == before


def test_get_and_remove_of_unknown_endpoint_are_not_found(project: Project) -> None:
    for args in (("get",), ("remove", "-y")):
        result = project.run("endpoint", *args, "--endpoint-name", "nope", ok=False)
        assert result.returncode == 3 and "no endpoint 'nope'" in result.stderr


def test_remove_asks_for_yes_then_deletes(project: Project) -> None:
    refused = project.run("endpoint", "remove", "--endpoint-name", "beta", ok=False)
    assert refused.returncode == 2 and "-y" in refused.stderr
    project.run("endpoint", "remove", "--endpoint-name", "beta", "-y", ok=True)
    assert "beta" not in {row["name"] for row in project.json("endpoint", "list")}
