"""The instance pool and the process driver, with real processes."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
import urllib.request
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from agentctl.emulator.drivers import InstanceStartFailed, driver_named
from agentctl.emulator.drivers.base import InstanceSpec
from agentctl.emulator.drivers.process import command_of
from agentctl.emulator.instance import IllegalTransition, Instance, Status
from agentctl.emulator.pool import InstancePool, Target

APPS = Path(__file__).parent / "apps"


def target(app: str, *, version: str = "1", revision: str = "r1", capacity: int | None = None,
           **config: Any) -> Target:
    config.setdefault("codeConfiguration", {"language": "python3.12", "command": ["python3", "app.py"]})
    return Target("rt-1", "agent", version, str(APPS / app), config, revision, capacity)


def with_pool(body: Callable[[InstancePool], Awaitable[None]], startup_timeout: float = 30) -> None:
    """Runs ``body`` against a fresh pool and always stops every instance afterwards."""
    async def main() -> None:
        pool = InstancePool(driver_named("process"), startup_timeout=startup_timeout)
        try:
            await body(pool)
        finally:
            await pool.close()
    asyncio.run(main())


def get_json(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=10) as reply:
        return json.load(reply)


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def test_concurrent_requests_on_a_cold_version_share_one_start() -> None:
    async def body(pool: InstancePool) -> None:
        leases = await asyncio.gather(*(pool.acquire(target("echo")) for _ in range(5)))
        assert len({lease.instance.id for lease in leases}) == 1
        assert all(lease.cold_start for lease in leases)
        for lease in leases:
            lease.release()
        warm = await pool.acquire(target("echo"))
        assert not warm.cold_start and warm.instance.status is Status.READY
        warm.release()
    with_pool(body)


def test_instance_gets_its_port_environment_and_code_dir(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ALIBABA_CLOUD_ACCESS_KEY_SECRET", "host-secret")

    async def body(pool: InstancePool) -> None:
        lease = await pool.acquire(target("echo", environmentVariables={"GREETING": "hi"}))
        handle = lease.instance.handle
        assert handle is not None
        seen = await asyncio.to_thread(get_json, lease.instance.base_url + "/echo")
        env = seen["env"]
        assert env["PORT"] == env["FC_SERVER_PORT"] == env["AGENTRUN_PORT"] == str(handle.port)
        assert env["HOST"] == "127.0.0.1" and env["PYTHONUNBUFFERED"] == "1" and env["GREETING"] == "hi"
        assert env["PYTHONPATH"].split(os.pathsep) == [str(APPS / "echo" / "python"), str(APPS / "echo")]
        assert "ALIBABA_CLOUD_ACCESS_KEY_SECRET" not in env
        assert seen["cwd"] == str(APPS / "echo")
        lease.release()
        texts = [line.text for line in pool.driver.logs(handle)]
        assert any("echo app listening" in t for t in texts) and "a line on stderr" in texts
        assert {line.instance_id for line in pool.driver.logs(handle)} == {lease.instance.id}
    with_pool(body)


def test_a_full_instance_makes_the_assigner_start_another() -> None:
    async def body(pool: InstancePool) -> None:
        first = await pool.acquire(target("echo", capacity=1))
        assert first.instance.status is Status.BUSY
        second = await pool.acquire(target("echo", capacity=1))
        assert second.instance is not first.instance
        first.release()
        third = await pool.acquire(target("echo", capacity=1))
        assert third.instance is first.instance and not third.cold_start
        second.release()
        third.release()
    with_pool(body)


def test_a_new_revision_gets_new_instances_and_the_old_one_drains() -> None:
    async def body(pool: InstancePool) -> None:
        old = await pool.acquire(target("echo", revision="r1"))
        new = await pool.acquire(target("echo", revision="r2"))
        assert new.instance is not old.instance
        assert old.instance.status is Status.DRAINING  # still serving its in-flight request
        old.release()
        for _ in range(200):
            if old.instance.status is Status.STOPPED:
                break
            await asyncio.sleep(0.05)
        assert old.instance.status is Status.STOPPED and old.instance not in pool.instances()
        new.release()
    with_pool(body)


def test_a_crashed_instance_leaves_rotation_and_the_next_request_starts_another() -> None:
    async def body(pool: InstancePool) -> None:
        lease = await pool.acquire(target("echo"))
        lease.release()
        crashed = lease.instance
        assert crashed.handle is not None and crashed.handle.pid is not None
        os.kill(crashed.handle.pid, 9)
        await asyncio.wait_for(asyncio.shield(crashed.handle.exited), 10)
        await asyncio.sleep(0.05)
        assert crashed.status is Status.STOPPED and crashed not in pool.instances()
        assert any("crashed" in text for text in crashed.handle.tail_text())
        again = await pool.acquire(target("echo"))
        assert again.instance is not crashed and again.cold_start
        again.release()
    with_pool(body)


def test_stop_ends_the_apps_children_and_a_silent_port_counts_as_healthy(monkeypatch: pytest.MonkeyPatch) -> None:
    # Host pids: under the sandbox the app sits in its own pid namespace and reports a pid of that namespace.
    monkeypatch.setenv("AGENTCTL_SANDBOX", "0")

    async def body(pool: InstancePool) -> None:
        lease = await pool.acquire(target("spawner"))  # listens, but does not speak HTTP
        lease.release()
        handle = lease.instance.handle
        assert handle is not None
        child = int(next(t for t in handle.tail_text() if t.startswith("child pid")).split()[-1])
        assert alive(child)
        await pool.close()
        assert handle.pid is not None and not alive(handle.pid)
        for _ in range(100):  # reaped by init a moment later
            if not alive(child):
                break
            await asyncio.sleep(0.05)
        assert not alive(child)
    with_pool(body)


def test_never_healthy_app_fails_with_a_timeout_and_its_output() -> None:
    async def body(pool: InstancePool) -> None:
        with pytest.raises(InstanceStartFailed) as caught:
            await pool.acquire(target("never_healthy"))
        assert caught.value.code == "InstanceStartTimeout" and caught.value.status == 503
        assert any("never listen" in line for line in caught.value.logs)
        assert pool.instances() == []
    with_pool(body, startup_timeout=1.5)


def test_app_that_exits_during_start_fails_with_its_exit_code_and_output() -> None:
    async def body(pool: InstancePool) -> None:
        with pytest.raises(InstanceStartFailed) as caught:
            await pool.acquire(target("crash"))
        assert caught.value.code == "InstanceStartFailed" and caught.value.status == 502
        assert "exited with code 3" in caught.value.message
        assert "RuntimeError: missing API key" in caught.value.logs
    with_pool(body)


def test_configured_health_path_must_answer_2xx_or_3xx() -> None:
    async def body(pool: InstancePool) -> None:
        with pytest.raises(InstanceStartFailed, match="did not become healthy"):
            await pool.acquire(target("echo", healthCheckConfiguration={"httpGetUrl": "/missing"}))
        lease = await pool.acquire(target("echo", revision="r2", healthCheckConfiguration={"httpGetUrl": "/health"}))
        lease.release()
    with_pool(body, startup_timeout=1.5)


def test_a_missing_program_is_a_clear_start_failure() -> None:
    async def body(pool: InstancePool) -> None:
        with pytest.raises(InstanceStartFailed, match="cannot run no-such-program"):
            await pool.acquire(target("echo", codeConfiguration={"command": "no-such-program --flag"}))
    with_pool(body)


def test_default_command_by_language(tmp_path: Path) -> None:
    (tmp_path / "app.py").write_text("")
    assert command_of({"codeConfiguration": {"language": "python3.10"}}, str(tmp_path)) == [sys.executable, "app.py"]
    (tmp_path / "main.py").write_text("")
    assert command_of({}, str(tmp_path)) == [sys.executable, "main.py"]
    assert command_of({"codeConfiguration": {"command": "python3 -m agent --x 'a b'"}}, str(tmp_path)) == [
        "python3", "-m", "agent", "--x", "a b"]
    with pytest.raises(InstanceStartFailed, match=r"index\.js"):
        command_of({"codeConfiguration": {"language": "nodejs18"}}, str(tmp_path))
    with pytest.raises(InstanceStartFailed, match="no default for language 'java8'"):
        command_of({"codeConfiguration": {"language": "java8"}}, str(tmp_path))


def test_status_transitions_are_checked() -> None:
    instance = Instance(InstanceSpec("c-test", "rt-1", "agent", "1", "/tmp", {}), "r1")
    with pytest.raises(IllegalTransition):
        instance.mark_stopped()
        instance.mark_ready()  # STOPPED is final
    fresh = Instance(InstanceSpec("c-test2", "rt-1", "agent", "1", "/tmp", {}), "r1", capacity=1)
    fresh.mark_ready()
    assert fresh.try_reserve() and fresh.status is Status.BUSY and not fresh.try_reserve()
    fresh.release()
    assert fresh.status is Status.READY
    fresh.drain()
    assert not fresh.try_reserve()
    with pytest.raises(IllegalTransition):
        fresh.mark_ready()


def test_instances_die_with_a_killed_emulator() -> None:
    script = (
        "import asyncio, sys\n"
        "from agentctl.emulator.drivers import driver_named\n"
        "from agentctl.emulator.pool import InstancePool, Target\n"
        "async def main():\n"
        "    pool = InstancePool(driver_named('process'))\n"
        f"    lease = await pool.acquire(Target('rt', 'agent', '1', {str(APPS / 'echo')!r}, {{}}, 'r1'))\n"
        "    print(lease.instance.handle.pid, flush=True)\n"
        "    await asyncio.sleep(120)\n"
        "asyncio.run(main())\n"
    )
    emulator = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    try:
        assert emulator.stdout is not None
        pid = int(emulator.stdout.readline())
        assert alive(pid)
    finally:
        emulator.kill()
        emulator.wait(10)
        emulator.stdout.close()  # type: ignore[union-attr]
    for _ in range(100):
        if not alive(pid):
            break
        time.sleep(0.05)
    assert not alive(pid)
