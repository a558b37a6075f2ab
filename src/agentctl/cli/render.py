"""One renderer for every command's output: table, yaml or json.

Commands hand over plain data (dicts, lists, scalars). ``table`` output uses a
``Table`` description when the command gives one, else a key/value view.
Rich is imported lazily so that ``agentctl --help`` stays light.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any


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
    return str(value)


def to_yaml(data: Any) -> str:
    import yaml

    return yaml.safe_dump(data, sort_keys=False, allow_unicode=True, default_flow_style=False)


def emit(data: Any, fmt: str, table: Table | None = None) -> None:
    """Print ``data`` to stdout in ``fmt`` (table, yaml or json)."""
    if fmt == "json":
        sys.stdout.write(json.dumps(data, indent=2, ensure_ascii=False) + "\n")
        return
    if fmt == "yaml" or (table is None and not isinstance(data, dict)):
        sys.stdout.write(to_yaml(data))
        return
    from rich.console import Console
    from rich.table import Table as RichTable

    console = Console(soft_wrap=True)
    if table is None:
        kv = RichTable(show_header=False, box=None, pad_edge=False)
        kv.add_column(style="bold", no_wrap=True)
        kv.add_column(overflow="fold")  # never cut a URL or an id short
        for key, value in data.items():
            kv.add_row(str(key), _cell(data, key) if not isinstance(value, dict | list) else to_yaml(value).rstrip())
        console.print(kv)
        return
    rows = data if isinstance(data, list) else [data]
    out = RichTable(title=table.title, title_justify="left")
    for column in table.columns:
        out.add_column(column.header, overflow="fold")
    for row in rows:
        out.add_row(*(_cell(row, c.key) for c in table.columns))
    console.print(out)


def say(message: str) -> None:
    """A progress or status line for people: stderr, so stdout stays clean for -o json/yaml."""
    sys.stderr.write(message + "\n")
