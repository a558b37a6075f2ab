"""The docker driver against a real engine (the local base image), and its plan as pure data."""

from __future__ import annotations

import asyncio
import contextlib
import json
import urllib.request
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

import pytest

import docker_support
from agentctl.emulator.drivers import AutoDriver, InstanceStartFailed, driver_named, open_driver
from agentctl.emulator.drivers.base import InstanceSpec
from agentctl.emulator.drivers.docker import DockerDriver, home_tag, plan_container, remove_leftovers
from agentctl.errors import BackendError, BadInput

T = TypeVar("T")
APP = '''
import json, os, socket
from http.server import BaseHTTPRequestHandler, HTTPServer
import dep  # from python/, where `agentctl build` puts dependencies

class Handler(BaseHTTPRequestHandler):
    def do_GET(self):
        body = json.dumps({"dep": dep.__file__, "cwd": os.getcwd(), "port": os.environ["PORT"],
                           "host": os.environ["HOST"], "hostname": socket.gethostname()}).encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

print("listening", flush=True)
HTTPServer((os.environ["HOST"], int(os.environ["PORT"])), Handler).serve_forever()
'''


def spec(code_dir: Path | str, instance: str = "c-test", **config: Any) -> InstanceSpec:
    config.setdefault("codeConfiguration", {"language": "python3.12"})
    return InstanceSpec(instance, "rt-1", "driver-test", "LATEST", str(code_dir), config)


def run(body: Callable[[], Awaitable[T]]) -> T:
    return asyncio.run(body())


@pytest.fixture
def code_dir(tmp_path: Path) -> Path:
    (tmp_path / "python").mkdir()
    (tmp_path / "python" / "dep.py").write_text("")
    (tmp_path / "app.py").write_text(APP)
    return tmp_path


@pytest.fixture
def base_image(monkeypatch: pytest.MonkeyPatch) -> str:
    image = docker_support.require_image(docker_support.BASE_IMAGE)
    monkeypatch.setenv("AGENTCTL_BUILD_IMAGE", image)  # the runtime image of code runtimes
    return image


def instance_containers(instance: str) -> list[Any]:
    return docker_support.require_docker().containers.list(all=True, filters={"label": f"agentctl.instance={instance}"})


# --- the plan (no engine) ------------------------------------------------------------------------------

def test_a_code_runtime_runs_its_language_image_with_the_code_read_only_at_code(tmp_path: Path) -> None:
    (tmp_path / "main.py").write_text("")
    plan = plan_container(spec(tmp_path, environmentVariables={"A": "1", "PORT": "1"}, cpu=0.5, memory=512),
                          environ={})
    assert plan.image == "python:3.12-slim" and plan.command == ["python3", "main.py"]
    assert plan.volumes == {str(tmp_path): {"bind": "/code", "mode": "ro"}} and plan.working_dir == "/code"
    assert plan.port == 9000 and plan.environment["PORT"] == "9000" and plan.environment["HOST"] == "0.0.0.0"
    assert plan.environment["A"] == "1" and plan.environment["PYTHONPATH"] == "/code/python:/code"
    assert (plan.nano_cpus, plan.mem_limit) == (500_000_000, "512m")
    assert plan.labels["agentctl.instance"] == "c-test" and plan.labels["agentctl.home"] == home_tag()
    assert plan_container(spec(tmp_path), environ={"AGENTCTL_BUILD_IMAGE": "mine:1"}).image == "mine:1"


def test_a_container_runtime_runs_its_image_as_is_on_its_port() -> None:
    config = {"containerConfiguration": {"image": "team/agent:3", "port": 8080}, "port": 9000}
    plan = plan_container(spec("", codeConfiguration=None, **config), environ={})
    assert (plan.image, plan.command, plan.port, plan.volumes) == ("team/agent:3", None, 8080, {})
    assert plan.environment["FC_SERVER_PORT"] == "8080"


def test_a_language_without_a_runtime_image_is_a_clear_start_failure(tmp_path: Path) -> None:
    with pytest.raises(InstanceStartFailed, match="no default build image for language java17"):
        plan_container(spec(tmp_path, codeConfiguration={"language": "java17", "command": ["java"]}), environ={})


def test_drivers_by_name() -> None:
    assert driver_named("docker").name == "docker" and driver_named("process").name == "process"
    with pytest.raises(BadInput, match="unknown instance driver 'vm'"):
        driver_named("vm")


