"""Times on the command line (``logs -s/-e``): absolute, ISO 8601, relative or epoch.

Accepted forms, all turned into an aware UTC ``datetime``:

- ``"2024-01-01 00:00:00"`` (the form ``s logs`` uses), ``"2024-01-01 00:00"``, ``"2024-01-01"``: local time;
- ISO 8601: ``2024-01-01T00:00:00Z``, ``2024-01-01T08:00:00+08:00``, with fractions of a second;
  without an offset it is local time;
- relative, meaning "that long ago": ``30s``, ``10m``, ``2h``, ``1d``, ``1w`` (also ``10m ago``), and ``now``;
- epoch: 10 digits are seconds, 13 digits milliseconds.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone

from agentctl.errors import BadInput

FORMATS_HINT = ('Use "2024-01-01 00:00:00" (local time), ISO 8601 like 2024-01-01T00:00:00Z, '
                "a relative time like 10m, 2h or 1d (that long ago), or epoch seconds/milliseconds.")
_RELATIVE = re.compile(r"^(\d+(?:\.\d+)?)\s*(s|sec|secs|m|min|mins|h|hr|hrs|d|day|days|w|wk|wks)(?:\s+ago)?$")
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
_LOCAL_FORMATS = ("%Y-%m-%d %H:%M:%S", "%Y-%m-%d %H:%M:%S.%f", "%Y-%m-%d %H:%M", "%Y-%m-%d", "%Y/%m/%d %H:%M:%S")


def parse_time(text: str, *, option: str = "--start-time", now: datetime | None = None) -> datetime:
    """``text`` as an aware UTC datetime; ``BadInput`` naming ``option`` when no form fits."""
    value = text.strip()
    now = now or datetime.now(timezone.utc)
    found = _relative(value, now) or _epoch(value) or _local(value) or _iso(value)
    if found is None:
        raise BadInput(f"{option} {text!r} is not a time agentctl understands", hint=FORMATS_HINT)
    return found.astimezone(timezone.utc)


def parse_range(start: str | None, end: str | None, *, now: datetime | None = None
                ) -> tuple[datetime | None, datetime | None]:
    """``-s``/``-e`` together; the start must not be after the end."""
    now = now or datetime.now(timezone.utc)
    begin = parse_time(start, option="--start-time", now=now) if start else None
    until = parse_time(end, option="--end-time", now=now) if end else None
    if begin is not None and until is not None and begin > until:
        raise BadInput(f"--start-time {start!r} is after --end-time {end!r}",
                       hint="Give a start time before the end time (or leave one of them out).")
    return begin, until


def _relative(value: str, now: datetime) -> datetime | None:
    if value.lower() == "now":
        return now
    match = _RELATIVE.match(value.lower())
    if match is None:
        return None
    seconds = float(match.group(1)) * _UNIT_SECONDS[match.group(2)[0]]
    return now - timedelta(seconds=seconds)


def _epoch(value: str) -> datetime | None:
    if not value.isdigit() or len(value) not in (10, 13):
        return None
    seconds = int(value) / (1000 if len(value) == 13 else 1)
    return datetime.fromtimestamp(seconds, timezone.utc)


def _local(value: str) -> datetime | None:
    for fmt in _LOCAL_FORMATS:
        try:
            return datetime.strptime(value, fmt).astimezone()  # naive → the machine's local zone
        except ValueError:
            continue
    return None


def _iso(value: str) -> datetime | None:
    # Python 3.10's fromisoformat does not read a trailing "Z".
    candidate = value[:-1] + "+00:00" if value[-1:] in ("Z", "z") else value
    try:
        parsed = datetime.fromisoformat(candidate)
    except ValueError:
        return None
    return parsed if parsed.tzinfo is not None else parsed.astimezone()
