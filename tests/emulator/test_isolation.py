"""Process instances under bubblewrap: what an instance (and `instance exec` into it) can and cannot touch.

The docker driver's side of the same checks is in tests/e2e/test_docker_e2e.py.
"""

from __future__ import annotations

import asyncio
import logging
import os
import stat
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

import docker_support
from agentctl.emulator import sandbox
from agentctl.emulator.drivers.base import InstanceSpec
from agentctl.emulator.drivers.process import ProcessDriver
from lifecycle_support import Project, echo_project


@pytest.fixture
def fresh_probe() -> Iterator[None]:
    """Forget the cached "does bubblewrap work here" answer around the test."""
    sandbox._works.cache_clear()
    yield
    sandbox._works.cache_clear()


def require_sandbox() -> None:
    if not sandbox.usable():
        if docker_support.required():  # CI provisions bubblewrap: the isolation tests must run there
            pytest.fail("bubblewrap does not work on this machine", pytrace=False)
        pytest.skip("bubblewrap does not work on this machine")


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Project]:
    """The python-echo template on the process driver, with one instance running."""
    require_sandbox()
    with echo_project(tmp_path_factory.mktemp("isolation"), deploy=False) as project:
        project.run("local", "start", "--driver", "process", ok=True)
        project.run("deploy", "-y", ok=True)
        project.run("invoke", "-m", "hi", ok=True)
        yield project


def exec_cmd(project: Project, cmd: str) -> tuple[int, str, str]:
    done = project.run("instance", "exec", "--cmd", cmd)
    return done.returncode, done.stdout, done.stderr


def test_a_process_instance_cannot_read_the_emulator_state_or_access_file(project: Project) -> None:
    for secret in (project.home / "access.yaml", project.home / "emulator" / "state.db"):
        assert secret.is_file()  # there on the host, for the emulator
        code, _, err = exec_cmd(project, f"cat {secret}")
        assert code != 0 and "No such file" in err, err


def test_a_process_instance_cannot_write_its_code_and_has_a_private_tmp(project: Project) -> None:
    code, out, err = exec_cmd(project, "pwd; ls; touch ./probe")
    assert "app.py" in out and code != 0 and "Read-only file system" in err, (out, err)
    name = f"/tmp/agentctl-probe-{uuid.uuid4().hex}"
    code, out, _ = exec_cmd(project, f"echo inside > {name} && cat {name}")
    assert (code, out) == (0, "inside\n")
    assert not Path(name).exists()  # the host's /tmp is not the instance's


def test_a_process_instance_does_not_see_the_users_home(project: Project) -> None:
    home = Path.home()
    shown = [p for p in home.iterdir() if not Path(sys.prefix).is_relative_to(p)] if home.is_dir() else []
    if not shown:
        pytest.skip(f"nothing in {home} outside the Python prefix to look for")
    code, _, _ = exec_cmd(project, f"test -e '{shown[0]}'")
    assert code == 1


def test_the_app_itself_sees_neither_files_beside_its_code_nor_the_hosts_processes(tmp_path: Path) -> None:
    require_sandbox()
    secret = tmp_path / "secret.txt"
    secret.write_text("emulator only")
    code = tmp_path / "code"
    code.mkdir()
    (code / "app.py").write_text(
        "import os, time\n"
        f"print('secret', os.path.exists({str(secret)!r}), 'code-writable', os.access('.', os.W_OK),\n"
        f"      'sees-the-emulator', os.path.exists('/proc/{os.getpid()}/root/etc'), flush=True)\n"
        "time.sleep(30)\n")

    async def body() -> list[str]:
        driver = ProcessDriver()
        handle = await driver.start(InstanceSpec("c-app", "rt", "name", "LATEST", str(code), {}))
        try:
            for _ in range(200):  # until the app printed its line (or exited)
                if len(handle.tail) > 1 or handle.exited.done():
                    break
                await asyncio.sleep(0.05)
            return handle.tail_text()
        finally:
            await driver.stop(handle, grace=1)

    lines = asyncio.run(body())
    assert "secret False code-writable False sees-the-emulator False" in lines, lines


def start_one(tmp_path: Path) -> str:
    """Start a trivial process instance and return its first log line (which says whether it is sandboxed)."""
    (tmp_path / "app.py").write_text("import time; time.sleep(30)\n")

    async def body() -> str:
        driver = ProcessDriver()
        handle = await driver.start(InstanceSpec("c-one", "rt", "name", "LATEST", str(tmp_path), {}))
        try:
            target = driver.exec_env(handle)
            assert target is not None and bool(target.argv_prefix) == ("no sandbox" not in handle.tail_text()[0])
            return handle.tail_text()[0]
        finally:
            await driver.stop(handle, grace=1)

    return asyncio.run(body())


def test_without_working_bubblewrap_instances_run_unsandboxed_and_the_log_says_why(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture, fresh_probe: None) -> None:
    fake = tmp_path / "fake-bin" / "bwrap"
    fake.parent.mkdir()
    fake.write_text("#!/bin/sh\necho 'bwrap: No permissions to creating new namespace' >&2\nexit 1\n")
    fake.chmod(fake.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setenv("PATH", f"{fake.parent}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.delenv("AGENTCTL_SANDBOX", raising=False)
    with caplog.at_level(logging.WARNING, logger="agentctl.emulator.sandbox"):
        line = start_one(tmp_path)
    assert "no sandbox" in line
    assert "No permissions to creating new namespace" in caplog.text and "without a sandbox" in caplog.text


def test_the_sandbox_can_be_turned_off(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    require_sandbox()
    assert "sandboxed" in start_one(tmp_path)
    monkeypatch.setenv("AGENTCTL_SANDBOX", "0")
    assert "no sandbox" in start_one(tmp_path)
