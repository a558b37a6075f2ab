"""`agentctl version publish|list` against a real emulator."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from lifecycle_support import Project, echo_project


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Project]:
    with echo_project(tmp_path_factory.mktemp("version")) as deployed:
        yield deployed


def test_publish_freezes_latest_as_version_one_with_its_description(project: Project) -> None:
    published = project.json("version", "publish", "--description", "first cut")
    assert published["version"] == "1" and published["description"] == "first cut"
    assert [v["version"] for v in project.json("version", "list")] == ["1"]


def test_publish_with_no_change_is_refused_naming_the_last_version(project: Project) -> None:
    before = project.snapshot()
    result = project.run("version", "publish", ok=False)
    assert result.returncode == 2
    assert "nothing changed since version 1" in result.stderr and "Hint:" in result.stderr
    assert project.snapshot() == before


def test_changed_code_deployed_publishes_the_next_version(project: Project) -> None:
    project.edit("code/app.py", '"AGENT_VERSION_TAG", "v1"', '"AGENT_VERSION_TAG", "v2"')
    project.run("deploy", ok=True)
    assert project.json("version", "publish")["version"] == "2"
    table = project.run("version", "list", ok=True).stdout
    assert "VERSION" in table and "first cut" in table
