"""Reserved concurrency (FC3 ``ConcurrencyConfig``): instances kept warm for N concurrent requests.

Kept per runtime in ``<state dir>/concurrency.json`` (``{runtimeId: N}``, written atomically), so it
survives restarts and is applied again at start-up.

Which instances: FC reserves for the whole function; here the runtime is served by the versions its
endpoints route to *now* (each endpoint's ``targetVersion`` and every version with a weight). Each of
those versions keeps ``ceil(N / sessionConcurrencyLimitPerInstance)`` instances of its current revision
starting or serving, so the first N concurrent requests to any endpoint meet no cold start. A deploy,
a weight shift or a rollback changes that set on the next :meth:`apply` (on every store change and
every few seconds); instances no longer kept, and all of them after ``DeleteConcurrencyConfig``,
follow the idle timeout like any other (they are not stopped at once, so nothing in flight breaks).
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Protocol

from agentctl.emulator.drivers.base import runnable
from agentctl.emulator.pool import InstancePool, Target, capacity_of
from agentctl.emulator.route_cache import revision_of  # the gateway's own fingerprint: instances match
from agentctl.emulator.routing import split_of

FILE = "concurrency.json"
MAX_RESERVED = 10_000


class Routes(Protocol):
    """What is read from the store (``emulator.store.Store`` conforms)."""

    def runtime(self, runtime_id: str) -> Any: ...

    def endpoints(self, runtime_id: str) -> list[dict[str, Any]]: ...

    def version(self, runtime_id: str, version: str | int) -> Mapping[str, Any] | None: ...


class ReservedError(Exception):
    """A request the concurrency routes refuse: ``status``, ``code``, ``message``."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


class ReservedConcurrency:
    def __init__(self, state_dir: Path, pool: InstancePool, routes: Routes) -> None:
        self.path = state_dir / FILE
        self.pool, self.routes = pool, routes
        self._reserved = _read(self.path)

    def get(self, runtime_id: str) -> int | None:
        self._require_runtime(runtime_id)
        return self._reserved.get(runtime_id)

    def put(self, runtime_id: str, reserved: object) -> int:
        row = self._require_runtime(runtime_id)
        if isinstance(reserved, bool) or not isinstance(reserved, int) or not 1 <= reserved <= MAX_RESERVED:
            raise ReservedError(400, "InvalidArgument", f"reservedConcurrency must be a whole number from 1 to "
                                                        f"{MAX_RESERVED}, not {reserved!r}")
        needed = sum(warm_count(reserved, t.capacity) for t in self.targets(runtime_id))
        if needed > self.pool.limits.max_instances:
            raise ReservedError(400, "ReservedConcurrencyExceedsLimit",
                                f"reserving {reserved} for {row.name} needs {needed} warm instances, more than the "
                                f"emulator's --max-instances {self.pool.limits.max_instances}")
        self._reserved[runtime_id] = reserved
        self._save()
        self.apply()
        return reserved

    def delete(self, runtime_id: str) -> None:
        self._require_runtime(runtime_id)
        if self._reserved.pop(runtime_id, None) is None:
            raise ReservedError(404, "ConcurrencyConfigNotFound", f"agentrun-{runtime_id} has no reserved "
                                                                  "concurrency")
        self._save()
        self.apply()

    def apply(self) -> None:
        """Tell the pool which targets to keep warm now, and to stop keeping the others."""
        wanted: dict[tuple[str, str], tuple[Target, int]] = {}
        for runtime_id, reserved in list(self._reserved.items()):
            if self.routes.runtime(runtime_id) is None:  # the runtime was deleted
                del self._reserved[runtime_id]
                self._save()
                continue
            for target in self.targets(runtime_id):
                wanted[target.key] = (target, warm_count(reserved, target.capacity))
        for key in self.pool.warm_keys():
            if key not in wanted:
                self.pool.stop_keeping(key)
        for target, count in wanted.values():
            self.pool.keep_warm(target, count)

    def targets(self, runtime_id: str) -> list[Target]:
        """The versions the runtime's endpoints route to now, as the gateway would run them."""
        row = self.routes.runtime(runtime_id)
        versions: dict[str, None] = {}
        for endpoint in self.routes.endpoints(runtime_id):
            for version, share in split_of(endpoint).shares:
                if share > 0:
                    versions.setdefault(version)
        found = []
        for version in versions:
            record = self.routes.version(runtime_id, version)
            if record and runnable(record):
                config = record.get("config") or {}
                found.append(Target(runtime_id, row.name, version, str(record.get("codeDir") or ""), config,
                                    revision_of(record), capacity_of(config)))
        return found

    def _require_runtime(self, runtime_id: str) -> Any:
        row = self.routes.runtime(runtime_id)
        if row is None:
            raise ReservedError(404, "FunctionNotFound", f"function agentrun-{runtime_id} does not exist (no agent "
                                                         f"runtime with id {runtime_id!r})")
        return row

    def _save(self) -> None:
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(json.dumps(self._reserved, indent=2, sort_keys=True) + "\n", encoding="utf-8")
        os.replace(tmp, self.path)


def warm_count(reserved: int, capacity: int | None) -> int:
    """Instances that serve ``reserved`` concurrent requests without a cold start."""
    return 1 if not capacity else math.ceil(reserved / capacity)


def _read(path: Path) -> dict[str, int]:
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    if not isinstance(raw, dict):
        return {}
    return {str(k): v for k, v in raw.items() if isinstance(v, int) and not isinstance(v, bool) and v > 0}
