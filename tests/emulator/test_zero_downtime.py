"""Zero downtime: under a steady load, a redeploy, a canary shift and a rollback fail no request.

A real daemon driven by the real CLI (the python-echo template). Four client threads on loopback send
chats back to back (bounded: one request in flight each) to the ``default`` endpoint (LATEST) and to
``production`` (published versions) while the changes happen; every answer must be a 200 whose
``[vN]`` tag matches the version header.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from lifecycle_support import Project, echo_project
from load_support import CODE_TAG, Load


def publish(project: Project, *args: str) -> None:
    project.run("endpoint", "publish", "--endpoint-name", "production", *args, ok=True)


@pytest.mark.timeout(600)
def test_redeploy_canary_shift_and_rollback_fail_no_request_under_load(tmp_path: Path) -> None:
    with echo_project(tmp_path, "steady") as project:
        assert project.json("version", "publish", "--description", "v1")["version"] == "1"
        project.edit("code/app.py", CODE_TAG.format("v1"), CODE_TAG.format("v2"))
        project.run("deploy", ok=True)
        assert project.json("version", "publish", "--description", "v2")["version"] == "2"
        publish(project, "--target-version", "1")
        default = project.json("endpoint", "get", "--endpoint-name", "default")["url"]
        production = project.json("endpoint", "get", "--endpoint-name", "production")["url"]

        with Load([default, default, production, production]).running() as load:
            load.latest(lambda seen: seen["default [v2]"] >= 20 and seen["production [v1]"] >= 20)

            load.enter("redeploy")
            project.edit("code/app.py", CODE_TAG.format("v2"), CODE_TAG.format("v3"))
            project.run("deploy", ok=True)
            load.latest(lambda seen: seen["default [v3]"] >= 20)

            for weight in ("0.1", "0.5"):
                load.enter(f"canary {weight}")
                publish(project, "--target-version", "2", "--weight", weight)
                load.latest(lambda seen: seen["production [v2]"] >= 10 and seen["production [v1]"] >= 10)

            load.enter("cut-over")
            publish(project, "--target-version", "2")
            load.latest(lambda seen: seen["production [v2]"] >= 20)
            load.enter("cut-over settled")
            load.latest(lambda seen: seen["production [v2]"] >= 20)

            load.enter("rollback")
            publish(project, "--target-version", "1")
            load.latest(lambda seen: seen["production [v1]"] >= 20)
            load.enter("rolled back")
            load.latest(lambda seen: seen["production [v1]"] >= 50)

        print({phase: dict(counts) for phase, counts in load.seen.items()})
        assert load.failures == []
        assert load.seen["cut-over settled"]["production [v1]"] == 0  # the shift completed …
        assert load.seen["rolled back"]["production [v2]"] == 0  # … and so did the rollback
        assert sum(sum(c.values()) for c in load.seen.values()) > 500  # the load really ran throughout
