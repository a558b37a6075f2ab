"""Docker end to end, through the CLI: `build` in Docker, `local start --driver docker`, deploy, invoke.

One project with three resources is built and deployed once for the module (Docker work is slow):
- ``deps``: a code runtime whose requirements.txt names a real PyPI package, built in the base image;
- ``port9000``: an unmodified app that binds 0.0.0.0:9000 itself (ignores $PORT), instanceConcurrency 1;
- ``boxed``: customContainerConfig with a Dockerfile (FROM the base image via the BASE_IMAGE build arg).
The runtime image for code is the local base image (AGENTCTL_BUILD_IMAGE, as on machines without a registry).
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from docker.errors import ImageNotFound

import docker_support
from lifecycle_support import Project

pytestmark = [pytest.mark.docker, pytest.mark.timeout(900)]

DEPS_APP = '''
import json, os, socket
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self):
        import six  # the built dependency, from /code/python
        body = json.dumps({"six": six.__file__, "version": six.__version__, "hostname": socket.gethostname(),
                           "cwd": os.getcwd()}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

ThreadingHTTPServer((os.environ["HOST"], int(os.environ["PORT"])), Handler).serve_forever()
'''
# Written for AgentRun, not for agentctl: the port is fixed, $PORT and $HOST are ignored.
PORT_9000_APP = '''
import json, socket, time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self):
        if self.path.endswith("/slow"):
            time.sleep(2)  # keeps the request in flight while the second one arrives
        body = json.dumps({"hostname": socket.gethostname(), "port": 9000}).encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

ThreadingHTTPServer(("0.0.0.0", 9000), Handler).serve_forever()
'''
BOXED_APP = PORT_9000_APP.replace('"port": 9000', '"port": 9000, "from": "the Dockerfile image"')
DOCKERFILE = '''ARG BASE_IMAGE=python:3.12-slim
FROM ${BASE_IMAGE}
WORKDIR /app
COPY app.py .
CMD ["python3", "app.py"]
'''


def agent(name: str, **extra: Any) -> dict[str, Any]:
    return {"component": "agentrun", "props": {"region": "cn-hangzhou", "agent": {
        "name": name, "port": 9000, "endpoints": [{"name": "default", "version": "LATEST"}], **extra}}}


def write_project(root: Path, image_tag: str) -> None:
    files = {"deps/app.py": DEPS_APP, "deps/requirements.txt": "six==1.16.0\n", "port9000/app.py": PORT_9000_APP,
             "boxed/app.py": BOXED_APP, "boxed/Dockerfile": DOCKERFILE}
    for rel, text in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text)
    code = {"language": "python3.12", "command": ["python3", "app.py"]}
    boxed = agent("e2e-boxed", customContainerConfig={"image": image_tag, "port": 9000})
    boxed["props"]["build"] = {"context": "./boxed"}
    spec = {"edition": "3.0.0", "name": "docker-e2e", "access": "default", "resources": {
        "deps": agent("e2e-deps", code={"src": "./deps", **code}),
        "port9000": agent("e2e-port9000", code={"src": "./port9000", **code}, instanceConcurrency=1),
        "boxed": boxed}}
    (root / "s.yaml").write_text(yaml.safe_dump(spec, sort_keys=False))


def home_containers(project: Project) -> list[Any]:
    """Instance containers of this project's AGENTCTL_HOME, running or not."""
    with project._env():
        from agentctl.emulator.drivers.docker import HOME_LABEL, home_tag

        tag = home_tag()
    return docker_support.require_docker().containers.list(all=True, filters={"label": f"{HOME_LABEL}={tag}"})


@pytest.fixture(scope="module")
def deployed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Project, str]]:
    """The project built and deployed with the docker driver; yields it and the gateway URL."""
    base = docker_support.require_image(docker_support.BASE_IMAGE)
    root = tmp_path_factory.mktemp("docker-e2e")
    (root / "home").mkdir()
    image_tag = f"agentctl-test/e2e-boxed:{uuid.uuid4().hex[:8]}"
    project = Project(root / "home", root / "project")
    project.dir.mkdir()
    write_project(project.dir, image_tag)
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("AGENTCTL_BUILD_IMAGE", base)  # build image, runtime image and the Dockerfile's BASE_IMAGE
        try:
            started = project.json("local", "start", "--driver", "docker")
            assert started["settings"]["driver"] == "docker"
            built = {row["resource"]: row["status"] for row in project.json("build")}
            assert built == {"deps": "built", "port9000": "skipped", "boxed": "built"}, built
            project.run("deploy", "-y", ok=True, timeout=300)
            yield project, str(project.json("local", "status")["gatewayUrl"])
        finally:
            project.run("local", "stop")
            with contextlib.suppress(ImageNotFound):
                docker_support.require_docker().images.remove(image_tag, force=True)


