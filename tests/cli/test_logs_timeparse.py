"""The time formats of `logs -s/-e`: absolute local, ISO 8601, relative and epoch; bad ones are BadInput."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from agentctl.cli.timeparse import parse_range, parse_time
from agentctl.errors import BadInput

NOW = datetime(2024, 6, 1, 12, 0, 0, tzinfo=timezone.utc)


def local(*parts: int) -> datetime:
    return datetime(*parts).astimezone().astimezone(timezone.utc)  # type: ignore[misc]


@pytest.mark.parametrize(("text", "expected"), [
    ("2024-01-01 00:00:00", local(2024, 1, 1, 0, 0, 0)),
    ("2024-01-01 08:30", local(2024, 1, 1, 8, 30)),
    ("2024-01-01", local(2024, 1, 1)),
    ("2024-01-01T00:00:00Z", datetime(2024, 1, 1, tzinfo=timezone.utc)),
    ("2024-01-01T08:00:00+08:00", datetime(2024, 1, 1, tzinfo=timezone.utc)),
    ("2024-01-01T00:00:00.250Z", datetime(2024, 1, 1, 0, 0, 0, 250_000, tzinfo=timezone.utc)),
    ("2024-01-01T00:00:00", local(2024, 1, 1)),
    ("1704067200", datetime(2024, 1, 1, tzinfo=timezone.utc)),
    ("1704067200500", datetime(2024, 1, 1, 0, 0, 0, 500_000, tzinfo=timezone.utc)),
])
def test_absolute_times(text: str, expected: datetime) -> None:
    assert parse_time(text, now=NOW) == expected


@pytest.mark.parametrize(("text", "ago"), [
    ("30s", timedelta(seconds=30)), ("10m", timedelta(minutes=10)), ("2h", timedelta(hours=2)),
    ("1d", timedelta(days=1)), ("1w", timedelta(weeks=1)), ("10m ago", timedelta(minutes=10)),
    ("1.5h", timedelta(minutes=90)), ("now", timedelta(0)), (" 5 min ", timedelta(minutes=5)),
])
def test_relative_times_count_back_from_now(text: str, ago: timedelta) -> None:
    assert parse_time(text, now=NOW) == NOW - ago


@pytest.mark.parametrize("text", ["yesterday", "10 parsecs", "2024-13-01 00:00:00", "", "12345", "-5m"])
def test_unknown_forms_are_bad_input_naming_the_option(text: str) -> None:
    with pytest.raises(BadInput) as error:
        parse_time(text, option="--end-time", now=NOW)
    assert "--end-time" in error.value.message and repr(text) in error.value.message
    assert error.value.hint and "10m" in error.value.hint


def test_a_range_must_not_run_backwards() -> None:
    assert parse_range("2h", "1h", now=NOW) == (NOW - timedelta(hours=2), NOW - timedelta(hours=1))
    assert parse_range(None, None, now=NOW) == (None, None)
    with pytest.raises(BadInput, match="after --end-time"):
        parse_range("1h", "2h", now=NOW)
