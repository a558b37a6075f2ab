"""The seed walkthrough end to end, through the CLI and real HTTP on loopback.

init → deploy → invoke → publish v1 → change → deploy → publish v2 → production on v1 →
canary 0.1 → 0.5 → cut-over → rollback. Every traffic claim is checked by sending
requests through the gateway and counting ``x-agentrun-version`` (and the answer's
``[vN]`` tag, so the header cannot lie about which code ran). Load is bounded: four
sequential clients on loopback.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from lifecycle_support import Project, count_versions, echo_project


def publish(project: Project, *args: str) -> str:
    """`endpoint publish` on production, then `endpoint list`; returns production's traffic line."""
    project.run("endpoint", "publish", "--endpoint-name", "production", *args, ok=True)
    listing = project.run("endpoint", "list", ok=True).stdout
    print(listing)
    rows = {row["name"]: row for row in project.json("endpoint", "list")}
    assert rows["production"]["traffic"] in listing
    return str(rows["production"]["traffic"])


@pytest.mark.timeout(600)
def test_walkthrough_from_init_to_rollback(tmp_path: Path) -> None:
    with echo_project(tmp_path, "echo", deploy=False) as project:
        deployed = project.run("deploy", ok=True)
        assert "default" in deployed.stdout and "/endpoints/default/invocations" in deployed.stdout
        assert project.run("invoke", "-m", "hello", ok=True).stdout == "[v1] hello\n"
        assert project.json("version", "publish", "--description", "v1")["version"] == "1"

        project.edit("code/app.py", '"AGENT_VERSION_TAG", "v1"', '"AGENT_VERSION_TAG", "v2"')
        project.run("deploy", ok=True)
        assert project.run("invoke", "-m", "hello", ok=True).stdout == "[v2] hello\n"
        assert project.json("version", "publish", "--description", "v2")["version"] == "2"

        assert publish(project, "--target-version", "1") == "100% → 1"
        url = project.json("endpoint", "get", "--endpoint-name", "production")["url"]
        assert count_versions(url, 200) == Counter({"1": 200})

        assert publish(project, "--target-version", "2", "--weight", "0.1") == "90% → 1, 10% → 2"
        canary = count_versions(url, 1000)
        assert set(canary) == {"1", "2"} and 60 <= canary["2"] <= 140, canary

        assert publish(project, "--target-version", "2", "--weight", "0.5") == "50% → 1, 50% → 2"
        half = count_versions(url, 1000)
        assert 400 <= half["2"] <= 600 and half["1"] + half["2"] == 1000, half

        assert publish(project, "--target-version", "2") == "100% → 2"
        assert count_versions(url, 200) == Counter({"2": 200})

        assert publish(project, "--target-version", "1") == "100% → 1"
        assert count_versions(url, 200) == Counter({"1": 200})
        # The default endpoint kept serving LATEST (v2 code) throughout.
        assert project.run("invoke", "-m", "still", ok=True).stdout == "[v2] still\n"
