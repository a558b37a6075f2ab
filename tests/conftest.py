"""Shared fixtures: every test gets its own AGENTCTL_HOME and a way to run the real CLI."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(autouse=True)
def agentctl_home(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """An isolated $AGENTCTL_HOME, so no test touches the user's credentials or emulator."""
    home = tmp_path_factory.mktemp("agentctl-home")
    monkeypatch.setenv("AGENTCTL_HOME", str(home))
    for name in ("ALIBABA_CLOUD_ACCESS_KEY_ID", "ALIBABA_CLOUD_ACCESS_KEY_SECRET", "AGENTCTL_DEBUG"):
        monkeypatch.delenv(name, raising=False)
    yield home


class Cli:
    """Runs `agentctl` as a user does: a real subprocess, real stdout/stderr and exit code."""

    def __init__(self, home: Path) -> None:
        self.home = home

    def __call__(
        self, *args: str, cwd: Path | None = None, input: str | None = None, env: dict[str, str] | None = None,
        timeout: float = 120,
    ) -> subprocess.CompletedProcess[str]:
        full_env = {**os.environ, "AGENTCTL_HOME": str(self.home), "NO_COLOR": "1", "COLUMNS": "200",
                    **(env or {})}
        return subprocess.run(
            [sys.executable, "-m", "agentctl", *args], cwd=cwd, input=input, env=full_env,
            capture_output=True, text=True, timeout=timeout,
        )


@pytest.fixture
def cli(agentctl_home: Path) -> Cli:
    return Cli(agentctl_home)


def pytest_runtest_setup(item: pytest.Item) -> None:
    """Tests marked `docker` skip without an engine, but fail under AGENTCTL_REQUIRE_DOCKER=1 (CI)."""
    if item.get_closest_marker("docker"):
        import docker_support

        docker_support.check_marker(item)
