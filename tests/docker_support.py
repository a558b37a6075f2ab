"""Docker for tests: skip when no engine is reachable, but fail when ``AGENTCTL_REQUIRE_DOCKER=1`` (CI).

    import docker_support
    pytestmark = pytest.mark.docker

    @pytest.fixture(scope="module")
    def base_image() -> str:
        return docker_support.require_image(docker_support.BASE_IMAGE)

``require_docker()`` returns a client of the engine. A conftest may apply the same rule to every test
marked ``docker`` with ``check_marker(item)`` from ``pytest_runtest_setup``.
"""

from __future__ import annotations

import functools
import os
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from docker import DockerClient

REQUIRE_ENV = "AGENTCTL_REQUIRE_DOCKER"
# The image scripts/make-base-image.sh builds: what tests build in when no registry can be reached.
BASE_IMAGE = os.environ.get("AGENTCTL_TEST_BASE_IMAGE", "agentctl/python:3.11-bookworm")


def required() -> bool:
    return os.environ.get(REQUIRE_ENV) == "1"


def _unavailable(reason: str) -> None:
    """Skip, or fail when Docker is required: a CI run must not pass by skipping its Docker tests."""
    if required():
        pytest.fail(f"{reason} (and {REQUIRE_ENV}=1: Docker tests must run)", pytrace=False)
    pytest.skip(reason)


@functools.cache
def _engine_problem() -> str | None:
    import docker
    from docker.errors import DockerException

    try:
        docker.from_env(timeout=10).ping()
    except DockerException as exc:
        return f"no Docker engine reachable ({str(exc).splitlines()[0] if str(exc) else type(exc).__name__})"
    return None


def require_docker() -> DockerClient:
    """A client of the engine; skips (or fails under AGENTCTL_REQUIRE_DOCKER=1) when there is none."""
    import docker

    problem = _engine_problem()
    if problem:
        _unavailable(problem)
    return docker.from_env(timeout=60)


def require_image(name: str) -> str:
    """``name`` when the image is local; skips/fails with how to build it otherwise."""
    from docker.errors import ImageNotFound

    client = require_docker()
    try:
        client.images.get(name)
    except ImageNotFound:
        _unavailable(f"Docker image {name} is missing: build it with `sudo scripts/make-base-image.sh {name}`")
    return name


def check_marker(item: pytest.Item) -> None:
    """For ``pytest_runtest_setup``: apply the rule to any test marked ``docker``."""
    if item.get_closest_marker("docker") is not None:
        require_docker()
