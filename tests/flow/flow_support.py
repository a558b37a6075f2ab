"""Real processes for the flow tests: the quickstart's text agents, the scripted model, and runners.

Each runner is started from a folder holding only ``runner_files()`` and ``flow.json``, with
``python -S`` (no site-packages): it proves the runner ships stdlib-only, as deploy will package it.
conftest.py re-exports the fixtures.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from agentctl.flow import resolved_document, runner_files

REPO = Path(__file__).resolve().parents[2]
AGENT_APP = REPO / "templates" / "flow-quickstart" / "code" / "agents" / "app.py"
MODEL_APP = Path(__file__).resolve().parent / "apps" / "scripted_model.py"
TRANSFORMS = ("upper", "exclaim", "words", "reverse", "echo")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Proc:
    process: subprocess.Popen[str]
    url: str
    log: Path

    def output(self) -> str:
        return self.log.read_text()

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(10)


def start(args: list[str], log: Path, *, env: dict[str, str] | None = None, cwd: Path | None = None,
          health: str = "/health") -> Proc:
    port = free_port()
    full_env = {**os.environ, "PORT": str(port), "HOST": "127.0.0.1", **(env or {})}
    handle = log.open("w")
    process = subprocess.Popen(args, env=full_env, cwd=cwd, stdout=handle, stderr=subprocess.STDOUT, text=True)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"{args} exited with {process.returncode}:\n{log.read_text()}")
        try:
            if httpx.get(url + health, timeout=1).status_code == 200:
                return Proc(process, url, log)
        except httpx.HTTPError:
            time.sleep(0.05)
    process.kill()
    raise AssertionError(f"{args} did not answer {health}:\n{log.read_text()}")


@pytest.fixture(scope="session")
def agents(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    """One quickstart agent process per transform: name → base URL."""
    logs = tmp_path_factory.mktemp("agents")
    procs = {name: start([sys.executable, str(AGENT_APP)], logs / f"{name}.log", env={"TRANSFORM": name})
             for name in TRANSFORMS}
    yield {name: proc.url for name, proc in procs.items()}
    for proc in procs.values():
        proc.stop()


class Model:
    """The scripted model server: ``script(...)`` resets it; ``log()`` is what it received."""

    def __init__(self, proc: Proc) -> None:
        self.proc = proc
        self.base_url = proc.url + "/v1"

    def script(self, rules: dict[str, Any]) -> None:
        httpx.post(self.proc.url + "/_reset", timeout=5).raise_for_status()
        httpx.post(self.proc.url + "/_script", json=rules, timeout=5).raise_for_status()

    def release(self, name: str) -> None:
        httpx.post(f"{self.proc.url}/_release/{name}", timeout=5).raise_for_status()

    def log(self) -> list[dict[str, Any]]:
        return httpx.get(self.proc.url + "/_log", timeout=5).json()  # type: ignore[no-any-return]


@pytest.fixture(scope="session")
def model(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Model]:
    proc = start([sys.executable, str(MODEL_APP)], tmp_path_factory.mktemp("model") / "model.log")
    yield Model(proc)
    proc.stop()


def package_runner(folder: Path, flow: dict[str, Any]) -> Path:
    """What deploy ships: the runner's files and flow.json, nothing else."""
    for name, source in runner_files():
        target = folder / name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source, target)
    (folder / "flow.json").write_text(json.dumps(resolved_document(flow)))
    return folder


class Runners:
    def __init__(self, root: Path) -> None:
        self.root, self.procs, self.count = root, list[Proc](), 0

    def __call__(self, flow: dict[str, Any], *, env: dict[str, str] | None = None,
                 bind: dict[str, str] | None = None) -> Proc:
        self.count += 1
        folder = package_runner(self.root / f"runner{self.count}", flow)
        binds = [f"--runtime={resource}={url}" for resource, url in (bind or {}).items()]
        proc = start([sys.executable, "-S", "-m", "agentctl.flow.runner", *binds], folder / "runner.log",
                     cwd=folder, env=env)
        self.procs.append(proc)
        return proc


@pytest.fixture
def runner(tmp_path: Path) -> Iterator[Runners]:
    runners = Runners(tmp_path)
    yield runners
    for proc in runners.procs:
        proc.stop()


def chat(url: str, text: str, **extra: Any) -> httpx.Response:
    body = {"model": "flow", "messages": [{"role": "user", "content": text}], **extra}
    return httpx.post(url + "/openai/v1/chat/completions", json=body, timeout=60)


def answer(url: str, text: str) -> str:
    response = chat(url, text)
    assert response.status_code == 200, response.text
    return str(response.json()["choices"][0]["message"]["content"])


def runtime(resource: str, **fields: Any) -> dict[str, Any]:
    return {"type": "runtime", "resource": resource, **fields}
