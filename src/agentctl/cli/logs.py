"""``agentctl logs``: what the agent's instances printed, plus a start and an end record per request.

Without ``--tail`` it prints the newest ``--limit`` records that match, oldest first. ``--tail``
follows new records live across every instance and version of the runtime (each line labelled
``[v2 c-1a2b3c]``: version and instance) until Ctrl-C; with ``-s`` it first prints what is already
stored since then. ``-o json`` prints one JSON object per line. Times: see ``agentctl.cli.timeparse``.

Only the local emulator keeps logs here; the cloud writes them to SLS, which is not supported yet.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterable
from datetime import datetime
from typing import TYPE_CHECKING, Any

import typer

from agentctl.cli.context import options
from agentctl.cli.render import say, to_yaml
from agentctl.cli.target import BACKEND, single
from agentctl.errors import BackendError, BadInput

if TYPE_CHECKING:
    from agentctl.api.logs import LogFilters, LogsClient

TYPES = ("success", "fail")
MAX_LIMIT = 10_000


def logs(
    ctx: typer.Context,
    tail: bool = typer.Option(False, "-t", "--tail", help="Follow new records live until Ctrl-C."),
    start_time: str = typer.Option(None, "-s", "--start-time",
                                   help='From this time: "2024-01-01 00:00:00", ISO 8601, or 10m/2h/1d ago.'),
    end_time: str = typer.Option(None, "-e", "--end-time", help="Up to this time (same formats)."),
    request_id: str = typer.Option(None, "-r", "--request-id", help="Only the records of this request."),
    instance_id: str = typer.Option(None, "--instance-id", help="Only the records of this instance."),
    search: str = typer.Option(None, "--search", help="Only records whose message contains this text."),
    type_: str = typer.Option(None, "--type", help="success or fail: requests that ended below/at or above 400."),
    match: str = typer.Option(None, "--match", help="Highlight this text in the messages."),
    limit: int = typer.Option(1000, "--limit", help=f"At most this many stored records (1–{MAX_LIMIT})."),
    backend: str = BACKEND,
) -> None:
    """Show the logs of the agent's instances (-t to follow them live)."""
    opts = options(ctx)
    fmt = opts.output  # -o json: one object per line
    filters = build_filters(start_time, end_time, request_id, instance_id, search, type_, tail=tail, limit=limit)
    target = single(ctx, backend)
    runtime_id = target.local_runtime_id("logs", "SLS", "Read them in the SLS console of the runtime's logConfig")
    printer = Printer(fmt, match)
    with open_client(opts.debug) as client:
        try:
            show(client, runtime_id, filters, printer, tail=tail, history=not tail or start_time is not None,
                 limit=limit)
        except KeyboardInterrupt:  # the normal end of --tail
            return
        except BrokenPipeError:  # `agentctl logs | head`
            return



def build_filters(start: str | None, end: str | None, request_id: str | None, instance_id: str | None,
                  search: str | None, type_: str | None, *, tail: bool, limit: int) -> LogFilters:
    """The flags as filters, every bad value reported before anything is called."""
    from agentctl.api.logs import LogFilters
    from agentctl.cli.timeparse import parse_range

    if type_ is not None and type_.lower() not in TYPES:
        raise BadInput(f"--type {type_!r} is not success or fail",
                       hint="--type success: requests answered below 400; --type fail: 400 and above.")
    if not 1 <= limit <= MAX_LIMIT:
        raise BadInput(f"--limit {limit} is out of range", hint=f"Give a number from 1 to {MAX_LIMIT}.")
    if tail and end:
        raise BadInput("--end-time cannot be used with --tail (a tail never ends)",
                       hint="Drop --end-time, or drop --tail to read a closed time range.")
    begin, until = parse_range(start, end)
    return LogFilters(start_ms=_ms(begin), end_ms=_ms(until), request_id=request_id or None,
                      instance_id=instance_id or None, search=search or None,
                      type=type_.lower() if type_ else None)


def _ms(moment: datetime | None) -> int | None:
    return None if moment is None else int(moment.timestamp() * 1000)


def open_client(debug: bool) -> LogsClient:
    from agentctl.access import AccessStore
    from agentctl.api.logs import LogsClient
    from agentctl.emulator.daemon import ensure_running

    info = ensure_running(say=say)
    creds = AccessStore().get("local")
    if creds is None:
        raise BackendError("the local emulator is running but the `local` access alias is missing",
                           hint="Restart it so it writes its keys again: `agentctl local stop`, then retry.")
    return LogsClient(info.control_url, creds, debug=debug)


def show(client: LogsClient, runtime_id: str, filters: LogFilters, printer: Printer, *, tail: bool,
         history: bool, limit: int) -> None:
    cursor = None
    if history:
        page = client.query(runtime_id, filters, limit=limit)
        printer.print_all(page.records)
        cursor = page.cursor
        if len(page.records) >= limit:
            say(f"Showing the newest {limit} records; narrow -s/-e or raise --limit to see more.")
        elif not page.records and not tail and printer.fmt == "table":
            say("No log records match.")
    if tail:
        printer.print_all(client.follow(runtime_id, filters, after=cursor, on_reconnect=say))


class Printer:
    """Writes records as labelled lines (table), JSON lines or YAML documents, flushing each one."""

    def __init__(self, fmt: str, match: str | None = None) -> None:
        self.fmt, self.match = fmt, match
        self._console: Any = None

    def print_all(self, records: Iterable[dict[str, Any]]) -> None:
        for record in records:
            self.print(record)

    def print(self, record: dict[str, Any]) -> None:
        if self.fmt == "json":
            sys.stdout.write(json.dumps(record, ensure_ascii=False) + "\n")
        elif self.fmt == "yaml":
            sys.stdout.write("---\n" + to_yaml(record))
        else:
            self._rich(record)
            return
        sys.stdout.flush()

    def _rich(self, record: dict[str, Any]) -> None:
        from rich.console import Console
        from rich.text import Text

        if self._console is None:
            self._console = Console(highlight=False, soft_wrap=True)
        stamp, label, body = format_record(record)
        text = Text(f"{stamp} ", style="dim")
        text.append(label, style="cyan")
        failed = record.get("kind") == "request-end" and (record.get("status") or 0) >= 400
        line = Text(" " + body, style="red" if failed or record.get("kind") == "stderr" else "")
        if self.match:
            line.highlight_words([self.match], style="bold reverse", case_sensitive=False)
        text.append_text(line)
        self._console.print(text)


def label(record: dict[str, Any]) -> str:
    """``[v2 c-1a2b3c]``: the version (LATEST as is) and the instance (``gateway`` when none served it)."""
    version = str(record.get("version") or "-")
    return f"[{'v' + version if version.isdigit() else version} {record.get('instanceId') or 'gateway'}]"


def format_record(record: dict[str, Any]) -> tuple[str, str, str]:
    """(local time, label, text) of one record, as the table output shows it."""
    stamp = datetime.fromtimestamp(int(record.get("timeNs") or 0) / 1e9).strftime("%Y-%m-%d %H:%M:%S.%f")[:-3]
    kind, message, rid = record.get("kind"), str(record.get("message") or ""), record.get("requestId")
    if kind == "request-start":
        body = f"START RequestId: {rid} {message}".rstrip()
    elif kind == "request-end":
        body = f"END RequestId: {rid} Status: {record.get('status')} Duration: {record.get('durationMs')} ms"
        body += f" {message}" if message else ""
    else:
        body = f"{rid} {message}" if rid else message
    return stamp, label(record), body


def register(app: typer.Typer) -> None:
    app.command("logs")(logs)
