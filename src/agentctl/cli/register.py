"""The one place where command groups are attached to the main app, in help order."""

from __future__ import annotations

import typer


def all_commands(app: typer.Typer) -> None:
    # Each helper module exposes `register(app)`; add a line per module, in the order of `--help`.
    pass
