"""`agentctl deploy`, `info`, `remove` against a real emulator, through the real CLI."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from lifecycle_support import Project, echo_project


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Project]:
    with echo_project(tmp_path_factory.mktemp("deploy")) as deployed:
        yield deployed


def test_deploy_prints_the_agent_and_its_endpoints(project: Project) -> None:
    agent = project.json("info")["agent"]
    assert list(agent) == ["id", "arn", "name", "description", "artifactType", "status", "resources", "timestamps",
                           "region", "endpoints"]  # the guide's `s info`, in its order
    assert agent["name"] == "app" and agent["status"] == "READY" and agent["region"] == "cn-hangzhou"
    assert agent["artifactType"] == "Code" and agent["resources"] == {"cpu": 1, "memory": 2048, "port": 9000}
    assert agent["timestamps"]["createdAt"] and agent["timestamps"]["lastUpdatedAt"] >= agent["timestamps"]["createdAt"]
    (endpoint,) = agent["endpoints"]
    assert endpoint["name"] == "default" and endpoint["id"]
    assert endpoint["url"].endswith("/agent-runtimes/app/endpoints/default/invocations")


def test_unchanged_deploy_changes_nothing_and_says_so(project: Project) -> None:
    before = project.snapshot()
    result = project.run("deploy", ok=True)
    assert "nothing changed" in result.stderr
    assert project.snapshot() == before


def test_changed_code_updates_the_runtime(project: Project) -> None:
    project.edit("code/app.py", '"AGENT_VERSION_TAG", "v1"', '"AGENT_VERSION_TAG", "v1b"')
    result = project.run("deploy", ok=True)
    assert "update agent runtime app (codeConfiguration)" in result.stderr
    assert "[v1b] hello" in project.run("invoke", "-m", "hello", ok=True).stdout


def test_dry_run_prints_the_plan_and_changes_nothing(project: Project) -> None:
    project.edit("s.yaml", "memory: 2048", "memory: 4096")
    try:
        before = project.snapshot()
        plan = project.json("deploy", "--dry-run")
        assert plan == {"agent": {"plan": ["update agent runtime app (memory)"]}}
        assert project.snapshot() == before
    finally:
        project.edit("s.yaml", "memory: 4096", "memory: 2048")


def test_invalid_spec_is_refused_with_every_violation_and_changes_nothing(project: Project) -> None:
    text = (project.dir / "s.yaml").read_text()
    (project.dir / "s.bad.yaml").write_text(text.replace("cpu: 1\n", "cpu: 99\n").replace("port: 9000", "port: x"))
    before = project.snapshot()
    result = project.run("-t", "s.bad.yaml", "deploy", ok=False)
    assert result.returncode == 2
    assert "not valid (2 problems); nothing was deployed" in result.stderr
    assert "props.agent.cpu" in result.stderr and "props.agent.port" in result.stderr
    assert "Hint:" in result.stderr and "Traceback" not in result.stderr
    assert project.snapshot() == before


def test_runtime_name_breaking_the_pattern_is_refused(project: Project) -> None:
    text = (project.dir / "s.yaml").read_text()
    (project.dir / "s.name.yaml").write_text(text.replace("name: app\n", "name: 9-lives\n"))
    before = project.snapshot()
    result = project.run("-t", "s.name.yaml", "deploy", ok=False)
    assert result.returncode == 2 and "'9-lives' is not valid" in result.stderr
    assert project.snapshot() == before


def test_weighted_spec_endpoint_takes_a_share_of_the_primary(project: Project) -> None:
    project.run("version", "publish", ok=True)
    text = (project.dir / "s.yaml").read_text()
    spec = text.replace("      - name: default\n            version: LATEST\n",
                        "      - name: default\n            version: LATEST\n"
                        "          - name: canary\n            version: 1\n            weight: 0.2\n")
    (project.dir / "s.weighted.yaml").write_text(spec)
    project.run("-t", "s.weighted.yaml", "deploy", ok=True)
    rows = {row["name"]: row for row in project.json("endpoint", "list")}
    assert rows["default"]["traffic"] == "80% → LATEST, 20% → 1"
    assert rows["canary"]["traffic"] == "100% → 1"


def test_deploy_keeps_endpoints_that_spec_does_not_name(project: Project) -> None:
    project.run("endpoint", "publish", "--endpoint-name", "keepme", "--target-version", "LATEST", ok=True)
    project.run("deploy", ok=True)
    assert "keepme" in {e["name"] for e in project.json("info")["agent"]["endpoints"]}


def test_built_dependencies_ship_with_the_code(project: Project) -> None:
    deps = project.dir / ".s" / "build" / "agent"
    deps.mkdir(parents=True)
    (deps / "extra_dep.py").write_text("VALUE = 1\n")
    result = project.run("deploy", "--dry-run", ok=True)
    assert "update agent runtime app (codeConfiguration)" in result.stdout


def test_remove_without_terminal_and_without_yes_is_refused(project: Project) -> None:
    before = project.snapshot()
    result = project.run("remove", ok=False)
    assert result.returncode == 2 and "-y" in result.stderr
    assert project.snapshot() == before


def test_remove_deletes_endpoints_then_runtime_and_unknown_runtime_is_not_found(project: Project) -> None:
    result = project.run("remove", "-y", ok=True)
    assert result.stderr.index("delete endpoint") < result.stderr.index("delete agent runtime app")
    assert "app" not in project.snapshot()
    again = project.run("remove", "-y", ok=False)
    assert again.returncode == 3 and "no agent runtime named 'app'" in again.stderr and "Hint:" in again.stderr
    info = project.run("info", ok=False)
    assert info.returncode == 3
