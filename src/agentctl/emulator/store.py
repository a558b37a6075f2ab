"""The emulator's state: runtimes, versions and endpoints in SQLite (WAL).

Rows hold the API JSON that the control API returns (``data``) next to the
columns the emulator itself needs (code tree, content digest, staged zip).
Every change is one transaction (``with store.change() as tx``): a crash never
leaves half a version. Code trees are written before the row that names them
is committed (see ``codestore``).

A change that must pass a health check before it takes traffic (see ``emulator.rollout``) is
kept in the row's ``pending`` column (the requested API JSON) while ``data`` stays what is served:
the gateway never reads ``pending``; the control API shows it while the change is in progress.

Readers (the gateway) use ``runtime_by_name``, ``endpoint_by_name`` and
``version``; ``subscribe(callback)`` calls ``callback()`` after every committed
change (from the thread that made it: keep it cheap, e.g. drop a cache), and
``generation`` counts the changes, for caches that prefer polling.

The connection is shared between the event loop and the control API's worker
thread, so every use holds ``_lock``.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from agentctl.api.models import LATEST

SCHEMA = """
CREATE TABLE IF NOT EXISTS runtimes (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    name TEXT NOT NULL UNIQUE,
    data TEXT NOT NULL,
    code_dir TEXT,
    code_digest TEXT,
    pending_zip TEXT,
    revision INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS versions (
    runtime_id TEXT NOT NULL REFERENCES runtimes(id) ON DELETE CASCADE,
    version INTEGER NOT NULL,
    data TEXT NOT NULL,
    config TEXT NOT NULL,
    code_dir TEXT,
    code_digest TEXT,
    PRIMARY KEY (runtime_id, version)
);
CREATE TABLE IF NOT EXISTS endpoints (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    runtime_id TEXT NOT NULL REFERENCES runtimes(id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    data TEXT NOT NULL,
    UNIQUE (runtime_id, name)
);
"""

# Columns added after the first release: (table, column, type); added to an older database when opened.
ADDED_COLUMNS = (("runtimes", "pending", "TEXT"), ("endpoints", "pending", "TEXT"))

# Fields of a runtime that are state, not configuration: left out when a version freezes LATEST.
STATE_FIELDS = frozenset({
    "agentRuntimeId", "agentRuntimeArn", "agentRuntimeVersion", "status", "statusReason", "createdAt",
    "lastUpdatedAt",
})


def frozen_config(data: dict[str, Any]) -> dict[str, Any]:
    """The configuration part of a runtime's API JSON (what a version freezes)."""
    return {k: v for k, v in data.items() if k not in STATE_FIELDS}


@dataclass
class RuntimeRow:
    id: str
    name: str
    data: dict[str, Any]
    code_dir: str | None = None
    code_digest: str | None = None
    pending_zip: str | None = None
    revision: int = 0
    pending: dict[str, Any] | None = None  # the requested runtime while an update is being checked

    @property
    def view(self) -> dict[str, Any]:
        """What the control API shows: the change in progress, else what is served."""
        return self.pending if self.pending is not None else self.data


@dataclass
class EndpointRow:
    runtime_id: str
    data: dict[str, Any]  # what the gateway serves
    pending: dict[str, Any] | None = None  # the requested endpoint while its new targets are checked

    @property
    def id(self) -> str:
        return str(self.data["agentRuntimeEndpointId"])

    @property
    def view(self) -> dict[str, Any]:
        return self.pending if self.pending is not None else self.data


@dataclass
class VersionRow:
    runtime_id: str
    version: int
    data: dict[str, Any]
    config: dict[str, Any] = field(default_factory=dict)
    code_dir: str | None = None
    code_digest: str | None = None


class Tx:
    """The writes allowed inside one transaction."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn

    def add_runtime(self, row: RuntimeRow) -> None:
        self.conn.execute(
            "INSERT INTO runtimes (id, name, data, code_dir, code_digest, pending_zip, revision, pending) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (row.id, row.name, json.dumps(row.data), row.code_dir, row.code_digest, row.pending_zip, row.revision,
             _dump(row.pending)),
        )

    def save_runtime(self, row: RuntimeRow) -> None:
        self.conn.execute(
            "UPDATE runtimes SET name = ?, data = ?, code_dir = ?, code_digest = ?, pending_zip = ?, revision = ?, "
            "pending = ? WHERE id = ?",
            (row.name, json.dumps(row.data), row.code_dir, row.code_digest, row.pending_zip, row.revision,
             _dump(row.pending), row.id),
        )

    def delete_runtime(self, runtime_id: str) -> None:
        self.conn.execute("DELETE FROM runtimes WHERE id = ?", (runtime_id,))  # cascades

    def add_version(self, row: VersionRow) -> None:
        self.conn.execute(
            "INSERT INTO versions (runtime_id, version, data, config, code_dir, code_digest) VALUES (?, ?, ?, ?, ?, ?)",
            (row.runtime_id, row.version, json.dumps(row.data), json.dumps(row.config), row.code_dir,
             row.code_digest),
        )

    def save_endpoint(self, runtime_id: str, data: dict[str, Any], pending: dict[str, Any] | None = None) -> None:
        self.conn.execute(
            "INSERT INTO endpoints (id, runtime_id, name, data, pending) VALUES (?, ?, ?, ?, ?) "
            "ON CONFLICT (id) DO UPDATE SET name = excluded.name, data = excluded.data, pending = excluded.pending",
            (data["agentRuntimeEndpointId"], runtime_id, data["agentRuntimeEndpointName"], json.dumps(data),
             _dump(pending)),
        )

    def delete_endpoint(self, endpoint_id: str) -> None:
        self.conn.execute("DELETE FROM endpoints WHERE id = ?", (endpoint_id,))


class Store:
    """SQLite-backed repository of the emulator's resources (see the module docstring)."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._conn = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._conn.row_factory = sqlite3.Row
        self._lock = threading.RLock()
        self._subscribers: list[Callable[[], None]] = []
        self.generation = 0
        with self._lock:
            self._conn.execute("PRAGMA journal_mode=WAL")
            self._conn.execute("PRAGMA synchronous=FULL")  # a committed change survives kill -9 and power loss
            self._conn.execute("PRAGMA foreign_keys=ON")
            self._conn.executescript(SCHEMA)
            for table, column, kind in ADDED_COLUMNS:
                have = {r["name"] for r in self._conn.execute(f"PRAGMA table_info({table})")}
                if column not in have:
                    self._conn.execute(f"ALTER TABLE {table} ADD COLUMN {column} {kind}")

    def close(self) -> None:
        with self._lock:
            self._conn.close()

    # --- writes -------------------------------------------------------------------------------

    @contextmanager
    def change(self) -> Iterator[Tx]:
        """One transaction: everything done on the yielded ``Tx`` commits together or not at all."""
        with self._lock:
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                yield Tx(self._conn)
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise
            self._conn.execute("COMMIT")
            self.generation += 1
            subscribers = list(self._subscribers)
        for callback in subscribers:
            callback()

    def subscribe(self, callback: Callable[[], None]) -> Callable[[], None]:
        """Call ``callback()`` after every committed change; returns a function that unsubscribes."""
        with self._lock:
            self._subscribers.append(callback)

        def unsubscribe() -> None:
            with self._lock:
                self._subscribers.remove(callback)

        return unsubscribe

    # --- reads --------------------------------------------------------------------------------

    def _rows(self, sql: str, *args: Any) -> list[sqlite3.Row]:
        with self._lock:
            return self._conn.execute(sql, args).fetchall()

    def runtime(self, runtime_id: str) -> RuntimeRow | None:
        rows = self._rows("SELECT * FROM runtimes WHERE id = ?", runtime_id)
        return _runtime(rows[0]) if rows else None

    def runtime_row_by_name(self, name: str) -> RuntimeRow | None:
        rows = self._rows("SELECT * FROM runtimes WHERE name = ?", name)
        return _runtime(rows[0]) if rows else None

    def runtimes(self) -> list[RuntimeRow]:
        return [_runtime(r) for r in self._rows("SELECT * FROM runtimes ORDER BY seq")]

    def versions(self, runtime_id: str) -> list[VersionRow]:
        rows = self._rows("SELECT * FROM versions WHERE runtime_id = ? ORDER BY version", runtime_id)
        return [_version(r) for r in rows]

    def version_row(self, runtime_id: str, number: int) -> VersionRow | None:
        rows = self._rows("SELECT * FROM versions WHERE runtime_id = ? AND version = ?", runtime_id, number)
        return _version(rows[0]) if rows else None

    def endpoints(self, runtime_id: str) -> list[dict[str, Any]]:
        rows = self._rows("SELECT data FROM endpoints WHERE runtime_id = ? ORDER BY seq", runtime_id)
        return [json.loads(r["data"]) for r in rows]

    def endpoint(self, runtime_id: str, endpoint_id: str) -> dict[str, Any] | None:
        rows = self._rows("SELECT data FROM endpoints WHERE runtime_id = ? AND id = ?", runtime_id, endpoint_id)
        return json.loads(rows[0]["data"]) if rows else None

    def endpoint_rows(self, runtime_id: str) -> list[EndpointRow]:
        rows = self._rows("SELECT data, pending FROM endpoints WHERE runtime_id = ? ORDER BY seq", runtime_id)
        return [EndpointRow(runtime_id, json.loads(r["data"]), _load(r["pending"])) for r in rows]

    def endpoint_row(self, runtime_id: str, endpoint_id: str) -> EndpointRow | None:
        rows = self._rows("SELECT data, pending FROM endpoints WHERE runtime_id = ? AND id = ?", runtime_id,
                          endpoint_id)
        return EndpointRow(runtime_id, json.loads(rows[0]["data"]), _load(rows[0]["pending"])) if rows else None

    def code_dirs(self) -> set[str]:
        """Every tree and staged zip a row refers to (the garbage collector keeps these)."""
        rows = self._rows(
            "SELECT code_dir AS p FROM runtimes UNION SELECT pending_zip FROM runtimes "
            "UNION SELECT code_dir FROM versions"
        )
        return {r["p"] for r in rows if r["p"]}

    def counts(self) -> dict[str, int]:
        return {
            table: self._rows(f"SELECT COUNT(*) AS n FROM {table}")[0]["n"]
            for table in ("runtimes", "versions", "endpoints")
        }

    # --- the gateway's read API ---------------------------------------------------------------

    def runtime_by_name(self, name: str) -> dict[str, Any] | None:
        """The runtime's API JSON (``agentRuntimeId``, ``status``, config fields), or None."""
        row = self.runtime_row_by_name(name)
        return row.data if row else None

    def endpoint_by_name(self, runtime_id: str, name: str) -> dict[str, Any] | None:
        """The endpoint's API JSON (``targetVersion``, ``routingConfiguration``), or None."""
        rows = self._rows("SELECT data FROM endpoints WHERE runtime_id = ? AND name = ?", runtime_id, name)
        return json.loads(rows[0]["data"]) if rows else None

    def version(self, runtime_id: str, version: str | int) -> dict[str, Any] | None:
        """``{"version", "config", "codeDir"}`` of LATEST or of published version N, or None.

        ``codeDir`` is None for a container runtime, or while LATEST's first code is
        still being unpacked.
        """
        if str(version) == LATEST:
            row = self.runtime(runtime_id)
            if row is None:
                return None
            return {"version": LATEST, "config": frozen_config(row.data), "codeDir": row.code_dir}
        try:
            number = int(version)
        except ValueError:
            return None
        found = self.version_row(runtime_id, number)
        if found is None:
            return None
        return {"version": str(number), "config": found.config, "codeDir": found.code_dir}


def _runtime(row: sqlite3.Row) -> RuntimeRow:
    return RuntimeRow(
        id=row["id"], name=row["name"], data=json.loads(row["data"]), code_dir=row["code_dir"],
        code_digest=row["code_digest"], pending_zip=row["pending_zip"], revision=row["revision"],
        pending=_load(row["pending"]),
    )


def _dump(value: dict[str, Any] | None) -> str | None:
    return None if value is None else json.dumps(value)


def _load(text: str | None) -> dict[str, Any] | None:
    return None if text is None else dict(json.loads(text))


def _version(row: sqlite3.Row) -> VersionRow:
    return VersionRow(
        runtime_id=row["runtime_id"], version=row["version"], data=json.loads(row["data"]),
        config=json.loads(row["config"]), code_dir=row["code_dir"], code_digest=row["code_digest"],
    )
