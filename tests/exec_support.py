"""A stand-in emulator daemon for exec tests: the real control app with the exec route, minus the data plane.

It serves the test's ``AGENTCTL_HOME`` exactly as the daemon does (``run.lock`` held, ``daemon.json``
written, ``/health`` answering with the pid, the ``local`` alias stored), so the real CLI finds it.
Its "instances" are real process environments (a working directory and variables) keyed by
(function name, instance id); ``ListInstances`` answers the FC3 shape for them.
"""

from __future__ import annotations

import asyncio
import os
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from agentctl.access import AccessStore, Credentials
from agentctl.api.signing import NonceCache
from agentctl.emulator import app as daemon_app
from agentctl.emulator.codestore import CodeStore
from agentctl.emulator.control import make_control_app
from agentctl.emulator.daemon import run_lock, state_dir
from agentctl.emulator.exec import ExecEnv, add_exec_route
from agentctl.emulator.service import AgentRunService, ServiceConfig
from agentctl.emulator.store import Store

RUNTIME_ID = "rt-exec-test"
FUNCTION = f"agentrun-{RUNTIME_ID}"


@dataclass
class StandIn:
    port: int
    credentials: Credentials
    instances: dict[tuple[str, str], ExecEnv] = field(default_factory=dict)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def resolve(self, function: str, instance_id: str) -> ExecEnv | None:
        return self.instances.get((function, instance_id))


def _list_instances(standin: StandIn) -> Any:
    async def handle(request: web.Request) -> web.Response:
        function = request.match_info["functionName"]
        now_ms = int(time.time() * 1000)
        found = [{"instanceId": iid, "versionId": "LATEST", "qualifier": "LATEST", "status": "Running",
                  "createdTimeMs": now_ms - 60_000, "inFlight": 0, "lastUsedTimeMs": now_ms - 5_000}
                 for (fn, iid) in standin.instances if fn == function]
        return web.json_response({"instances": found, "requestId": "standin"})
    return handle


@contextmanager
def standin_daemon(instances: dict[str, ExecEnv]) -> Iterator[StandIn]:
    """Serve until the block ends; ``instances`` maps instance ids of FUNCTION to their environments."""
    directory = state_dir()
    directory.mkdir(parents=True, exist_ok=True)
    ready = threading.Event()
    holder: dict[str, Any] = {}

    async def serve() -> None:
        worker = ThreadPoolExecutor(max_workers=1)
        loop = asyncio.get_running_loop()
        sock = daemon_app.bind(None)
        port = sock.getsockname()[1]
        access = AccessStore()
        creds = daemon_app.local_credentials(f"http://127.0.0.1:{port}", access)
        standin = StandIn(port, creds, {(FUNCTION, iid): env for iid, env in instances.items()})
        service = AgentRunService(Store(directory / "state.db"), CodeStore(directory / "code"), ServiceConfig(),
                                  schedule=worker.submit)
        app = make_control_app(service, lambda fn: loop.run_in_executor(worker, fn),
                               daemon_app.SecretLookup(creds, access), NonceCache())
        add_exec_route(app, standin.resolve)
        app.router.add_get("/2023-03-30/functions/{functionName}/instances", _list_instances(standin))
        runner = web.AppRunner(app, access_log=None, shutdown_timeout=1.0)
        await runner.setup()
        await web.SockSite(runner, sock).start()
        daemon_app.write_state(directory, {"pid": os.getpid(), "controlPort": port,
                                           "gatewayPort": port, "startedAt": "now"})
        stop = asyncio.Event()
        holder.update(standin=standin, stop=stop, loop=loop)
        ready.set()
        await stop.wait()
        await runner.cleanup()
        worker.shutdown(wait=True)

    def main() -> None:
        with run_lock(directory):
            asyncio.run(serve())

    thread = threading.Thread(target=main, name="exec-standin", daemon=True)
    thread.start()
    assert ready.wait(15), "the stand-in daemon did not start"
    try:
        yield holder["standin"]
    finally:
        holder["loop"].call_soon_threadsafe(holder["stop"].set)
        thread.join(10)
        (directory / "daemon.json").unlink(missing_ok=True)
