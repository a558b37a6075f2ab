"""`-t/--template`, `-a/--access`, `--debug` and `-o/--output` stand before or after any command, as in `s`."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

from lifecycle_support import Project, echo_project

GLOBALS = {"template", "access", "debug", "output"}


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Project]:
    with echo_project(tmp_path_factory.mktemp("globals")) as deployed:
        deployed.run("version", "publish", ok=True)
        deployed.run("endpoint", "publish", "--endpoint-name", "production", "--target-version", "1", ok=True)
        deployed.run("invoke", "--endpoint-name", "production", "-m", "hi", ok=True)  # an instance to list
        shutil.copyfile(deployed.dir / "s.yaml", deployed.dir / "alt.yaml")
        yield deployed


def _without_clock(data: Any) -> Any:
    """`instance list` shows `idleFor` (now − last use): the one value that depends on when it runs."""
    if isinstance(data, list):
        return [{k: v for k, v in row.items() if k != "idleFor"} for row in data]
    return data


def test_json_is_the_same_with_o_before_or_after_the_command(project: Project) -> None:
    now = datetime.now(timezone.utc)
    window = ["-s", (now - timedelta(hours=1)).isoformat(), "-e", (now + timedelta(minutes=5)).isoformat()]
    commands = [["info"], ["version", "list"], ["endpoint", "list"], ["endpoint", "get", "--endpoint-name",
                "production"], ["instance", "list"], ["local", "status"], ["metrics", *window]]
    for command in commands:
        before = json.loads(project.run("-o", "json", *command, ok=True).stdout)
        after = json.loads(project.run(*command, "-o", "json", ok=True).stdout)
        assert before, command
        assert _without_clock(before) == _without_clock(after), command
    assert json.loads(project.run("instance", "list", "-o", "json", ok=True).stdout)[0]["instanceId"]
    between = json.loads(project.run("endpoint", "-o", "json", "list", ok=True).stdout)  # after the group
    assert between == json.loads(project.run("endpoint", "list", "-o", "json", ok=True).stdout)


def test_template_access_and_debug_after_the_command_are_honoured(project: Project) -> None:
    same = project.run("info", "-t", "alt.yaml", "-o", "json", ok=True).stdout
    assert json.loads(same) == json.loads(project.run("-t", "alt.yaml", "-o", "json", "info", ok=True).stdout)
    missing = project.run("endpoint", "list", "-t", "nope.yaml", ok=False)
    assert missing.returncode == 3 and "template file nope.yaml does not exist" in missing.stderr
    unknown = project.run("endpoint", "list", "-a", "nope", ok=False)
    assert unknown.returncode == 3 and "no credential alias 'nope'" in unknown.stderr
    debug = project.run("version", "list", "--debug", ok=True)
    assert "[debug] → GET" in debug.stderr and "ListAgentRuntimeVersions" in debug.stderr


def test_the_later_of_two_values_wins_and_a_bad_one_is_refused(project: Project) -> None:
    assert json.loads(project.run("-o", "yaml", "version", "list", "-o", "json", ok=True).stdout)
    bad = project.run("version", "list", "-o", "xml", ok=False)
    assert bad.returncode == 2 and "-o 'xml' is not one of table, yaml, json" in bad.stderr and "Hint:" in bad.stderr


def test_every_command_accepts_the_global_options() -> None:
    from typer.main import get_command

    from agentctl.cli.main import app

    def walk(command: Any, path: str) -> Iterator[tuple[str, Any]]:
        yield path, command
        for name, sub in (getattr(command, "commands", None) or {}).items():
            yield from walk(sub, f"{path} {name}")

    for path, command in walk(get_command(app), "agentctl"):
        names = {param.name for param in command.params}
        assert names >= GLOBALS, (path, GLOBALS - names)
        opts = {opt for param in command.params if param.name in GLOBALS for opt in param.opts}
        assert {"--template", "--access", "--debug", "--output", "-a", "-o"} <= opts, path
        # `logs -t` is --tail (DESIGN §7); everywhere else -t is the template.
        assert ("-t" in opts) == (path != "agentctl logs"), path
