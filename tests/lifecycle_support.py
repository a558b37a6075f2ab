"""A project from the python-echo template with its own emulator, for the lifecycle CLI tests.

Tests run the real CLI in subprocesses and read the emulator's real state
through the control API (``snapshot``) to prove that bad input changed nothing.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections import Counter
from collections.abc import Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any

CHAT = {"messages": [{"role": "user", "content": "ping"}]}


class Project:
    def __init__(self, home: Path, directory: Path) -> None:
        self.home, self.dir = home, directory

    def run(self, *args: str, ok: bool | None = None, cwd: Path | None = None, timeout: float = 180,
            env: Mapping[str, str] | None = None) -> subprocess.CompletedProcess[str]:
        """`agentctl ARGS` in the project folder; ``ok`` asserts success (True) or failure (False)."""
        env = {**os.environ, "AGENTCTL_HOME": str(self.home), "NO_COLOR": "1", "COLUMNS": "200", **(env or {})}
        for name in ("ALIBABA_CLOUD_ACCESS_KEY_ID", "ALIBABA_CLOUD_ACCESS_KEY_SECRET", "AGENTCTL_DEBUG"):
            env.pop(name, None)
        result = subprocess.run([sys.executable, "-m", "agentctl", *args], cwd=cwd or self.dir, env=env,
                                capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL)
        if ok is not None:
            assert (result.returncode == 0) == ok, f"agentctl {' '.join(args)}: {result.returncode}\n" \
                                                    f"{result.stdout}\n{result.stderr}"
        return result

    def json(self, *args: str) -> Any:
        return json.loads(self.run("-o", "json", *args, ok=True).stdout)

    def edit(self, path: str, old: str, new: str) -> None:
        file = self.dir / path
        text = file.read_text()
        assert old in text, f"{old!r} not in {file}"
        file.write_text(text.replace(old, new))

    def snapshot(self) -> dict[str, Any]:
        """Every runtime with its endpoints and versions, as the emulator's API reports them."""
        with self._env():
            from agentctl.access import AccessStore
            from agentctl.api.client import AgentRunClient

            creds = AccessStore().get("local")
            assert creds is not None and creds.endpoint
            with AgentRunClient(creds.endpoint, creds) as client:
                state = {}
                for runtime in client.list_agent_runtimes():
                    runtime_id = runtime["agentRuntimeId"]
                    state[runtime["agentRuntimeName"]] = {
                        "runtime": {k: v for k, v in runtime.items() if k != "lastUpdatedAt"},
                        "endpoints": sorted(client.list_agent_runtime_endpoints(runtime_id),
                                            key=lambda e: e["agentRuntimeEndpointName"]),
                        "versions": client.list_agent_runtime_versions(runtime_id),
                    }
                return state

    def credentials(self, alias: str) -> Any:
        """The stored ``Credentials`` of ``alias`` in this project's home (None when there is none)."""
        with self._env():
            from agentctl.access import AccessStore

            return AccessStore().get(alias)

    def stop(self) -> None:
        with self._env():
            from agentctl.emulator import daemon

            daemon.stop()

    @contextmanager
    def _env(self) -> Iterator[None]:
        saved = os.environ.get("AGENTCTL_HOME")
        os.environ["AGENTCTL_HOME"] = str(self.home)
        try:
            yield
        finally:
            if saved is None:
                os.environ.pop("AGENTCTL_HOME", None)
            else:
                os.environ["AGENTCTL_HOME"] = saved


@contextmanager
def echo_project(root: Path, name: str = "app", *, deploy: bool = True) -> Iterator[Project]:
    """`agentctl init python-echo <root>/<name>` (optionally deployed); the emulator stops afterwards."""
    home = root / "home"
    home.mkdir()
    project = Project(home, root / name)
    project.run("init", "python-echo", str(project.dir), cwd=root, ok=True)
    try:
        if deploy:
            project.run("deploy", ok=True)
        yield project
    finally:
        project.stop()


def count_versions(url: str, requests: int, clients: int = 4) -> Counter[str]:
    """Send ``requests`` chats to ``url`` over ``clients`` keep-alive connections at once (loopback);
    count the ``x-agentrun-version`` that answered, checking it against the ``[vN]`` tag of the reply
    (so the header cannot claim a version whose code did not run)."""
    share = [requests // clients + (i < requests % clients) for i in range(clients)]
    with ThreadPoolExecutor(clients) as pool:
        return sum(pool.map(lambda n: _count(url, n), share), Counter())


def _count(url: str, requests: int) -> Counter[str]:
    import httpx

    seen: Counter[str] = Counter()
    with httpx.Client(trust_env=False, timeout=30) as client:
        for _ in range(requests):
            response = client.post(url + "/openai/v1/chat/completions", json=CHAT)
            assert response.status_code == 200, response.text
            version = response.headers["x-agentrun-version"]
            answer = response.json()["choices"][0]["message"]["content"]
            assert answer == f"[v{version}] ping", (version, answer)
            seen[version] += 1
    return seen
