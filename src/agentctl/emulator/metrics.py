"""Metrics of one runtime over a time window, computed from the log store (DESIGN §5, issue 4 item 7).

Nothing on the hot path counts anything: every figure comes from records the data plane writes anyway.

- Per request (its one ``request-end`` record, rows keyed by version × endpoint):
  ``invocations`` every request that ended in the window, served or refused;
  ``throttles`` those answered 429 (no slot, no room to start an instance, queue full or waited too long);
  ``errors`` those answered 400 or above except 429 (the rule ``logs --type fail`` uses, minus throttles;
  a client that hung up mid-answer, 499, counts as an error);
  ``coldStarts`` those that waited for their instance to boot (the ``[cold start]`` tag, ``end_note``);
  ``durationP50/P90/P99Ms`` nearest-rank percentiles of the duration of requests an instance served
  (refusals by the gateway are left out: their duration is not the agent's); ``queueWaitP99Ms`` likewise.
- Per version (instances serve a version, whatever endpoint routed to it; endpoints sharing a version show
  the same instance figures): ``instancesNow`` live instances (``InstancePool.snapshot()``) and
  ``instancesPeak`` the most that were alive at one moment of the window. An instance lives from its
  first start record (``instance started`` from the pool, or the driver's ``started: …``) to its last
  stop record (``instance stopped``/``crashed``/``start failed``, or ``exited with code``). An instance
  without those records lives from its first to its last request record in the window (older logs).

Reads go straight to the ``logs`` table of ``logs.db`` with a read-only connection (``kind`` and
``time_ns`` filters that ``LogQuery`` has no field for), so a 500,000-record store stays quick.
"""

from __future__ import annotations

import math
import re
import sqlite3
import time
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from agentctl.emulator.log_recorder import read_end_note

THROTTLED = 429
ALIVE = frozenset({"STARTING", "READY", "BUSY", "DRAINING"})
_STARTED = re.compile(r"^(?:instance (?:\S+ )?started\b|started: )")
_STOPPED = re.compile(r"^(?:instance (?:\S+ )?(?:stopped|crashed|start failed)\b|exited with code\b)")

_ENDS = ("SELECT version, endpoint, status, duration_ms, instance_id, message FROM logs "
         "WHERE runtime_id = ? AND kind = 'request-end' AND time_ns BETWEEN ? AND ?")
_LIFECYCLE = ("SELECT version, instance_id, time_ns, message FROM logs "
              "WHERE runtime_id = ? AND kind = 'system' AND instance_id IS NOT NULL "
              "AND (message LIKE 'instance %' OR message LIKE 'started: %' OR message LIKE 'exited with code%')")
_SEEN = ("SELECT version, instance_id, MIN(time_ns), MAX(time_ns) FROM logs "
         "WHERE runtime_id = ? AND kind IN ('request-start', 'request-end') AND instance_id IS NOT NULL "
         "AND time_ns BETWEEN ? AND ? GROUP BY version, instance_id")


@dataclass(frozen=True)
class Window:
    """Both ends included, ns since the epoch."""

    start_ns: int
    end_ns: int

    @classmethod
    def last(cls, seconds: float, now_ns: int | None = None) -> Window:
        end = time.time_ns() if now_ns is None else now_ns
        return cls(end - int(seconds * 1e9), end)


def percentile(values: Sequence[float], p: float) -> float | None:
    """Nearest-rank percentile of sorted ``values`` (an observed value), None when empty."""
    if not values:
        return None
    return values[max(math.ceil(p / 100 * len(values)) - 1, 0)]