def invoke(gateway: str, runtime: str, path: str = "") -> httpx.Response:
    url = f"{gateway}/agent-runtimes/{runtime}/endpoints/default/invocations/{path}"
    return httpx.get(url, timeout=120, trust_env=False)


def test_a_dependency_built_in_docker_imports_inside_the_docker_instance(deployed: tuple[Project, str]) -> None:
    project, gateway = deployed
    reply = invoke(gateway, "e2e-deps")
    assert reply.status_code == 200, reply.text
    answer = reply.json()
    assert answer["six"] == "/code/python/six.py" and answer["version"] == "1.16.0" and answer["cwd"] == "/code"
    instance = reply.headers["x-agentrun-instance-id"]
    [container] = [c for c in home_containers(project) if c.labels.get("agentctl.instance") == instance]
    assert container.id.startswith(answer["hostname"])  # it answered from that container
    assert container.labels["agentctl.version"] == "LATEST" and container.labels["agentctl.runtime"]


def test_an_unmodified_port_9000_app_runs_as_two_concurrent_instances(deployed: tuple[Project, str]) -> None:
    _, gateway = deployed
    with ThreadPoolExecutor(2) as pool:
        replies = list(pool.map(lambda _: invoke(gateway, "e2e-port9000", "slow"), range(2)))
    assert [r.status_code for r in replies] == [200, 200], [r.text for r in replies]
    instances = {r.headers["x-agentrun-instance-id"] for r in replies}
    hostnames = {r.json()["hostname"] for r in replies}
    assert len(instances) == 2 and len(hostnames) == 2, (instances, hostnames)  # both bound 9000, apart


def test_custom_container_with_a_dockerfile_builds_deploys_and_answers(deployed: tuple[Project, str]) -> None:
    _, gateway = deployed
    reply = invoke(gateway, "e2e-boxed")
    assert reply.status_code == 200, reply.text
    assert reply.json()["from"] == "the Dockerfile image"


def test_a_docker_instance_cannot_read_the_emulator_state_nor_write_its_code(deployed: tuple[Project, str]) -> None:
    project, gateway = deployed
    instance = invoke(gateway, "e2e-deps").headers["x-agentrun-instance-id"]
    secrets = [project.home / "access.yaml", project.home / "emulator" / "state.db"]
    assert all(path.is_file() for path in secrets)  # they exist on the host
    for path in secrets:
        done = project.run("deps", "instance", "exec", "--instance-id", instance, "--cmd", f"cat {path}")
        assert done.returncode != 0 and "No such file" in done.stderr, (done.stdout, done.stderr)
    wrote = project.run("deps", "instance", "exec", "--instance-id", instance, "--cmd", "touch /code/probe")
    assert wrote.returncode != 0 and "Read-only file system" in wrote.stderr, wrote.stderr
    seen = project.run("deps", "instance", "exec", "--instance-id", instance, "--cmd", "pwd; ls /code", ok=True)
    assert seen.stdout.splitlines()[0] == "/code" and "app.py" in seen.stdout


def test_local_stop_and_reset_leave_no_container(deployed: tuple[Project, str]) -> None:
    project, gateway = deployed
    assert invoke(gateway, "e2e-deps").status_code == 200
    assert home_containers(project)
    project.run("local", "stop", ok=True)
    assert home_containers(project) == []

    project.run("local", "start", ok=True)
    gateway = str(project.json("local", "status")["gatewayUrl"])
    assert invoke(gateway, "e2e-port9000").status_code == 200
    assert home_containers(project)
    project.run("local", "reset", "-y", ok=True)
    assert home_containers(project) == []
    assert project.json("local", "status")["state"] == "stopped"
