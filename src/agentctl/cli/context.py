"""Global options shared by every command, and the options defined once for all.

``-t/--template``, ``-a/--access``, ``--debug`` and ``-o/--output`` are declared once, on the
top-level callback (``cli.main.main``). As in ``s``, they may also stand after the command or
after a subcommand (``agentctl endpoint list -o json``): ``accept_everywhere`` gives every
command a copy of those declarations whose only job is to write into the one ``GlobalOptions``
of the invocation. Given twice, the later one wins. A command that defines one of the short
names itself keeps it (``logs -t`` is ``--tail``, as DESIGN §7 says); the long name still works.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import typer

OUTPUT_FORMATS = ("table", "yaml", "json")
GLOBAL_NAMES = ("template", "access", "debug", "output")


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
    found: object = root.obj
    if not isinstance(found, GlobalOptions):
        found = root.obj = GlobalOptions()
    return found


def output_format(value: str) -> str:
    """``-o`` checked and lower-cased (bad input, exit 2, naming the allowed values)."""
    from agentctl.errors import BadInput

    fmt = value.lower()
    if fmt not in OUTPUT_FORMATS:
        raise BadInput(f"-o {value!r} is not one of {', '.join(OUTPUT_FORMATS)}",
                       hint="Use -o table, -o yaml or -o json.")
    return fmt


def _store(ctx: typer.Context, param: Any, value: Any) -> Any:
    """Callback of a copied global option: a value typed after the command overrides the one before it."""
    source = ctx.get_parameter_source(param.name)
    if ctx.resilient_parsing or source is None or source.name != "COMMANDLINE":
        return value
    setattr(options(ctx), param.name, output_format(value) if param.name == "output" else value)
    return value


def _commands_below(command: Any) -> Iterator[Any]:
    for sub in (getattr(command, "commands", None) or {}).values():
        yield sub
        yield from _commands_below(sub)


def accept_everywhere(root: Any, definitions: Iterable[Any]) -> None:
    """Attach a copy of each global option (the root's own parameter objects) to every command below ``root``."""
    globals_ = [param for param in definitions if param.name in GLOBAL_NAMES]
    for command in _commands_below(root):
        taken = {opt for param in command.params for opt in (*param.opts, *param.secondary_opts)}
        for param in globals_:
            names = [opt for opt in param.opts if opt not in taken]
            if not names:
                continue
            clone = copy.copy(param)
            clone.opts, clone.secondary_opts = names, [o for o in param.secondary_opts if o not in taken]
            clone.expose_value, clone.callback, clone.show_default = False, _store, False
            command.params.append(clone)


# Options that several commands take, defined once.
YES = typer.Option(False, "-y", "--yes", help="Never ask for confirmation (needed when there is no TTY).")