@dataclass
class _Counts:
    invocations: int = 0
    errors: int = 0
    throttles: int = 0
    cold_starts: int = 0
    durations: list[float] = field(default_factory=list)
    queue_waits: list[float] = field(default_factory=list)

    def add(self, status: int | None, duration_ms: float | None, served: bool, message: str | None) -> None:
        self.invocations += 1
        code = status or 0
        if code == THROTTLED:
            self.throttles += 1
        elif code >= 400:
            self.errors += 1
        if not served:
            return
        note = read_end_note(message)
        self.cold_starts += note.cold_start
        self.queue_waits.append(note.queue_wait_ms)
        if duration_ms is not None:
            self.durations.append(float(duration_ms))

    def merge(self, other: _Counts) -> None:
        self.invocations += other.invocations
        self.errors += other.errors
        self.throttles += other.throttles
        self.cold_starts += other.cold_starts
        self.durations += other.durations
        self.queue_waits += other.queue_waits

    def to_json(self) -> dict[str, Any]:
        durations, waits = sorted(self.durations), sorted(self.queue_waits)
        return {"invocations": self.invocations, "errors": self.errors, "throttles": self.throttles,
                "coldStarts": self.cold_starts,
                **{f"durationP{p}Ms": _ms(percentile(durations, p)) for p in (50, 90, 99)},
                "queueWaitP99Ms": _ms(percentile(waits, 99))}


def _ms(value: float | None) -> float | None:
    return None if value is None else round(value, 1)


@dataclass
class Span:
    """When one instance was alive (ns); ``stop_ns`` None while it still runs."""

    version: str
    start_ns: int
    stop_ns: int | None = None
    last_seen_ns: int = 0

    def overlaps(self, window: Window) -> bool:
        return self.start_ns <= window.end_ns and (self.stop_ns is None or self.stop_ns >= window.start_ns)


def peak(spans: Iterable[Span], window: Window) -> int:
    """The most spans alive at one moment of ``window`` (a stop at the same instant as a start comes first)."""
    events: list[tuple[int, int]] = []
    for span in spans:
        if span.overlaps(window):
            events.append((max(span.start_ns, window.start_ns), 1))
            if span.stop_ns is not None and span.stop_ns <= window.end_ns:
                events.append((span.stop_ns, -1))
    alive = best = 0
    for _, delta in sorted(events):
        alive += delta
        best = max(best, alive)
    return best


def lifespans(lifecycle: Iterable[tuple[str, str, int, str]]) -> dict[str, Span]:
    """Instance id → span from start/stop system records ``(version, instance_id, time_ns, message)``."""
    spans: dict[str, Span] = {}
    for version, instance_id, time_ns, message in lifecycle:
        span = spans.get(instance_id)
        if _STARTED.match(message):
            if span is None:
                spans[instance_id] = Span(version, time_ns, last_seen_ns=time_ns)
            else:
                span.start_ns = min(span.start_ns, time_ns)
        elif _STOPPED.match(message):
            if span is None:  # its start record is older than the retention: it lived since then
                span = spans[instance_id] = Span(version, 0)
            span.stop_ns = max(span.stop_ns or 0, time_ns)
        if instance_id in spans:
            spans[instance_id].last_seen_ns = max(spans[instance_id].last_seen_ns, time_ns)
    return spans


def complete_spans(spans: dict[str, Span], seen: Iterable[tuple[str, str, int, int]],
                   live: Sequence[Mapping[str, Any]], window: Window, now_ns: int) -> dict[str, Span]:
    """Add instances known only from requests (``seen``) or from the pool (``live``); close dead open spans."""
    for version, instance_id, first_ns, last_ns in seen:
        span = spans.get(instance_id)
        if span is None:
            spans[instance_id] = Span(version, first_ns, last_ns, last_seen_ns=last_ns)
        else:
            span.last_seen_ns = max(span.last_seen_ns, last_ns)
    live_ids = {str(i.get("id")) for i in live}
    for instance in live:
        span = spans.get(str(instance.get("id")))
        started = int(float(instance.get("started_at") or 0) * 1e9) or window.start_ns
        if span is None:
            spans[str(instance.get("id"))] = Span(str(instance.get("version") or ""), started, None, now_ns)
        elif span.stop_ns is not None and span.stop_ns < now_ns:
            span.stop_ns = None  # a record said "stopped" but the pool still has it: trust the pool
    for instance_id, span in spans.items():
        if span.stop_ns is None and instance_id not in live_ids:  # gone without a stop record (daemon killed)
            span.stop_ns = span.last_seen_ns
    return spans


