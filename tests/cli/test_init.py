"""`agentctl init`: templates, target directory rules, names, and the errors a user can meet."""

from __future__ import annotations

import json
from pathlib import Path
from urllib.parse import unquote, urlparse

import pytest
import yaml

TEMPLATES = ("python-echo", "langchain-quickstart", "container")


def snapshot(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def agent_props(project: Path) -> dict:
    document = yaml.safe_load((project / "s.yaml").read_text())
    (resource,) = document["resources"].values()
    assert resource["component"] == "agentrun"
    return resource["props"]


def assert_no_traceback(result) -> None:
    assert "Traceback" not in result.stderr and "Traceback" not in result.stdout


@pytest.mark.parametrize("template", TEMPLATES)
def test_init_creates_a_complete_project(cli, tmp_path, template):
    result = cli("init", template, "proj", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    project = tmp_path / "proj"
    assert (project / "code").is_dir()
    gitignore = (project / ".gitignore").read_text().split()
    assert {".env", ".s/", ".venv/", "__pycache__/"} <= set(gitignore)
    assert (project / ".env.example").is_file()
    assert not (project / "template.yaml").exists()
    document = yaml.safe_load((project / "s.yaml").read_text())
    assert document["edition"] == "3.0.0" and document["name"] == "proj"
    agent = agent_props(project)["agent"]
    assert agent["name"] == "proj"
    assert ("code" in agent) != ("customContainerConfig" in agent)


@pytest.mark.parametrize("template", TEMPLATES)
def test_schema_line_points_at_the_installed_schema_file(cli, tmp_path, template):
    assert cli("init", template, "proj", cwd=tmp_path).returncode == 0
    first = (tmp_path / "proj" / "s.yaml").read_text().splitlines()[0]
    prefix = "# yaml-language-server: $schema="
    assert first.startswith(prefix)
    schema = Path(unquote(urlparse(first[len(prefix):]).path))
    assert schema.name == "agentrun.schema.json" and schema.is_file()
    json.loads(schema.read_text())


@pytest.mark.parametrize("template", TEMPLATES)
def test_verify_passes_on_a_fresh_project(cli, tmp_path, template):
    if "No such command" in cli("verify", "--help").stderr:
        pytest.skip("`agentctl verify` is not registered yet")
    assert cli("init", template, "proj", cwd=tmp_path).returncode == 0
    result = cli("verify", cwd=tmp_path / "proj")
    assert result.returncode == 0, result.stdout + result.stderr


def test_python_echo_is_the_default_template_and_names_the_directory(cli, tmp_path):
    result = cli("init", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    project = tmp_path / "python-echo"
    assert agent_props(project)["agent"]["code"]["command"] == ["python3", "app.py"]
    assert "cd python-echo" in result.stderr and "agentctl deploy" in result.stderr


def test_python_echo_spec_matches_the_agentrun_component_shape(cli, tmp_path):
    assert cli("init", "python-echo", "echo", cwd=tmp_path).returncode == 0
    props = agent_props(tmp_path / "echo")
    agent = props["agent"]
    assert props["region"] == "${vars.region}"
    assert agent["code"] == {"src": "./code", "language": "python3.12", "command": ["python3", "app.py"]}
    assert agent["port"] == 9000 and agent["instanceConcurrency"] == 10
    assert all(isinstance(v, str) for v in agent["environmentVariables"].values())
    assert agent["endpoints"][0]["version"] == "LATEST"


def test_container_template_has_a_dockerfile_build_section_and_a_real_app(cli, tmp_path):
    assert cli("init", "container", "box", cwd=tmp_path).returncode == 0
    project = tmp_path / "box"
    props = agent_props(project)
    assert props["build"]["context"] == "./code" and props["build"]["dockerfile"] == "Dockerfile"
    container = props["agent"]["customContainerConfig"]
    assert container["port"] == 9000 and container["command"] == ["python3", "app.py"]
    dockerfile = (project / "code" / "Dockerfile").read_text()
    assert "ARG BASE_IMAGE=python:3.12-slim" in dockerfile and "FROM ${BASE_IMAGE}" in dockerfile
    app = project / "code" / "app.py"
    assert not app.is_symlink() and "ThreadingHTTPServer" in app.read_text()


def test_langchain_template_asks_for_model_and_sandbox_names(cli, tmp_path):
    assert cli("init", "langchain-quickstart", "lc", cwd=tmp_path).returncode == 0
    code = tmp_path / "lc" / "code"
    assert "agentrun-sdk[server,langchain]" in (code / "requirements.txt").read_text()
    app = (code / "app.py").read_text()
    assert "<your-model-name>" in app and "<your-sandbox-name>" in app


def test_name_option_sets_the_agent_name(cli, tmp_path):
    result = cli("-o", "json", "init", "python-echo", "here", "--name", "my_agent-1", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["name"] == "my_agent-1"
    assert agent_props(tmp_path / "here")["agent"]["name"] == "my_agent-1"


def test_directory_name_is_made_into_a_valid_agent_name(cli, tmp_path):
    assert cli("init", "python-echo", "2nd try.agent", cwd=tmp_path).returncode == 0
    assert agent_props(tmp_path / "2nd try.agent")["agent"]["name"] == "nd-try-agent"


def test_invalid_name_is_bad_input_and_creates_nothing(cli, tmp_path):
    result = cli("init", "python-echo", "proj", "--name", "1bad name", cwd=tmp_path)
    assert result.returncode == 2
    assert "not a valid agent name" in result.stderr and "Hint:" in result.stderr
    assert list(tmp_path.iterdir()) == []
    assert_no_traceback(result)


def test_existing_directory_is_never_touched(cli, tmp_path):
    project = tmp_path / "proj"
    (project / "code").mkdir(parents=True)
    (project / "s.yaml").write_text("mine\n")
    (project / "code" / "app.py").write_text("my code\n")
    before = snapshot(project)
    result = cli("init", "python-echo", "proj", cwd=tmp_path)
    assert result.returncode == 2
    assert "already exists" in result.stderr and "Hint:" in result.stderr
    assert snapshot(project) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["proj"]  # no staging directory left behind
    assert_no_traceback(result)


def test_existing_file_is_bad_input(cli, tmp_path):
    (tmp_path / "proj").write_text("a file")
    result = cli("init", "python-echo", "proj", cwd=tmp_path)
    assert result.returncode == 2 and "is a file" in result.stderr
    assert (tmp_path / "proj").read_text() == "a file"


def test_empty_existing_directory_is_filled_in_place(cli, tmp_path):
    project = tmp_path / "proj"
    project.mkdir()
    result = cli("init", "container", ".", cwd=project)
    assert result.returncode == 0, result.stderr
    assert (project / "s.yaml").is_file() and (project / "code" / "Dockerfile").is_file()
    assert agent_props(project)["agent"]["name"] == "proj"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["proj"]


def test_unknown_template_is_not_found_and_lists_the_templates(cli, tmp_path):
    result = cli("init", "pyhton-echo", cwd=tmp_path)
    assert result.returncode == 3
    line = result.stderr.splitlines()[0]
    assert "pyhton-echo" in line and all(name in line for name in TEMPLATES)
    assert "--list" in result.stderr
    assert list(tmp_path.iterdir()) == []
    assert_no_traceback(result)


def test_list_in_every_output_format(cli):
    as_json = json.loads(cli("-o", "json", "init", "--list").stdout)
    assert as_json[0]["name"] == "python-echo"
    assert {row["name"] for row in as_json} == set(TEMPLATES)
    assert [row["name"] for row in as_json if row["default"]] == ["python-echo"]
    as_yaml = yaml.safe_load(cli("-o", "yaml", "init", "--list").stdout)
    assert as_yaml == as_json
    table = cli("init", "--list")
    assert table.returncode == 0 and all(name in table.stdout for name in TEMPLATES)
