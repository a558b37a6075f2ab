"""The ``agentctl`` command: assembles the per-noun Typer apps and owns the error boundary.

Start-up is kept light on purpose: command modules import heavy libraries
(docker, httpx, jsonschema, the emulator) inside their command bodies only.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

# Typer's Rich help formatter costs ~75 ms of imports (markdown, pygments) on every `--help`; plain Click
# help keeps start-up within budget. Must be set before typer is imported.
os.environ.setdefault("TYPER_USE_RICH", "0")

import typer
from typer.core import TyperGroup

from agentctl import __version__
from agentctl.cli.context import GlobalOptions, accept_everywhere, output_format
from agentctl.errors import AgentctlError

RESOURCE_KEY = "agentctl.resource"


class ResourceGroup(TyperGroup):
    """Accepts ``agentctl <resource> <command> ...`` like ``s <resource> <command>``.

    When the first word is not a command but the second one is, the first word
    names the s.yaml resource to act on.
    """

    def __init__(self, **attrs):  # type: ignore[no-untyped-def]
        super().__init__(**attrs)
        # -t/-a/--debug/-o may also follow any command or subcommand, as `s` accepts them.
        accept_everywhere(self, self.params)

    def resolve_command(self, ctx, args):  # type: ignore[no-untyped-def]  # click's types are private here
        if len(args) >= 2 and self.get_command(ctx, args[0]) is None and self.get_command(ctx, args[1]):
            ctx.meta[RESOURCE_KEY] = args[0]
            args = args[1:]
        return super().resolve_command(ctx, args)

    def format_commands(self, ctx, formatter):  # type: ignore[no-untyped-def]
        """Commands listed in sections (``register.SECTIONS``), in the order the sections give."""
        from agentctl.cli.register import SECTIONS

        available = {name: self.get_command(ctx, name) for name in self.list_commands(ctx)}
        listed = {name for _, names in SECTIONS for name in names}
        sections = [*SECTIONS, ("Other commands", tuple(n for n in available if n not in listed))]
        for title, names in sections:
            rows = [(n, available[n].get_short_help_str(limit=70)) for n in names if n in available]
            if rows:
                with formatter.section(title):
                    formatter.write_dl(rows)


app = typer.Typer(
    cls=ResourceGroup,
    name="agentctl",
    help="Take an AI agent from a folder of code to a running, versioned, canary-released service.\n\n"
    "Reads the s.yaml of Serverless Devs (component: agentrun). Run `agentctl <resource> <command>` "
    "to act on one resource of s.yaml.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"agentctl {__version__}")
        raise typer.Exit()


@app.callback()
def main(
    ctx: typer.Context,
    template: Path = typer.Option(None, "-t", "--template", help="The s.yaml to use (default s.yaml, then s.yml)."),
    access: str = typer.Option(None, "-a", "--access", help="Credential alias (see `agentctl config`)."),
    debug: bool = typer.Option(False, "--debug", help="Show every API call (secrets masked) and tracebacks."),
    output: str = typer.Option(
        "table", "-o", "--output", help="Output format: table, yaml or json.", case_sensitive=False
    ),
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True, help="Print the version."),
) -> None:
    """The one definition of the global options; `accept_everywhere` lets them follow any command too."""
    ctx.obj = GlobalOptions(
        template=template,
        access=access,
        debug=debug or os.environ.get("AGENTCTL_DEBUG") == "1",
        output=output_format(output),
        resource=ctx.meta.get(RESOURCE_KEY),
    )


# --- command groups (each module registers its commands on `app`) -----------------------------
# Keep these imports light: the modules import heavy libraries inside command bodies.
from agentctl.cli import register  # noqa: E402

register.all_commands(app)


def _print_error(err: AgentctlError) -> None:
    sys.stderr.write(f"Error: {err.message}\n")
    if err.hint:
        sys.stderr.write(f"Hint: {err.hint}\n")


def run(argv: list[str] | None = None) -> None:
    """Console-script entry point: run the app inside the single error boundary.

    Typer/Click handle usage errors themselves (exit 2); everything else that
    escapes a command is mapped here to one message, one hint and an exit code.
    """
    debug = "--debug" in (argv if argv is not None else sys.argv) or os.environ.get("AGENTCTL_DEBUG") == "1"
    try:
        app(args=argv, prog_name="agentctl")
    except AgentctlError as err:
        if debug:
            import traceback

            traceback.print_exc()
        _print_error(err)
        sys.exit(err.exit_code)
    except KeyboardInterrupt:
        sys.stderr.write("Interrupted.\n")
        sys.exit(130)
    except Exception as err:  # the boundary: no traceback reaches the user without --debug
        if debug:
            raise
        sys.stderr.write(f"Error: unexpected {type(err).__name__}: {err}\n")
        sys.stderr.write("Hint: run again with --debug for the traceback, and report it.\n")
        sys.exit(1)
