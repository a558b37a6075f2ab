"""``agentctl endpoint publish|list|get|remove``: named entry points and their traffic split."""

from __future__ import annotations

import typer

from agentctl.cli.context import YES, options
from agentctl.cli.render import Column, Table, emit, say
from agentctl.cli.target import BACKEND, confirm, single

app = typer.Typer(name="endpoint", help="Route traffic between versions through named endpoints.",
                  no_args_is_help=True)

NAME = typer.Option(..., "--endpoint-name", help="The endpoint, e.g. production.")
ENDPOINTS = Table([Column("NAME", "name"), Column("TRAFFIC", "traffic"), Column("STATUS", "status"),
                   Column("URL", "url")])


@app.command("publish")
def publish(
    ctx: typer.Context,
    endpoint_name: str = NAME,
    target_version: str = typer.Option(..., "--target-version", help="LATEST or a version number."),
    canary_version: str = typer.Option(None, "--canary-version", help="A second version that gets --weight."),
    weight: float = typer.Option(None, "--weight", help="Share of traffic, 0 < w < 1."),
    description: str = typer.Option(None, "--description"),
    primary: str = typer.Option(None, "--primary", help="With --weight on a canary endpoint: the endpoint it takes "
                                "its share from (default: s.yaml's primary, else the one other endpoint that is "
                                "not a canary; README: Canary releases)."),
    backend: str = BACKEND,
) -> None:
    """Point an endpoint at a version, optionally splitting traffic (creates the endpoint when missing).

    \b
    --target-version V                               all traffic on V
    --target-version V --canary-version C --weight w (1-w) on V, w on C
    --target-version V --weight w, on the primary    w moves to V, the rest stays on the current version
    --target-version V --weight w, on a new endpoint it serves V alone, and the primary endpoint
      (or one already serving V alone)               sends w of its traffic to V (the s.yaml rule)
    """
    from agentctl.deploy.endpoints import PublishRequest
    from agentctl.deploy.lifecycle import endpoint_row, publish_endpoint
    from agentctl.spec.model import AgentSpec

    target = single(ctx, backend)
    runtime = target.runtime()
    request = PublishRequest(endpoint_name, target_version, canary_version, weight, description, primary)
    changed = publish_endpoint(target.backend, runtime, request, AgentSpec.from_props(target.resource.props).endpoints)
    rows = [endpoint_row(target.backend, runtime, endpoint) for endpoint in changed]
    for row in rows:
        say(f"Endpoint {row['name']}: {row['traffic']}")
    emit(rows[0], options(ctx).output)


@app.command("list")
def list_endpoints(ctx: typer.Context, backend: str = BACKEND) -> None:
    """List the endpoints with their traffic split, e.g. `90% → 1, 10% → 2`."""
    from agentctl.deploy.lifecycle import endpoint_row

    target = single(ctx, backend)
    runtime = target.runtime()
    rows = [endpoint_row(target.backend, runtime, ep)
            for ep in target.backend.endpoints(str(runtime["agentRuntimeId"]))]
    emit(rows, options(ctx).output, ENDPOINTS)


@app.command("get")
def get(ctx: typer.Context, endpoint_name: str = NAME, backend: str = BACKEND) -> None:
    """Show one endpoint."""
    from agentctl.deploy.lifecycle import endpoint_row

    target = single(ctx, backend)
    runtime = target.runtime()
    emit(endpoint_row(target.backend, runtime, target.backend.require_endpoint(runtime, endpoint_name)),
         options(ctx).output)


@app.command("remove")
def remove(ctx: typer.Context, endpoint_name: str = NAME, yes: bool = YES, backend: str = BACKEND) -> None:
    """Delete an endpoint (its URL stops serving; versions stay)."""
    from agentctl.deploy.lifecycle import remove_endpoint

    target = single(ctx, backend)
    runtime = target.runtime()
    target.backend.require_endpoint(runtime, endpoint_name)
    confirm(f"Remove endpoint {endpoint_name} of {target.name}", yes)
    remove_endpoint(target.backend, runtime, endpoint_name)
    say(f"Removed endpoint {endpoint_name}.")


def register(root: typer.Typer) -> None:
    root.add_typer(app)