def live_instances(snapshot: Sequence[Mapping[str, Any]], runtime_id: str) -> list[Mapping[str, Any]]:
    """The runtime's instances of a pool snapshot that are not stopped or failed."""
    return [i for i in snapshot if i.get("runtime_id") == runtime_id and _status(i) in ALIVE]


def _status(instance: Mapping[str, Any]) -> str:
    status = instance.get("status")
    return str(getattr(status, "value", status) or "").upper()


def compute(db: Path, runtime_id: str, window: Window, snapshot: Sequence[Mapping[str, Any]] = (),
            *, now_ns: int | None = None) -> dict[str, Any]:
    """The metrics report of ``runtime_id`` over ``window`` (see the module docstring for each figure).

    ``snapshot`` is ``InstancePool.snapshot()`` (all runtimes; taken by the caller on the pool's loop).
    Returns ``{runtimeId, from, to, rows: [row], total: row}``, rows sorted by version then endpoint.
    """
    now_ns = time.time_ns() if now_ns is None else now_ns
    ends, lifecycle, seen = _read(db, runtime_id, window)
    counts: dict[tuple[str, str], _Counts] = defaultdict(_Counts)
    for version, endpoint, status, duration, instance_id, message in ends:
        counts[(version or "", endpoint or "")].add(status, duration, instance_id is not None, message)
    live = live_instances(snapshot, runtime_id)
    spans = complete_spans(lifespans(lifecycle), seen, live, window, now_ns)
    versions = {s.version for s in spans.values() if s.overlaps(window)} | {str(i.get("version")) for i in live}
    for version in versions - {v for v, _ in counts}:
        counts[(version, "")]  # a version with instances but no requests still gets a row
    now_by_version: dict[str, int] = defaultdict(int)
    for instance in live:
        now_by_version[str(instance.get("version"))] += 1
    rows = []
    total = _Counts()
    for (version, endpoint), row in sorted(counts.items(), key=lambda kv: (_version_order(kv[0][0]), kv[0][1])):
        total.merge(row)
        rows.append({"version": version or "-", "endpoint": endpoint or "-", **row.to_json(),
                     "instancesNow": now_by_version.get(version, 0),
                     "instancesPeak": peak((s for s in spans.values() if s.version == version), window)})
    return {"runtimeId": runtime_id, "from": _iso(window.start_ns), "to": _iso(window.end_ns), "rows": rows,
            "total": {"version": "all", "endpoint": "all", **total.to_json(), "instancesNow": len(live),
                      "instancesPeak": peak(spans.values(), window)}}


def _read(db: Path, runtime_id: str, window: Window) -> tuple[list[Any], list[Any], list[Any]]:
    if not db.exists():
        return [], [], []
    conn = sqlite3.connect(f"{db.resolve().as_uri()}?mode=ro", uri=True, timeout=10)
    try:
        conn.execute("BEGIN")  # one snapshot for the three reads
        ends = conn.execute(_ENDS, (runtime_id, window.start_ns, window.end_ns)).fetchall()
        lifecycle = conn.execute(_LIFECYCLE + " ORDER BY id", (runtime_id,)).fetchall()  # stops after it count
        seen = conn.execute(_SEEN, (runtime_id, window.start_ns, window.end_ns)).fetchall()
        conn.execute("COMMIT")
    finally:
        conn.close()
    return ends, lifecycle, seen


def _version_order(version: str) -> tuple[int, int, str]:
    """Numbered versions in numeric order, then LATEST, then anything else."""
    if version.isdigit():
        return (0, int(version), "")
    return (1 if version == "LATEST" else 2, 0, version)


def _iso(time_ns: int) -> str:
    return datetime.fromtimestamp(time_ns / 1e9, timezone.utc).isoformat(timespec="milliseconds")
