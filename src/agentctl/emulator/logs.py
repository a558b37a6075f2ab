"""The emulator's log store: every instance line and a start/end record per request, in SQLite.

- File: ``$AGENTCTL_HOME/emulator/logs.db`` (its own database, WAL), apart from ``state.db`` so that a
  chatty agent never slows the control API down.
- Writes never block the caller: ``append`` queues the record and one writer thread inserts what has
  accumulated in one transaction (in the order appended), then wakes the followers. Only instance output
  counts against the queue's bound: when ``QUEUE_DEPTH`` lines wait (an agent printing faster than the
  disk takes it) further lines are dropped and the drop is logged, while request records (start/end, two
  per request, and the limiter bounds requests) are always queued. Request records are what ``metrics`` counts: no
  amount of output may cost one.
- Retention (``Retention``): records older than ``max_age_seconds`` (default 7 days) are deleted, and
  beyond that the newest ``max_records`` (default 500,000, about 100 MB) instance lines are kept, and
  separately the newest ``max_records`` request records: a flood of output never pushes request records
  out. At start-up and every 30 s of writing. ``AGENTCTL_LOGS_MAX_AGE_HOURS`` and
  ``AGENTCTL_LOGS_MAX_RECORDS`` change the defaults.
- Each record has an ``id`` that only grows: it is the cursor of ``query(after=...)`` and ``follow``.
- ``outcome`` ``success``/``fail``: the records of requests whose end record has a status below / at
  or above 400 (their start, end and attributed lines).
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
import os
import sqlite3
import threading
import time
from collections.abc import AsyncGenerator, Iterator, Mapping
from dataclasses import asdict, dataclass, field, replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

log = logging.getLogger("agentctl.emulator.logs")

KINDS = ("stdout", "stderr", "system", "request-start", "request-end")
REQUEST_KINDS = ("request-start", "request-end")
_IS_REQUEST = "kind IN ('request-start', 'request-end')"
OUTCOMES = ("success", "fail")
MAX_MESSAGE = 32 * 1024  # characters kept of one line
QUEUE_DEPTH = 100_000
BATCH = 2_000
PRUNE_EVERY = 30.0
FOLLOW_BATCH = 500

_SCHEMA = """
CREATE TABLE IF NOT EXISTS logs (
    id INTEGER PRIMARY KEY AUTOINCREMENT,  -- AUTOINCREMENT: ids are never reused, cursors stay valid
    time_ns INTEGER NOT NULL, runtime_id TEXT NOT NULL, runtime_name TEXT NOT NULL, version TEXT NOT NULL,
    endpoint TEXT, instance_id TEXT, request_id TEXT, kind TEXT NOT NULL, status INTEGER, duration_ms REAL,
    message TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS logs_runtime ON logs (runtime_id, id);
CREATE INDEX IF NOT EXISTS logs_request ON logs (request_id) WHERE request_id IS NOT NULL;
CREATE INDEX IF NOT EXISTS logs_time ON logs (time_ns);
"""
_COLUMNS = ("id", "time_ns", "runtime_id", "runtime_name", "version", "endpoint", "instance_id", "request_id",
            "kind", "status", "duration_ms", "message")
_JSON_NAMES = {"time_ns": "timeNs", "runtime_id": "runtimeId", "runtime_name": "runtimeName",
               "instance_id": "instanceId", "request_id": "requestId", "duration_ms": "durationMs"}


@dataclass(frozen=True)
class LogRecord:
    """One stored line or request record; ``id`` is set once stored."""

    time_ns: int
    runtime_id: str
    runtime_name: str
    version: str
    kind: str
    message: str = ""
    endpoint: str | None = None
    instance_id: str | None = None
    request_id: str | None = None
    status: int | None = None
    duration_ms: float | None = None
    id: int | None = None

    def to_json(self) -> dict[str, Any]:
        """The wire form (camelCase, plus ``time`` as ISO 8601 UTC)."""
        data = {_JSON_NAMES.get(k, k): v for k, v in asdict(self).items()}
        data["time"] = datetime.fromtimestamp(self.time_ns / 1e9, timezone.utc).isoformat(timespec="microseconds")
        return data

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> LogRecord:
        names = {v: k for k, v in _JSON_NAMES.items()}
        return cls(**{names.get(k, k): v for k, v in data.items() if names.get(k, k) in _COLUMNS})


@dataclass(frozen=True)
class LogQuery:
    """Filters of ``query``/``follow``; times in ns since the epoch, both ends included."""

    runtime_id: str | None = None
    start_ns: int | None = None
    end_ns: int | None = None
    request_id: str | None = None
    instance_id: str | None = None
    search: str | None = None
    outcome: str | None = None  # "success" | "fail"
    limit: int = 1000
    after: int | None = None  # only ids above this, oldest first (else: the newest `limit`, oldest first)

    def __post_init__(self) -> None:
        if self.outcome is not None and self.outcome not in OUTCOMES:
            raise ValueError(f"outcome must be one of {OUTCOMES}, not {self.outcome!r}")

    def where(self, *, with_outcome: bool = True) -> tuple[list[str], list[Any]]:
        clauses: list[str] = []
        args: list[Any] = []
        for column, value in (("runtime_id", self.runtime_id), ("request_id", self.request_id),
                              ("instance_id", self.instance_id)):
            if value:
                clauses.append(f"{column} = ?")
                args.append(value)
        if self.start_ns is not None:
            clauses.append("time_ns >= ?")
            args.append(self.start_ns)
        if self.end_ns is not None:
            clauses.append("time_ns <= ?")
            args.append(self.end_ns)
        if self.search:
            clauses.append("message LIKE ? ESCAPE '\\'")
            args.append("%" + self.search.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%")
        if self.outcome and with_outcome:
            clauses.append(f"request_id IN (SELECT request_id FROM logs WHERE {_ended(self.outcome)}"
                           + (" AND runtime_id = ?)" if self.runtime_id else ")"))
            args.extend([self.runtime_id] if self.runtime_id else [])
        return clauses, args


def _ended(outcome: str) -> str:
    return "kind = 'request-end' AND status " + ("< 400" if outcome == "success" else ">= 400")


@dataclass(frozen=True)
class LogPage:
    records: list[LogRecord]
    cursor: int  # pass as ``after`` to get what follows


@dataclass(frozen=True)
class Retention:
    max_age_seconds: float = 7 * 86400.0
    max_records: int = 500_000

    @classmethod
    def from_env(cls, environ: Mapping[str, str] = os.environ) -> Retention:
        """Defaults, changed by ``AGENTCTL_LOGS_MAX_AGE_HOURS`` / ``AGENTCTL_LOGS_MAX_RECORDS`` when valid."""
        hours = _number(environ.get("AGENTCTL_LOGS_MAX_AGE_HOURS"))
        count = _number(environ.get("AGENTCTL_LOGS_MAX_RECORDS"))
        return cls(max(hours * 3600, 60.0) if hours else cls.max_age_seconds,
                   max(int(count), 1000) if count else cls.max_records)


def _number(text: str | None) -> float | None:
    try:
        value = float(text) if text else None
    except ValueError:
        return None
    return value if value and value > 0 else None


@dataclass(eq=False)
class _Follower:
    loop: asyncio.AbstractEventLoop
    event: asyncio.Event = field(default_factory=asyncio.Event)

    def wake(self) -> None:
        with contextlib.suppress(RuntimeError):  # its loop is closed: nobody is waiting any more
            self.loop.call_soon_threadsafe(self.event.set)


class LogStore:
    """See the module docstring. Thread-safe; ``follow`` is for asyncio callers."""

    def __init__(self, path: Path, *, retention: Retention | None = None, prune_every: float = PRUNE_EVERY) -> None:
        self.path, self.retention, self.prune_every = Path(path), retention or Retention(), prune_every
        self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        self._writer = self._connect()
        self._writer.executescript(_SCHEMA)
        self._write_lock = threading.Lock()  # the writer thread and prune() share one connection
        self.prune()
        # records in order, flush events and the closing None; only instance lines count against QUEUE_DEPTH
        self._queue: collections.deque[LogRecord | threading.Event | None] = collections.deque()
        self._waiting_lines = 0
        self._ready = threading.Condition()
        self._followers: set[_Follower] = set()
        self._lock = threading.Lock()
        self._readers: list[sqlite3.Connection] = []
        self._local = threading.local()
        self.dropped = 0
        self._closed = False
        self._thread = threading.Thread(target=self._write_loop, name="agentctl-logs-writer", daemon=True)
        self._thread.start()

    def _connect(self) -> sqlite3.Connection:
        conn = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None, timeout=10)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")  # a power cut may lose the last lines, never corrupt the file
        return conn

    # writing ------------------------------------------------------------------
    def append(self, record: LogRecord) -> None:
        """Queue ``record`` for writing; returns at once (drops it when the queue is full)."""
        if len(record.message) > MAX_MESSAGE:
            record = replace(record, message=record.message[:MAX_MESSAGE] + "…")
        with self._ready:
            if record.kind not in REQUEST_KINDS:
                if self._waiting_lines >= QUEUE_DEPTH:
                    self.dropped += 1
                    return
                self._waiting_lines += 1
            self._queue.append(record)
            self._ready.notify()

    def flush(self, timeout: float = 10.0) -> bool:
        """Wait until everything appended so far is written; False on timeout or when closed."""
        if self._closed:
            return False
        done = threading.Event()
        self._put_control(done)
        return done.wait(timeout)

    def _put_control(self, item: threading.Event | None) -> None:
        """A flush event or the closing None: handled after everything queued before it."""
        with self._ready:
            self._queue.append(item)
            self._ready.notify()

    def _take(self) -> list[LogRecord | threading.Event | None]:
        """Up to BATCH waiting items, in order."""
        with self._ready:
            while not self._queue:
                self._ready.wait()
            batch: list[LogRecord | threading.Event | None] = []
            while self._queue and len(batch) < BATCH:
                item = self._queue.popleft()
                if isinstance(item, LogRecord) and item.kind not in REQUEST_KINDS:
                    self._waiting_lines -= 1
                batch.append(item)
        return batch

    def _write_loop(self) -> None:
        last_prune = time.monotonic()
        while True:
            batch = self._take()
            records = [item for item in batch if isinstance(item, LogRecord)]
            if records:
                self._insert(records)
                self._wake_followers()
            if time.monotonic() - last_prune > self.prune_every:
                last_prune = time.monotonic()
                self.prune()
            for item in batch:
                if isinstance(item, threading.Event):
                    item.set()
            if None in batch:
                return

    def _insert(self, records: list[LogRecord]) -> None:
        rows = [(r.time_ns, r.runtime_id, r.runtime_name, r.version, r.endpoint, r.instance_id, r.request_id,
                 r.kind, r.status, r.duration_ms, r.message) for r in records]
        try:
            with self._write_lock, self._transaction(self._writer):
                self._writer.executemany(f"INSERT INTO logs ({', '.join(_COLUMNS[1:])}) VALUES "
                                         f"({', '.join('?' * len(_COLUMNS[1:]))})", rows)
        except sqlite3.Error:
            log.exception("could not write %d log records to %s", len(rows), self.path)
        if self.dropped:
            log.warning("dropped %d log records: the writer could not keep up", self.dropped)
            self.dropped = 0

    @staticmethod
    @contextlib.contextmanager
    def _transaction(conn: sqlite3.Connection) -> Iterator[None]:
        conn.execute("BEGIN IMMEDIATE")
        try:
            yield
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")

    def prune(self, now_ns: int | None = None) -> int:
        """Apply the retention now; returns how many records went. (Called by the writer thread.)"""
        now_ns = time.time_ns() if now_ns is None else now_ns
        cutoff = now_ns - int(self.retention.max_age_seconds * 1e9)
        try:
            with self._write_lock, self._transaction(self._writer):
                aged = self._writer.execute("DELETE FROM logs WHERE time_ns < ?", (cutoff,)).rowcount
                extra = 0
                for kinds in (_IS_REQUEST, f"NOT {_IS_REQUEST}"):  # lines and request records, each on its own
                    extra += self._writer.execute(
                        f"DELETE FROM logs WHERE {kinds} AND id <= (SELECT id FROM logs WHERE {kinds} "
                        "ORDER BY id DESC LIMIT 1 OFFSET ?)", (self.retention.max_records,)).rowcount
        except sqlite3.Error:
            log.exception("could not prune %s", self.path)
            return 0
        return int(aged) + int(extra)

    # reading ------------------------------------------------------------------
    def _reader(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            conn = self._connect()
            conn.execute("PRAGMA query_only=ON")
            self._local.conn = conn
            with self._lock:
                self._readers.append(conn)
        return conn

    def last_id(self) -> int:
        row = self._reader().execute("SELECT COALESCE(MAX(id), 0) FROM logs").fetchone()
        return int(row[0])

    def query(self, q: LogQuery) -> LogPage:
        """Records matching ``q`` (see ``LogQuery.after`` for which ones), oldest first."""
        conn = self._reader()
        conn.execute("BEGIN")  # one snapshot for the cursor and the rows
        try:
            top = int(conn.execute("SELECT COALESCE(MAX(id), 0) FROM logs").fetchone()[0])
            clauses, args = q.where()
            clauses.append("id <= ?")
            args.append(top)
            if q.after is not None:
                clauses.append("id > ?")
                args.append(q.after)
            order = "ASC" if q.after is not None else "DESC"
            rows = conn.execute(f"SELECT {', '.join(_COLUMNS)} FROM logs WHERE {' AND '.join(clauses)} "
                                f"ORDER BY id {order} LIMIT ?", [*args, max(q.limit, 1)]).fetchall()
        finally:
            conn.execute("COMMIT")
        records = [_record(row) for row in rows]
        if q.after is None:
            records.reverse()
        if q.after is not None and len(records) >= q.limit:  # more may follow: resume after the last one
            return LogPage(records, int(records[-1].id or top))
        return LogPage(records, top)

    def _follow_batch(self, q: LogQuery, cursor: int) -> LogPage:
        """What ``follow`` yields next. With an outcome, a request's records come once its end is stored."""
        if q.outcome is None:
            return self.query(replace(q, after=cursor, limit=FOLLOW_BATCH))
        conn = self._reader()
        top = self.last_id()  # read first: an end stored later has a higher id, so it cannot be skipped
        ends = conn.execute(f"SELECT id, request_id FROM logs WHERE id > ? AND id <= ? AND {_ended(q.outcome)}"
                            + (" AND runtime_id = ?" if q.runtime_id else "") + " ORDER BY id LIMIT ?",
                            [cursor, top, *([q.runtime_id] if q.runtime_id else []), FOLLOW_BATCH]).fetchall()
        if not ends:
            return LogPage([], top)
        clauses, args = q.where(with_outcome=False)
        marks = ", ".join("?" * len(ends))
        clauses += [f"request_id IN ({marks})", "id <= ?"]
        args += [row[1] for row in ends] + [ends[-1][0]]
        rows = conn.execute(f"SELECT {', '.join(_COLUMNS)} FROM logs WHERE {' AND '.join(clauses)} ORDER BY id",
                            args).fetchall()
        return LogPage([_record(row) for row in rows], int(ends[-1][0]))

    async def follow(self, q: LogQuery, after: int | None = None, *, idle: float | None = None
                     ) -> AsyncGenerator[LogRecord | None, None]:
        """New records matching ``q`` after the cursor ``after`` (default: from now on), as they are stored.

        Yields ``None`` after ``idle`` seconds without records (a chance to send a heartbeat). Never ends
        by itself; close it (``aclose``) to stop.
        """
        follower = _Follower(asyncio.get_running_loop())
        with self._lock:
            self._followers.add(follower)
        try:
            cursor = after if after is not None else await asyncio.to_thread(self.last_id)
            while True:
                follower.event.clear()  # before reading: a commit after this point wakes us again
                page = await asyncio.to_thread(self._follow_batch, q, cursor)
                cursor = max(cursor, page.cursor)
                for record in page.records:
                    yield record
                if page.records:
                    continue
                try:
                    await asyncio.wait_for(follower.event.wait(), idle)
                except asyncio.TimeoutError:
                    yield None
        finally:
            with self._lock:
                self._followers.discard(follower)

    def _wake_followers(self) -> None:
        with self._lock:
            followers = list(self._followers)
        for follower in followers:
            follower.wake()

    def close(self) -> None:
        """Write what is queued, stop the writer and close the database."""
        if self._closed:
            return
        self._closed = True
        self._put_control(None)
        self._thread.join(timeout=10)
        self._writer.close()
        with self._lock:
            readers, self._readers = self._readers, []
        for conn in readers:
            with contextlib.suppress(sqlite3.Error):
                conn.close()


def _record(row: tuple[Any, ...]) -> LogRecord:
    return LogRecord(**dict(zip(_COLUMNS, row, strict=True)))