def test_without_an_engine_auto_runs_processes_and_docker_says_docker_is_not_running(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DOCKER_HOST", f"unix://{tmp_path}/no-engine.sock")
    assert open_driver("auto").name == "process"
    with pytest.raises(BackendError, match="the docker driver needs a Docker engine: Docker is not running") as caught:
        open_driver("docker")
    assert "--driver auto" in caught.value.message and caught.value.hint


# --- against the engine --------------------------------------------------------------------------------

@pytest.mark.docker
def test_code_instance_serves_from_its_container_and_stop_removes_it(code_dir: Path, base_image: str) -> None:
    driver = DockerDriver()

    async def body() -> dict[str, Any]:
        handle = await driver.start(spec(code_dir))
        try:
            url = f"http://{handle.host}:{handle.port}/"
            answer = json.loads(await asyncio.to_thread(lambda: urllib.request.urlopen(url, timeout=30).read()))
            [container] = instance_containers("c-test")
            assert container.labels["agentctl.runtime"] == "rt-1" and container.image.tags == [base_image]
            target = driver.exec_env(handle)
            assert target is not None
            proc = await asyncio.create_subprocess_exec(
                *target.argv(["sh", "-c", "cat /etc/hostname; touch /code/x"]), cwd=target.cwd, env=dict(target.env),
                stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
            out, err = await proc.communicate()
            answer["exec"] = (proc.returncode, out.decode().strip(), err.decode())
        finally:
            await driver.stop(handle, grace=1)
        assert driver.exec_env(handle) is None and handle.exited.done()
        answer["logs"] = [line.text for line in driver.logs(handle)]
        return answer

    answer = run(body)
    assert answer["dep"] == "/code/python/dep.py" and answer["cwd"] == "/code"
    assert (answer["port"], answer["host"]) == ("9000", "0.0.0.0")
    code, hostname, err = answer["exec"]
    assert hostname == answer["hostname"] and code != 0 and "Read-only file system" in err
    assert "listening" in answer["logs"]
    assert instance_containers("c-test") == []


@pytest.mark.docker
def test_a_missing_image_fails_the_start_naming_it_and_is_not_pulled(tmp_path: Path) -> None:
    from docker.errors import ImageNotFound

    absent = "agentctl-test/never-built:0"
    config = {"containerConfiguration": {"image": absent}}
    with pytest.raises(InstanceStartFailed, match=f"Docker image {absent} is not on this machine") as caught:
        run(lambda: DockerDriver().start(spec("", codeConfiguration=None, **config)))
    assert caught.value.code == "ImageNotFound" and "agentctl build" in caught.value.hint
    with pytest.raises(ImageNotFound):
        docker_support.require_docker().images.get(absent)


@pytest.mark.docker
def test_an_app_that_exits_fails_the_start_with_its_output_and_leaves_no_container(
        tmp_path: Path, base_image: str) -> None:
    broken = spec(tmp_path, "c-broken", codeConfiguration={
        "language": "python3.12", "command": ["python3", "-c", "print('no config here'); raise SystemExit(3)"]})
    with pytest.raises(InstanceStartFailed, match="exited with code 3 before it listened on port 9000") as caught:
        run(lambda: DockerDriver().start(broken))
    assert "no config here" in caught.value.logs
    assert instance_containers("c-broken") == []


@pytest.mark.docker
def test_leftovers_of_this_home_are_removed_and_others_kept(base_image: str) -> None:
    from docker.errors import NotFound

    client = docker_support.require_docker()
    labels = {"agentctl.role": "instance", "agentctl.instance": "c-left"}
    ours = client.containers.run(base_image, ["sleep", "300"], detach=True,
                                 labels={**labels, "agentctl.home": home_tag()})
    theirs = client.containers.run(base_image, ["sleep", "300"], detach=True,
                                   labels={**labels, "agentctl.home": "another-home"})
    try:
        assert remove_leftovers(client) == 1
        assert [c.id for c in instance_containers("c-left")] == [theirs.id]
    finally:
        for container in (ours, theirs):
            with contextlib.suppress(NotFound):
                container.remove(force=True)


@pytest.mark.docker
def test_auto_runs_code_as_a_process_unless_its_runtime_image_is_local(
        code_dir: Path, base_image: str, monkeypatch: pytest.MonkeyPatch) -> None:
    auto = AutoDriver(DockerDriver(), driver_named("process"))

    async def started() -> tuple[int | None, str]:
        handle = await auto.start(spec(code_dir, "c-auto"))
        try:
            return handle.pid, handle.tail_text()[0]
        finally:
            await auto.stop(handle, grace=1)

    pid, line = run(started)
    assert pid is None and line.startswith("started container")  # the base image is local: Docker
    monkeypatch.setenv("AGENTCTL_BUILD_IMAGE", "agentctl-test/never-built:0")
    pid, line = run(started)
    assert pid is not None and line.startswith("started: ")  # not local: a process
    assert instance_containers("c-auto") == []
