"""What `agentctl build` decides before Docker runs: jobs, images, cache keys, host settings, failure reading."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from agentctl.build import container, dependencies, hostenv
from agentctl.build.dependencies import DependencyJob
from agentctl.errors import BadInput


def code_props(language: str = "python3.12", src: str = "./code", **build: Any) -> dict[str, Any]:
    props: dict[str, Any] = {"agent": {"name": "a", "code": {"src": src, "language": language}}}
    if build:
        props["build"] = build
    return props


def project(tmp_path: Path, files: dict[str, str]) -> Path:
    for rel, text in files.items():
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text(text)
    return tmp_path


# --- dependency jobs ------------------------------------------------------------------------------

def test_python_job_targets_the_resource_build_dir_with_the_default_image(tmp_path: Path) -> None:
    root = project(tmp_path, {"code/requirements.txt": "six\n"})
    job = dependencies.plan("agent", code_props(), root, environ={})
    assert isinstance(job, DependencyJob)
    assert job.out_dir == root / ".s" / "build" / "agent"
    assert job.image == "python:3.12-slim"
    assert job.family == "python"


def test_env_image_wins_over_props_image_which_wins_over_default(tmp_path: Path) -> None:
    root = project(tmp_path, {"code/package.json": "{}"})
    props = code_props("nodejs20", image="mirror/node:20")
    assert dependencies.plan("a", code_props("nodejs20"), root, environ={}).image == "node:20-slim"  # type: ignore[union-attr]
    assert dependencies.plan("a", props, root, environ={}).image == "mirror/node:20"  # type: ignore[union-attr]
    job = dependencies.plan("a", props, root, environ={"AGENTCTL_BUILD_IMAGE": "local/base:1"})
    assert job.image == "local/base:1"  # type: ignore[union-attr]


@pytest.mark.parametrize(("props", "files", "reason"), [
    (code_props(), {"code/app.py": ""}, "no requirements.txt"),
    (code_props("java17"), {"code/pom.xml": ""}, "Python and Node.js dependencies only"),
    ({"agent": {"code": {"ossBucketName": "b", "ossObjectName": "o", "language": "python3.12"}}}, {}, "OSS"),
    ({"agent": {"customContainerConfig": {"image": "x"}}}, {}, "no `agent.code`"),
])
def test_resources_without_dependencies_say_why(tmp_path: Path, props: dict[str, Any], files: dict[str, str],
                                                reason: str) -> None:
    result = dependencies.plan("a", props, project(tmp_path, files), environ={})
    assert isinstance(result, str) and reason in result


def test_missing_code_src_is_bad_input_naming_it(tmp_path: Path) -> None:
    with pytest.raises(BadInput, match=re.escape("code.src ./nowhere does not exist")) as caught:
        dependencies.plan("agent", code_props(src="./nowhere"), tmp_path, environ={})
    assert caught.value.hint


def test_cache_key_follows_manifest_image_and_language(tmp_path: Path) -> None:
    root = project(tmp_path, {"code/requirements.txt": "six\n"})
    job = dependencies.plan("a", code_props(), root, environ={})
    assert isinstance(job, DependencyJob)
    key = dependencies.cache_key(job, "sha256:1")
    assert dependencies.cache_key(job, "sha256:1") == key
    assert dependencies.cache_key(job, "sha256:2") != key
    (root / "code/requirements.txt").write_text("six\nidna\n")
    assert dependencies.cache_key(job, "sha256:1") != key
    other = dependencies.plan("a", code_props("python3.10"), root, environ={})
    assert dependencies.cache_key(other, "sha256:1") != dependencies.cache_key(job, "sha256:1")  # type: ignore[arg-type]


# --- reading pip and npm failures -----------------------------------------------------------------

@pytest.mark.parametrize(("output", "package"), [
    ("Collecting six\nERROR: Could not find a version that satisfies the requirement nope-pkg (from versions: none)\n"
     "ERROR: No matching distribution found for nope-pkg", "nope-pkg"),
    ("Collecting lxml==1.0\n  error: subprocess-exited-with-error\nFailed to build lxml", "lxml"),
    ("ERROR: Invalid requirement: 'six==='", "six==="),
    ("npm ERR! 404  'left-padx@*' is not in this registry.", "left-padx"),
    ("Collecting broken-thing\nTraceback (most recent call last):\nOSError: disk full", "broken-thing"),
])
def test_failed_package_is_read_from_the_installer_output(output: str, package: str) -> None:
    assert dependencies.failed_package(output.splitlines()) == package


# --- host settings passed into the container ------------------------------------------------------

def test_ca_bundle_is_mounted_and_only_http_indexes_pass(tmp_path: Path) -> None:
    bundle = tmp_path / "corp-ca.pem"
    bundle.write_text("-----BEGIN CERTIFICATE-----\n")
    environ = {
        "PIP_CONFIG_FILE": str(tmp_path / "none.conf"), "HOME": str(tmp_path),
        "PIP_CERT": str(bundle),
        "PIP_INDEX_URL": "https://pypi.corp.example/simple",
        "PIP_EXTRA_INDEX_URL": "file:///opt/pypi/simple https://extra.example/simple",
        "PIP_FIND_LINKS": "/opt/wheels",
    }
    setup = hostenv.container_setup(environ)
    assert setup.mounts == {str(bundle.resolve()): hostenv.CA_IN_CONTAINER}
    assert setup.environment["PIP_CERT"] == hostenv.CA_IN_CONTAINER
    assert setup.environment["PIP_INDEX_URL"] == "https://pypi.corp.example/simple"
    assert setup.environment["PIP_EXTRA_INDEX_URL"] == "https://extra.example/simple"
    assert "PIP_FIND_LINKS" not in setup.environment
    assert not setup.host_network


def test_pip_config_file_cert_is_used_when_no_variable_names_one(tmp_path: Path) -> None:
    bundle = tmp_path / "ca.pem"
    bundle.write_text("x")
    conf = tmp_path / "pip.conf"
    conf.write_text(f"[global]\ncert = {bundle}\nextra-index-url = file:///nowhere\n")
    setup = hostenv.container_setup({"PIP_CONFIG_FILE": str(conf), "HOME": str(tmp_path)})
    assert str(bundle.resolve()) in setup.mounts
    assert "PIP_EXTRA_INDEX_URL" not in setup.environment


def test_a_loopback_proxy_needs_the_host_network(tmp_path: Path) -> None:
    setup = hostenv.container_setup({"HOME": str(tmp_path), "PIP_CONFIG_FILE": "/dev/null",
                                     "HTTPS_PROXY": "http://127.0.0.1:3128", "NO_PROXY": "localhost"})
    assert setup.environment["HTTPS_PROXY"] == "http://127.0.0.1:3128"
    assert setup.host_network


# --- container image jobs -------------------------------------------------------------------------

def container_props(**build: Any) -> dict[str, Any]:
    props: dict[str, Any] = {"agent": {"name": "c", "customContainerConfig": {"image": "me/agent:1"}}}
    if build:
        props["build"] = build
    return props


def test_dockerfile_in_code_is_found_and_env_image_becomes_base_image_arg(tmp_path: Path) -> None:
    root = project(tmp_path, {"code/Dockerfile": "FROM x\n"})
    job = container.plan("c", container_props(args={"A": 1}), root, environ={"AGENTCTL_BUILD_IMAGE": "base:1"})
    assert job is not None
    assert (job.context, job.dockerfile, job.tag) == (root / "code", root / "code/Dockerfile", "me/agent:1")
    assert job.buildargs == {"A": "1", "BASE_IMAGE": "base:1"}


def test_no_dockerfile_means_the_image_is_used_as_is(tmp_path: Path) -> None:
    job = container.plan("c", container_props(), tmp_path, environ={})
    assert job is not None and job.dockerfile is None


def test_a_named_dockerfile_that_is_missing_is_bad_input(tmp_path: Path) -> None:
    with pytest.raises(BadInput, match="Dockerfile"):
        container.plan("c", container_props(dockerfile="Dockerfile.prod"), tmp_path, environ={})
    with pytest.raises(BadInput, match=re.escape("build context ./nope")):
        container.plan("c", container_props(context="./nope"), tmp_path, environ={})


def test_code_resources_have_no_image_job(tmp_path: Path) -> None:
    assert container.plan("a", code_props(), tmp_path, environ={}) is None
