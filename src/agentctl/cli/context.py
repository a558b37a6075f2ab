"""Global options shared by every command, and the options defined once for all."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import typer

OUTPUT_FORMATS = ("table", "yaml", "json")


@dataclass
class GlobalOptions:
    """What the top-level callback parsed: ``-t``, ``-a``, ``--debug``, ``-o`` and the resource."""

    template: Path | None = None
    access: str | None = None
    debug: bool = False
    output: str = "table"
    # `agentctl <resource> <command>` acts on one resource of s.yaml, as `s <resource> <command>` does.
    resource: str | None = None


def options(ctx: typer.Context) -> GlobalOptions:
    """The global options of this invocation (defaults when a command runs outside the main app)."""
    root = ctx.find_root()
    if isinstance(root.obj, GlobalOptions):
        return root.obj
    root.obj = GlobalOptions()
    return root.obj


# Options that several commands take, defined once.
YES = typer.Option(False, "-y", "--yes", help="Never ask for confirmation (needed when there is no TTY).")
