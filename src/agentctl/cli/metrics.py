"""``agentctl metrics``: how the agent's versions and endpoints did over a time window.

One row per version × endpoint: invocations, errors (status ≥ 400 except 429), throttles (429), cold
starts, duration p50/p90/p99 of served requests, instances now and at peak (per version), and a total
row. The window is ``--window 1h`` (the default: that long until now) or ``-s``/``-e`` like ``logs``.
``-o json|yaml`` gives the whole report (``rows`` and ``total``). The figures come from the emulator's
log store (``agentctl.emulator.metrics``); the cloud's CloudMonitor is not supported yet.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone
from typing import Any

import typer

from agentctl.cli.context import options
from agentctl.cli.render import Column, Table, emit, say
from agentctl.cli.target import BACKEND, single
from agentctl.errors import AuthError, BadInput

DEFAULT_WINDOW = "1h"
_DURATION = re.compile(r"^\d+(?:\.\d+)?\s*(s|m|h|d|w)$")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
METRICS = Table([Column("VERSION", "version"), Column("ENDPOINT", "endpoint"),
                 Column("INVOCATIONS", "invocations"), Column("ERRORS", "errors"), Column("THROTTLES", "throttles"),
                 Column("COLD STARTS", "coldStarts"), Column("P50 MS", "durationP50Ms"),
                 Column("P90 MS", "durationP90Ms"), Column("P99 MS", "durationP99Ms"),
                 Column("INSTANCES", "instancesNow"), Column("PEAK", "instancesPeak")])


def metrics(
    ctx: typer.Context,
    window: str = typer.Option(None, "--window", help=f"This long until now: 30m, 1h, 2d (default {DEFAULT_WINDOW})."),
    start_time: str = typer.Option(None, "-s", "--start-time",
                                   help='From this time: "2024-01-01 00:00:00", ISO 8601, or 10m/2h/1d ago.'),
    end_time: str = typer.Option(None, "-e", "--end-time", help="Up to this time (same formats; default now)."),
    backend: str = BACKEND,
) -> None:
    """Show invocations, errors, throttles, cold starts, latency and instances per version and endpoint."""
    begin, until = time_window(window, start_time, end_time)
    target = single(ctx, backend)
    runtime_id = target.local_runtime_id("metrics", "CloudMonitor", "Read them in the AgentRun console")
    report = fetch(target.backend.client.session.base_url, runtime_id, begin, until, options(ctx).debug)
    fmt = options(ctx).output
    if fmt in ("json", "yaml"):
        emit(report, fmt)
        return
    say(f"{target.name} from {_local(report.get('from'))} to {_local(report.get('to'))}")
    rows: list[dict[str, Any]] = list(report.get("rows") or [])
    if not rows:
        say("No requests and no instances in this window.")
        return
    emit(rows + ([report["total"]] if len(rows) > 1 and report.get("total") else []), fmt, METRICS)


def time_window(window: str | None, start: str | None, end: str | None) -> tuple[datetime, datetime]:
    """``--window`` or ``-s``/``-e`` as (begin, until), every bad value reported before anything is called."""
    from agentctl.cli.timeparse import FORMATS_HINT, parse_range

    now = datetime.now(timezone.utc)
    if window is not None and (start or end):
        raise BadInput("--window cannot be used with -s/--start-time or -e/--end-time",
                       hint="Give either --window 1h (until now) or a range with -s and -e.")
    if start or end:
        begin, until = parse_range(start, end, now=now)
        until = until or now
        return begin or until - _duration(DEFAULT_WINDOW), until
    text = (window or DEFAULT_WINDOW).strip().lower()
    if not _DURATION.match(text) or _duration(text) <= timedelta(0):
        raise BadInput(f"--window {window!r} is not a duration",
                       hint=f"Use a number and a unit: 30s, 15m, 1h, 2d or 1w. For a range: -s/-e ({FORMATS_HINT})")
    return now - _duration(text), now


def _duration(text: str) -> timedelta:
    return timedelta(seconds=float(text[:-1].strip()) * _UNITS[text[-1]])


def fetch(base_url: str, runtime_id: str, begin: datetime, until: datetime, debug: bool) -> dict[str, Any]:
    from agentctl.access import AccessStore
    from agentctl.api.metrics import MetricsClient

    creds = AccessStore().get("local")
    if creds is None:
        raise AuthError("the `local` access alias is missing",
                        hint="Restart the emulator so it writes its keys again: agentctl local stop, then retry.")
    with MetricsClient(base_url, creds, debug=debug) as client:
        report = client.get(runtime_id, start_ms=int(begin.timestamp() * 1000), end_ms=int(until.timestamp() * 1000))
    report.pop("requestId", None)  # the call's id, not part of the report: the same window gives the same JSON
    return report


def _local(iso: Any) -> str:
    try:
        return datetime.fromisoformat(str(iso)).astimezone().strftime("%Y-%m-%d %H:%M:%S")
    except ValueError:
        return str(iso)


def register(app: typer.Typer) -> None:
    app.command("metrics")(metrics)
