"""`agentctl build` with a real Docker engine: dependencies in the build image, the cache, images, failures."""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

import docker_support

AGENT = "agent"


def write_project(root: Path, *, requirements: str | None = "six\n", build: dict[str, Any] | None = None,
                  agent: dict[str, Any] | None = None, files: dict[str, str] | None = None) -> Path:
    """A throwaway s.yaml project with one agentrun resource and a `code/` folder."""
    agent = agent or {"code": {"src": "./code", "language": "python3.12", "command": ["python3", "app.py"]}}
    props: dict[str, Any] = {"region": "cn-hangzhou", "agent": {"name": "build-test", **agent}}
    if build:
        props["build"] = build
    spec = {"edition": "3.0.0", "name": "build-test", "access": "default",
            "resources": {AGENT: {"component": "agentrun", "props": props}}}
    (root / "code").mkdir(parents=True, exist_ok=True)
    (root / "s.yaml").write_text(yaml.safe_dump(spec, sort_keys=False))
    (root / "code" / "app.py").write_text("print('hello')\n")
    if requirements is not None:
        (root / "code" / "requirements.txt").write_text(requirements)
    for rel, text in (files or {}).items():
        (root / rel).write_text(text)
    return root


def build(cli: Any, root: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return cli("-o", "json", "build", *args, cwd=root, env=env, timeout=600)


def statuses(result: subprocess.CompletedProcess[str]) -> dict[str, str]:
    assert result.returncode == 0, result.stderr
    return {row["resource"]: row["status"] for row in json.loads(result.stdout)}


def imports_from(build_dir: Path, module: str) -> str:
    """Where ``module`` is imported from with only ``build_dir`` added to the path (a fresh interpreter)."""
    code = f"import {module}; print({module}.__file__)"
    done = subprocess.run([sys.executable, "-S", "-c", code], env={"PYTHONPATH": str(build_dir)},
                          capture_output=True, text=True, check=True)
    return done.stdout.strip()


@pytest.fixture(scope="module")
def base_image() -> str:
    return docker_support.require_image(docker_support.BASE_IMAGE)


@pytest.fixture
def base_env(base_image: str) -> dict[str, str]:
    return {"AGENTCTL_BUILD_IMAGE": base_image}


# --- dependencies -----------------------------------------------------------------------------------

@pytest.mark.docker
def test_dependency_is_installed_into_build_dir_and_imports(cli: Any, tmp_path: Path, base_image: str) -> None:
    root = write_project(tmp_path, build={"image": base_image})  # build.image in props (no env)
    assert statuses(build(cli, root)) == {AGENT: "built"}
    out = root / ".s" / "build" / AGENT
    assert (out / "six.py").is_file()
    assert imports_from(out, "six") == str(out / "six.py")
    # Files belong to the invoking user, not to root inside the container.
    assert {p.stat().st_uid for p in out.rglob("*")} == {os.getuid()}


@pytest.mark.docker
def test_unchanged_build_is_cached_and_changed_requirements_rebuild(cli: Any, tmp_path: Path,
                                                                   base_env: dict[str, str]) -> None:
    root = write_project(tmp_path)
    assert statuses(build(cli, root, env=base_env)) == {AGENT: "built"}
    again = build(cli, root, env=base_env)
    assert statuses(again) == {AGENT: "cached"}
    assert "cached" in again.stderr
    (root / "code" / "requirements.txt").write_text("six\nidna\n")
    assert statuses(build(cli, root, env=base_env)) == {AGENT: "built"}
    assert (root / ".s" / "build" / AGENT / "idna").is_dir()
    assert statuses(build(cli, root, "--force", env=base_env)) == {AGENT: "built"}


@pytest.mark.docker
def test_failing_pip_install_names_the_package_and_keeps_the_last_build(cli: Any, tmp_path: Path,
                                                                       base_env: dict[str, str]) -> None:
    root = write_project(tmp_path)
    assert statuses(build(cli, root, env=base_env)) == {AGENT: "built"}
    (root / "code" / "requirements.txt").write_text("six\nagentctl-no-such-package-4711\n")
    result = build(cli, root, env=base_env)
    assert result.returncode == 5
    assert "pip could not install agentctl-no-such-package-4711" in result.stderr
    assert "No matching distribution" in result.stderr  # the tail of pip's output
    assert "Traceback" not in result.stderr
    assert (root / ".s" / "build" / AGENT / "six.py").is_file()


@pytest.mark.docker
def test_debug_streams_the_container_output(cli: Any, tmp_path: Path, base_env: dict[str, str]) -> None:
    root = write_project(tmp_path)
    result = cli("--debug", "build", cwd=root, env=base_env, timeout=600)
    assert result.returncode == 0, result.stderr
    assert "Successfully installed six" in result.stderr


@pytest.mark.docker
def test_missing_build_image_is_named_with_how_to_get_it(cli: Any, tmp_path: Path) -> None:
    docker_support.require_docker()
    root = write_project(tmp_path)
    result = build(cli, root, env={"AGENTCTL_BUILD_IMAGE": "agentctl-test/no-such-image:0"})
    assert result.returncode == 3
    assert "agentctl-test/no-such-image:0" in result.stderr
    assert "make-base-image.sh" in result.stderr and "AGENTCTL_BUILD_IMAGE" in result.stderr


def test_no_engine_says_docker_is_not_running_and_how_to_start_it(cli: Any, tmp_path: Path) -> None:
    root = write_project(tmp_path)
    result = build(cli, root, env={"DOCKER_HOST": f"unix://{tmp_path}/dead.sock"})
    assert result.returncode == 5
    assert "Docker is not running" in result.stderr
    assert "dockerd" in result.stderr and "--local" in result.stderr
    assert "Traceback" not in result.stderr


def test_nothing_to_build_needs_no_engine(cli: Any, tmp_path: Path) -> None:
    root = write_project(tmp_path, requirements=None)
    result = build(cli, root, env={"DOCKER_HOST": f"unix://{tmp_path}/dead.sock"})
    assert statuses(result) == {AGENT: "skipped"}
    assert "no requirements.txt" in result.stderr


def test_local_build_installs_on_this_machine_with_a_warning(cli: Any, tmp_path: Path) -> None:
    root = write_project(tmp_path)
    result = build(cli, root, "--local", env={"DOCKER_HOST": f"unix://{tmp_path}/dead.sock"})
    assert statuses(result) == {AGENT: "built"}
    assert "Warning" in result.stderr and "may differ" in result.stderr
    assert (root / ".s" / "build" / AGENT / "six.py").is_file()


# --- customContainerConfig images -------------------------------------------------------------------

@pytest.fixture
def image_tag() -> Iterator[str]:
    tag = f"agentctl-test/built-{uuid.uuid4().hex[:10]}:latest"
    yield tag
    client = docker_support.require_docker()
    from docker.errors import ImageNotFound

    with contextlib.suppress(ImageNotFound):
        client.images.remove(tag, force=True)


DOCKERFILE = """ARG BASE_IMAGE=python:3.12-slim
FROM ${BASE_IMAGE}
COPY app.py /app/app.py
CMD ["python3", "/app/app.py"]
"""


@pytest.mark.docker
def test_dockerfile_project_builds_and_tags_the_image(cli: Any, tmp_path: Path, base_image: str,
                                                      image_tag: str) -> None:
    root = write_project(tmp_path, requirements=None, build={"context": "./code", "args": {"BASE_IMAGE": base_image}},
                         agent={"customContainerConfig": {"image": image_tag, "port": 9000}})
    (root / "code" / "Dockerfile").write_text(DOCKERFILE)
    assert statuses(build(cli, root)) == {AGENT: "built"}
    client = docker_support.require_docker()
    output = client.containers.run(image_tag, remove=True)
    assert output.decode().strip() == "hello"


@pytest.mark.docker
def test_container_without_dockerfile_uses_the_local_image_as_is(cli: Any, tmp_path: Path, base_image: str) -> None:
    root = write_project(tmp_path, requirements=None, agent={"customContainerConfig": {"image": base_image}})
    result = build(cli, root)
    assert statuses(result) == {AGENT: "skipped"}
    assert "used as is" in result.stderr


@pytest.mark.docker
def test_failing_dockerfile_reports_the_docker_error(cli: Any, tmp_path: Path, base_image: str,
                                                     image_tag: str) -> None:
    root = write_project(tmp_path, requirements=None, agent={"customContainerConfig": {"image": image_tag}})
    (root / "code" / "Dockerfile").write_text(f"FROM {base_image}\nRUN exit 3\n")
    result = build(cli, root)
    assert result.returncode == 5
    assert f"docker build of {image_tag} failed" in result.stderr
    assert "Traceback" not in result.stderr


# --- no registry: the local base image stands in for the language's default ------------------------

NO_SUCH_DEFAULT = "agentctl-test/no-such-default:0"  # stands for python:3.12-slim on a machine without a registry


def _job_without_its_default(root: Path, fallback: str) -> Any:
    import dataclasses

    from agentctl.build import dependencies

    job = dependencies.plan(AGENT, yaml.safe_load((root / "s.yaml").read_text())["resources"][AGENT]["props"], root,
                            environ={})
    assert not isinstance(job, str) and job.fallback == dependencies.LOCAL_BASE_IMAGE
    return dataclasses.replace(job, image=NO_SUCH_DEFAULT, fallback=fallback)


@pytest.mark.docker
def test_default_image_that_cannot_be_pulled_falls_back_to_the_local_base_image(tmp_path: Path,
                                                                                 base_image: str) -> None:
    from agentctl.build.service import Builder

    said: list[str] = []
    builder = Builder(write_project(tmp_path), warn=said.append)
    job, image = builder.image_for(builder.client(), _job_without_its_default(tmp_path, base_image))
    assert job.image == base_image and base_image in image.tags
    (line,) = said
    assert f"local base image {base_image}" in line and NO_SUCH_DEFAULT in line and "AGENTCTL_BUILD_IMAGE" in line


@pytest.mark.docker
def test_without_default_and_base_image_the_hint_names_the_script(tmp_path: Path) -> None:
    from agentctl.build.service import Builder
    from agentctl.errors import NotFound

    builder = Builder(write_project(tmp_path))
    docker_support.require_docker()
    with pytest.raises(NotFound) as missing:
        builder.image_for(builder.client(), _job_without_its_default(tmp_path, "agentctl-test/no-base:0"))
    assert NO_SUCH_DEFAULT in missing.value.message and "scripts/make-base-image.sh" in (missing.value.hint or "")


def test_an_image_the_user_chose_has_no_fallback(tmp_path: Path) -> None:
    from agentctl.build import dependencies

    root = write_project(tmp_path, build={"image": "mine:1"})
    props = yaml.safe_load((root / "s.yaml").read_text())["resources"][AGENT]["props"]
    for environ in ({}, {"AGENTCTL_BUILD_IMAGE": "other:2"}):
        job = dependencies.plan(AGENT, props, root, environ=environ)
        assert not isinstance(job, str) and job.fallback is None
