"""The emulator daemon: one asyncio process that wires the store, code trees, service,
control server and gateway together, and the start-up/shutdown around them.

Start-up, in order:
1. take ``emulator/run.lock`` (held for the daemon's life: a second daemon exits at once);
2. open the store (SQLite, WAL) and reconcile it (orphan trees, runtimes left CREATING/UPDATING);
3. bind the control and gateway ports on 127.0.0.1, the ones of the last run when still free;
4. make sure the ``local`` alias exists with this run's control endpoint (keys kept across runs);
5. serve, then write ``emulator/daemon.json`` (pid, ports, start time): from then on clients may call.

SIGTERM/SIGINT stop it gracefully: the control server closes, the gateway stops every
instance, queued jobs finish, and ``daemon.json`` keeps the ports (pid cleared) for the next run.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import secrets
import signal
import socket
import string
import sys
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from aiohttp import web

from agentctl import __version__, paths
from agentctl.access import AccessStore, Credentials
from agentctl.api.signing import NonceCache
from agentctl.emulator import settings
from agentctl.emulator.codestore import CodeStore
from agentctl.emulator.control import make_control_app
from agentctl.emulator.drivers import open_driver
from agentctl.emulator.exec import add_exec_route, pool_hold, pool_resolver
from agentctl.emulator.fc3_api import mount_fc3_api
from agentctl.emulator.gateway import Gateway, GatewayServer, start_gateway
from agentctl.emulator.health_gate import HealthGate
from agentctl.emulator.http_front import FrontLimits
from agentctl.emulator.limits import Limits
from agentctl.emulator.log_recorder import LogRecorder
from agentctl.emulator.logs import LogStore, Retention
from agentctl.emulator.logs_api import mount_logs_api
from agentctl.emulator.metrics_api import mount_metrics_api
from agentctl.emulator.pool import InstancePool
from agentctl.emulator.reserved import ReservedConcurrency
from agentctl.emulator.service import AgentRunService, ServiceConfig
from agentctl.emulator.store import Store
from agentctl.errors import AgentctlError

HOST = "127.0.0.1"
LOCAL_ALIAS = "local"
LOCAL_ACCOUNT = "local"
log = logging.getLogger("agentctl.emulator")


def state_file(state_dir: Path) -> Path:
    return state_dir / "daemon.json"


def read_state(state_dir: Path) -> dict[str, Any]:
    try:
        data = json.loads(state_file(state_dir).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def write_state(state_dir: Path, data: dict[str, Any]) -> None:
    target = state_file(state_dir)
    tmp = target.with_suffix(".tmp")
    tmp.write_text(json.dumps(data, indent=2), encoding="utf-8")
    os.replace(tmp, target)


def new_secret(length: int = 30) -> str:
    """An AccessKey secret shaped like Alibaba Cloud's: letters and digits only, so it never starts with ``-``
    (which other CLIs would read as an option) and needs no quoting anywhere."""
    alphabet = string.ascii_letters + string.digits
    return "".join(secrets.choice(alphabet) for _ in range(length))


def local_credentials(control_url: str, store: AccessStore | None = None) -> Credentials:
    """The ``local`` alias: created on first start, its Endpoint kept in step with the control port.

    A secret from an older agentctl that starts with ``-`` is replaced (only this emulator uses it)."""
    store = store or AccessStore()
    creds = store.get(LOCAL_ALIAS)
    if creds is None:
        creds = Credentials(access_key_id="LTAI" + secrets.token_hex(10), access_key_secret=new_secret(),
                            account_id=LOCAL_ACCOUNT, region=LOCAL_ACCOUNT, endpoint=control_url)
        store.put(LOCAL_ALIAS, creds)
    elif creds.endpoint != control_url or creds.access_key_secret.startswith("-"):
        secret = new_secret() if creds.access_key_secret.startswith("-") else creds.access_key_secret
        creds = replace(creds, endpoint=control_url, access_key_secret=secret)
        store.put(LOCAL_ALIAS, creds)
    return creds


class SecretLookup:
    """Finds the secret of an access key id: the ``local`` alias, re-read when an unknown key shows up."""

    def __init__(self, creds: Credentials, store: AccessStore) -> None:
        self._creds, self._store = creds, store

    def __call__(self, key_id: str) -> str | None:
        if key_id != self._creds.access_key_id:
            fresh = self._store.get(LOCAL_ALIAS)
            if fresh is None or fresh.access_key_id != key_id:
                return None
            self._creds = fresh
        return self._creds.access_key_secret


def bind(port: int | None) -> socket.socket:
    """A listening-ready socket on 127.0.0.1: ``port`` when free, else any free port."""
    for candidate in ([port] if port else []) + [0]:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((HOST, candidate))
        except OSError:
            sock.close()
            continue
        return sock
    raise OSError("no free port on 127.0.0.1")


async def _start_gateway(store: Store, port: int | None, pool: InstancePool, recorder: LogRecorder,
                         limits: FrontLimits) -> GatewayServer:
    recorder.locate = lambda iid: (i.spec if (i := pool.find(iid)) else None)
    gateway = Gateway(store, pool, logs=recorder)
    if port:
        with contextlib.suppress(OSError):
            return await start_gateway(gateway, HOST, port, limits=limits)
    return await start_gateway(gateway, HOST, 0, limits=limits)


async def serve(state_dir: Path) -> None:
    """Run the daemon until SIGTERM/SIGINT (see the module docstring)."""
    previous = read_state(state_dir)
    options = settings.load(state_dir)
    store = Store(state_dir / "state.db")
    codes = CodeStore(state_dir / "code")
    worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="agentrun-control")
    loop = asyncio.get_running_loop()

    control_sock = bind(previous.get("controlPort"))
    control_port = control_sock.getsockname()[1]
    log_store = LogStore(state_dir / "logs.db", retention=Retention.from_env())
    recorder = LogRecorder(log_store)
    # "auto": Docker when an engine answers (and the image is local), else process; see emulator.drivers.
    driver = await asyncio.to_thread(open_driver, options.driver, startup_timeout=options.startup_timeout_seconds)
    pool = InstancePool(driver, startup_timeout=options.startup_timeout_seconds, log_sink=recorder.line,
                        limits=Limits(options.max_instances, options.queue_depth, options.queue_wait_seconds),
                        idle_timeout=options.idle_timeout_seconds)
    pool.start()  # idle timeout, session expiry, warm instances
    gateway = await _start_gateway(store, previous.get("gatewayPort"), pool, recorder,
                                   FrontLimits(body_timeout=options.body_timeout_seconds))
    access = AccessStore()
    creds = local_credentials(f"http://{HOST}:{control_port}", access)

    config = ServiceConfig(region=creds.region or LOCAL_ACCOUNT, account_id=creds.account_id or LOCAL_ACCOUNT,
                           gateway_url=gateway.url)
    gate = HealthGate(pool, loop, timeout=options.startup_timeout_seconds)
    service = AgentRunService(store, codes, config, schedule=worker.submit, gate=gate)
    removed = await loop.run_in_executor(worker, service.recover)
    if removed:
        log.info("removed %d orphan code trees", len(removed))

    app = make_control_app(service, lambda fn: loop.run_in_executor(worker, fn), SecretLookup(creds, access),
                           NonceCache(journal=state_dir / "nonces.log"))
    mount_logs_api(app, log_store)
    mount_metrics_api(app, log_store, pool.snapshot)
    reserved = ReservedConcurrency(state_dir, pool, store)
    mount_fc3_api(app, pool, reserved)
    reserved.apply()  # reserved concurrency kept across restarts; follows every deploy and traffic shift
    store.subscribe(lambda: loop.call_soon_threadsafe(reserved.apply))
    add_exec_route(app, pool_resolver(pool), pool_hold(pool))
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=2.0)
    await runner.setup()
    await web.SockSite(runner, control_sock).start()

    stopping = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stopping.set)
    state = {"pid": os.getpid(), "controlPort": control_port, "gatewayPort": gateway.port,
             "startedAt": datetime.now(timezone.utc).isoformat(timespec="seconds"), "version": __version__,
             "stateDir": str(state_dir)}
    write_state(state_dir, state)
    log.info("serving control on %s:%d, gateway on %s", HOST, control_port, gateway.url)
    try:
        await stopping.wait()
    finally:
        log.info("stopping")
        await runner.cleanup()
        await gateway.close()
        worker.shutdown(wait=True)
        store.close()
        log_store.close()
        write_state(state_dir, {**state, "pid": None, "stoppedAt": datetime.now(timezone.utc).isoformat()})


def main() -> int:
    """Entry point of ``python -m agentctl.emulator``."""
    logging.basicConfig(level=logging.INFO, stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    state_dir = paths.emulator_dir()
    state_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    from agentctl.emulator.daemon import run_lock

    with run_lock(state_dir) as held:
        if not held:
            log.error("another emulator is already running for %s", state_dir)
            return 3
        try:
            asyncio.run(serve(state_dir))
        except AgentctlError as err:  # one line in daemon.log, which the starting CLI quotes
            log.error("%s%s", err.message, f" — {err.hint}" if err.hint else "")
            return err.exit_code
    return 0
