"""``agentctl concurrency get|put|remove``: the reserved concurrency of a runtime.

Reserved concurrency N keeps enough instances running for N concurrent requests, so those meet
no cold start. It is FC3's ``Get/Put/DeleteConcurrencyConfig`` on the function ``agentrun-<id>``,
served by the emulator's control port (local) or the account's FC endpoint (cloud); the runtime
is found as ``instance`` finds it (s.yaml, or ``--runtime-id``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import typer

from agentctl.cli.context import YES, options
from agentctl.cli.instance import RUNTIME_ID, open_site
from agentctl.cli.render import Column, Table, emit, say
from agentctl.cli.target import BACKEND, confirm
from agentctl.errors import BadInput, NotFound

if TYPE_CHECKING:
    from agentctl.api.fc3 import FC3Client
    from agentctl.cli.instance import Site

app = typer.Typer(name="concurrency", no_args_is_help=True,
                  help="Reserve concurrency for a runtime: instances kept warm for N concurrent requests.")
CONFIG = Table([Column("FUNCTION", "function"), Column("RESERVED CONCURRENCY", "reservedConcurrency")])


@app.command("get")
def get(ctx: typer.Context, runtime_id: str = RUNTIME_ID, backend: str = BACKEND) -> None:
    """Show the runtime's reserved concurrency (empty when none is set)."""
    site = open_site(ctx, backend, runtime_id)
    with _client(site) as client:
        reply = client.get_concurrency_config(site.function)
    emit(_row(site, reply), options(ctx).output, CONFIG)


@app.command("put")
def put(
    ctx: typer.Context,
    reserved: int = typer.Option(..., "--reserved-concurrency", help="Concurrent requests to keep warm "
                                 "instances for (at least 1)."),
    runtime_id: str = RUNTIME_ID,
    backend: str = BACKEND,
) -> None:
    """Keep enough instances running for N concurrent requests (no cold start for those)."""
    if reserved < 1:
        raise BadInput(f"--reserved-concurrency must be at least 1, not {reserved}",
                       hint="To stop reserving, run: agentctl concurrency remove")
    site = open_site(ctx, backend, runtime_id)
    with _client(site) as client:
        reply = client.put_concurrency_config(site.function, reserved)
    say(f"Reserved concurrency of {site.function} is now {reply.get('reservedConcurrency', reserved)}.")
    emit(_row(site, reply), options(ctx).output, CONFIG)


@app.command("remove")
def remove(ctx: typer.Context, yes: bool = YES, runtime_id: str = RUNTIME_ID, backend: str = BACKEND) -> None:
    """Stop reserving concurrency: the warm instances then stop once idle (asks first; -y skips)."""
    from agentctl.errors import ApiError

    site = open_site(ctx, backend, runtime_id)
    confirm(f"Remove the reserved concurrency of {site.function} (warm instances will go)", yes)
    try:
        with _client(site) as client:
            client.delete_concurrency_config(site.function)
    except ApiError as err:
        if err.status == 404 and err.code == "ConcurrencyConfigNotFound":
            raise NotFound(f"{site.function} has no reserved concurrency to remove",
                           hint="Set one with: agentctl concurrency put --reserved-concurrency N") from err
        raise
    say(f"Removed the reserved concurrency of {site.function}; its warm instances stop once idle.")


def _client(site: Site) -> FC3Client:
    from agentctl.api.fc3 import FC3Client

    return FC3Client(site.base, site.credentials)


def _row(site: Site, reply: dict[str, Any]) -> dict[str, Any]:
    return {"function": site.function, "reservedConcurrency": reply.get("reservedConcurrency")}


def register(root: typer.Typer) -> None:
    root.add_typer(app)
