"""``agentctl version publish|list``: immutable versions frozen from LATEST."""

from __future__ import annotations

import typer

from agentctl.cli.context import options
from agentctl.cli.render import Column, Table, emit, say
from agentctl.cli.target import BACKEND, single

app = typer.Typer(name="version", help="Publish and list immutable versions of the agent.", no_args_is_help=True)

VERSIONS = Table([Column("VERSION", "version"), Column("DESCRIPTION", "description"),
                  Column("PUBLISHED", "lastUpdatedAt")])


@app.command("publish")
def publish(
    ctx: typer.Context,
    description: str = typer.Option(None, "--description", help="What this version is, e.g. 'v2: new prompt'."),
    backend: str = BACKEND,
) -> None:
    """Freeze LATEST's code and configuration as the next version (1, 2, ...)."""
    from agentctl.deploy.lifecycle import publish_version, version_row

    target = single(ctx, backend)
    runtime = target.runtime()
    published = version_row(publish_version(target.backend, runtime, description))
    say(f"Published version {published['version']} of {target.name}.")
    emit(published, options(ctx).output)


@app.command("list")
def list_versions(ctx: typer.Context, backend: str = BACKEND) -> None:
    """List the published versions, oldest first."""
    from agentctl.deploy.lifecycle import version_row

    target = single(ctx, backend)
    runtime = target.runtime()
    rows = [version_row(v) for v in target.backend.versions(str(runtime["agentRuntimeId"]))]
    emit(rows, options(ctx).output, VERSIONS)


def register(root: typer.Typer) -> None:
    root.add_typer(app)
