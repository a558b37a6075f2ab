"""Code that cannot start never takes traffic (issue #9, item 2; DESIGN §8, last paragraph).

A real daemon, the python-echo template, steady load from client threads. A deploy whose new code fails
its health check exits non-zero with the instance's output, the runtime is UPDATE_FAILED with that output as
its reason, and LATEST keeps serving the previous code: no request fails. The same for `endpoint publish`
of a canary (or a raised canary) to a published version that cannot start: the endpoint is UPDATE_FAILED and
keeps its traffic where it was.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from lifecycle_support import Project, echo_project
from load_support import CODE_TAG, Load

BREAK = "import sys; sys.exit(1)\n"  # the issue's `sed -i '1i import sys; sys.exit(1)' code/app.py`
CAUSE = "from __future__ imports must occur at the beginning of the file"  # what the instance prints


def break_code(project: Project) -> None:
    app = project.dir / "code" / "app.py"
    app.write_text(BREAK + app.read_text())


def mend_code(project: Project) -> None:
    project.edit("code/app.py", BREAK, "")


def failed_with_the_instance_output(result: subprocess.CompletedProcess[str]) -> None:
    assert result.returncode == 5, result  # backend: the platform refused the change
    assert "UPDATE_FAILED" in result.stderr and CAUSE in result.stderr, result.stderr
    assert "Hint:" in result.stderr


@pytest.mark.timeout(600)
def test_a_deploy_that_cannot_start_fails_and_latest_keeps_serving_the_old_code(tmp_path: Path) -> None:
    with echo_project(tmp_path, "steady") as project:
        assert project.json("version", "publish", "--description", "v1")["version"] == "1"
        project.run("endpoint", "publish", "--endpoint-name", "production", "--target-version", "1", ok=True)
        default = project.json("endpoint", "get", "--endpoint-name", "default")["url"]
        production = project.json("endpoint", "get", "--endpoint-name", "production")["url"]

        with Load([default, default, production]).running() as load:
            load.latest(lambda seen: seen["default [v1]"] >= 20)

            load.enter("broken deploy")
            break_code(project)
            failed_with_the_instance_output(project.run("deploy", "-y"))
            load.latest(lambda seen: seen["default [v1]"] >= 20 and seen["production [v1]"] >= 10)
            runtime = next(iter(project.snapshot().values()))["runtime"]
            assert runtime["status"] == "UPDATE_FAILED" and CAUSE in runtime["statusReason"]

            load.enter("mended")
            mend_code(project)
            project.edit("code/app.py", CODE_TAG.format("v1"), CODE_TAG.format("v2"))
            project.run("deploy", "-y", ok=True)
            load.latest(lambda seen: seen["default [v2]"] >= 20)

        assert load.failures == []
        assert next(iter(project.snapshot().values()))["runtime"]["status"] == "READY"


@pytest.mark.timeout(600)
def test_publishing_a_canary_that_cannot_start_fails_and_the_endpoint_keeps_its_traffic(tmp_path: Path) -> None:
    with echo_project(tmp_path, "canary") as project:
        assert project.json("version", "publish", "--description", "good")["version"] == "1"
        project.run("endpoint", "publish", "--endpoint-name", "production", "--target-version", "1", ok=True)
        project.run("endpoint", "remove", "--endpoint-name", "default", "-y", ok=True)
        project.edit("s.yaml", "- name: default\n            version: LATEST",
                     "- name: production\n            version: 1")
        break_code(project)
        project.run("deploy", "-y", ok=True)  # nothing routes to LATEST: nothing to protect, nothing checked
        assert project.json("version", "publish", "--description", "broken")["version"] == "2"
        production = project.json("endpoint", "get", "--endpoint-name", "production")["url"]

        with Load([production, production]).running() as load:
            load.latest(lambda seen: seen["production [v1]"] >= 20)
            for form in (("--target-version", "1", "--canary-version", "2", "--weight", "0.5"),
                         ("--target-version", "2", "--weight", "0.5"),
                         ("--target-version", "2")):
                load.enter(" ".join(form))
                failed_with_the_instance_output(
                    project.run("endpoint", "publish", "--endpoint-name", "production", *form))
                load.latest(lambda seen: seen["production [v1]"] >= 10)
                endpoint = project.json("endpoint", "get", "--endpoint-name", "production")
                assert (endpoint["targetVersion"], endpoint["versionWeights"]) == ("1", [])
                assert endpoint["status"] == "UPDATE_FAILED"

        assert load.failures == []
        assert all(key == "production [v1]" for counts in load.seen.values() for key in counts)
