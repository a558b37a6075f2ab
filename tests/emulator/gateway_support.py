"""Helpers for the gateway tests: an in-memory RouteSource and a gateway served on its own loop thread."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Coroutine, Mapping
from pathlib import Path
from typing import Any, TypeVar

from agentctl.emulator.drivers import driver_named
from agentctl.emulator.gateway import Gateway, GatewayServer, start_gateway
from agentctl.emulator.pool import InstancePool

APPS = Path(__file__).parent / "apps"
T = TypeVar("T")


class MemoryRoutes:
    """The RouteSource contract, in memory: runtimes by name, endpoints, versions (read per request)."""

    def __init__(self) -> None:
        self.runtimes: dict[str, dict[str, Any]] = {}
        self.endpoints: dict[tuple[str, str], dict[str, Any]] = {}
        self.versions: dict[tuple[str, str], dict[str, Any]] = {}

    def add(self, name: str, app: str, versions: Mapping[str, Mapping[str, Any]]) -> str:
        runtime_id = f"id-{name}"
        self.runtimes[name] = {"agentRuntimeId": runtime_id, "agentRuntimeName": name, "status": "READY"}
        for version, extra in versions.items():
            config = {"codeConfiguration": {"language": "python3.12", "command": ["python3", "app.py"]},
                      "environmentVariables": {"APP_VERSION": version}, **extra}
            self.versions[(runtime_id, version)] = {"config": config, "codeDir": str(APPS / app)}
        return runtime_id

    def route(self, name: str, endpoint: str, target: str, weights: Mapping[str, float] | None = None) -> None:
        self.endpoints[(f"id-{name}", endpoint)] = {
            "agentRuntimeEndpointName": endpoint, "targetVersion": target,
            "routingConfiguration": {"versionWeights": [{"version": v, "weight": w}
                                                        for v, w in (weights or {}).items()]}}

    def runtime_by_name(self, name: str) -> Mapping[str, Any] | None:
        return self.runtimes.get(name)

    def endpoint_by_name(self, runtime_id: str, name: str) -> Mapping[str, Any] | None:
        return self.endpoints.get((runtime_id, name))

    def version(self, runtime_id: str, version: str | int) -> Mapping[str, Any] | None:
        return self.versions.get((runtime_id, str(version)))


class NotifyingRoutes(MemoryRoutes):
    """Like the store: changes are announced (``changed()``), so the gateway caches routes."""

    def __init__(self) -> None:
        super().__init__()
        self._subscribers: list[Callable[[], None]] = []

    def subscribe(self, callback: Callable[[], None]) -> Callable[[], None]:
        self._subscribers.append(callback)
        return lambda: self._subscribers.remove(callback)

    def changed(self) -> None:
        for callback in list(self._subscribers):
            callback()


class Running:
    """A gateway served from its own event loop thread, so the test talks to it over real sockets."""

    def __init__(self, routes: MemoryRoutes, startup_timeout: float = 30, *, logs: Any = None,
                 **pool_options: Any) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.pool = self.call(self._pool(startup_timeout, pool_options))
        self.gateway = Gateway(routes, self.pool, logs=logs)
        self.server: GatewayServer = self.call(start_gateway(self.gateway))
        self.url = self.server.url

    @staticmethod
    async def _pool(startup_timeout: float, options: dict[str, Any]) -> InstancePool:
        return InstancePool(driver_named("process"), startup_timeout=startup_timeout, **options)

    def call(self, coro: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(60)

    def on_loop(self, fn: Callable[[], T]) -> T:
        """Run a plain function on the gateway's loop (the pool is not thread-safe)."""
        async def call() -> T:
            return fn()
        return self.call(call())

    def close(self) -> None:
        try:
            self.call(self.server.close())
        finally:
            self.loop.call_soon_threadsafe(self.loop.stop)
            self.thread.join(10)
            self.loop.close()
