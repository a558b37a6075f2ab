"""One renderer for every command's output: table, yaml or json.

Commands hand over plain data (dicts, lists, scalars). ``table`` output uses a
``Table`` description when the command gives one, else a key/value view.

Tables are plain text for people to copy: columns aligned with two spaces, no box
characters, and a cell is never broken across lines (a URL or an id split at the
edge of the terminal cannot be pasted). When the rows do not fit the terminal,
each row is printed as a block of ``COLUMN  value`` lines instead. Into a pipe or
a file there is no width limit (``COLUMNS`` sets one).
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import unicodedata
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

GAP = "  "


@dataclass(frozen=True)
class Column:
    header: str
    key: str | Callable[[dict[str, Any]], Any]


@dataclass(frozen=True)
class Table:
    columns: Sequence[Column]
    title: str | None = None


def _cell(row: dict[str, Any], key: str | Callable[[dict[str, Any]], Any]) -> str:
    value = key(row) if callable(key) else row.get(key)
    if value is None:
        return ""
    if isinstance(value, dict | list):
        return json.dumps(value, ensure_ascii=False)
    return " ".join(str(value).splitlines())  # one line per row, always


def to_yaml(data: Any) -> str:
    import yaml

    return str(yaml.safe_dump(data, sort_keys=False, allow_unicode=True, default_flow_style=False))


def text_width(text: str) -> int:
    """Terminal cells ``text`` takes (CJK characters take two)."""
    return sum(2 if unicodedata.east_asian_width(char) in ("W", "F") else 1 for char in text)


def _pad(text: str, width: int) -> str:
    return text + " " * (width - text_width(text))


def available_width() -> int | None:
    """Columns to fit into: ``COLUMNS``, else the terminal's; None into a pipe or file (no limit)."""
    columns = os.environ.get("COLUMNS", "")
    if columns.isdigit() and int(columns) > 0:
        return int(columns)
    return shutil.get_terminal_size().columns if sys.stdout.isatty() else None


def table_lines(rows: Sequence[dict[str, Any]], table: Table, width: int | None) -> list[str]:
    """The rows as aligned columns, or as ``COLUMN  value`` blocks when the columns would not fit ``width``."""
    headers = [column.header for column in table.columns]
    cells = [[_cell(row, column.key) for column in table.columns] for row in rows]
    widths = [max(text_width(text) for text in column) for column in zip(headers, *cells, strict=True)]
    lines = [table.title] if table.title else []
    if width is None or sum(widths) + len(GAP) * (len(widths) - 1) <= width:
        for line in (headers, *cells):
            lines.append(GAP.join(_pad(text, w) for text, w in zip(line, widths, strict=True)).rstrip())
        return lines
    label = max(text_width(header) for header in headers)
    for index, line in enumerate(cells):
        if index:
            lines.append("")
        lines += [f"{_pad(header, label)}{GAP}{text}".rstrip() for header, text in zip(headers, line, strict=True)]
    return lines


def key_value_lines(data: dict[str, Any]) -> list[str]:
    """``key  value`` lines; a nested map or list is shown as YAML under its key, aligned with the values."""
    label = max((text_width(str(key)) for key in data), default=0)
    lines = []
    for key, value in data.items():
        shown = to_yaml(value).rstrip().splitlines() if isinstance(value, dict | list) and value else [
            _cell(data, key) if not isinstance(value, dict | list) else json.dumps(value)]
        lines.append(f"{_pad(str(key), label)}{GAP}{shown[0]}".rstrip())
        lines += [f"{' ' * label}{GAP}{rest}".rstrip() for rest in shown[1:]]
    return lines


def emit(data: Any, fmt: str, table: Table | None = None) -> None:
    """Print ``data`` to stdout in ``fmt`` (table, yaml or json)."""
    if fmt == "json":
        sys.stdout.write(json.dumps(data, indent=2, ensure_ascii=False) + "\n")
        return
    if fmt == "yaml" or (table is None and not isinstance(data, dict)):
        sys.stdout.write(to_yaml(data))
        return
    if table is None:
        lines = key_value_lines(data)
    else:
        lines = table_lines(data if isinstance(data, list) else [data], table, available_width())
    sys.stdout.write("".join(line + "\n" for line in lines))


def say(message: str) -> None:
    """A progress or status line for people: stderr, so stdout stays clean for -o json/yaml."""
    sys.stderr.write(message + "\n")
