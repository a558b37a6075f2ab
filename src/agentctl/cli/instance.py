"""``agentctl instance list|exec``: the running instances of a runtime, and a shell inside one.

Both speak FC3 (the runtime is the FC function ``agentrun-<id>``): ``list`` is ``ListInstances``,
``exec`` the ``InstanceExec`` WebSocket (frames in :mod:`agentctl.api.exec_client`). The emulator
serves them on its control port with the ``local`` keys; the cloud on the account's FC endpoint.

``exec --cmd CMD`` runs ``sh -c CMD`` (or ``--shell``), streams stdout/stderr to ours and exits
with its exit code (the cloud's close frame has none, so there the command is wrapped to print it).
Without ``--cmd`` it opens an interactive shell with a real terminal.
"""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import typer

from agentctl.cli.context import options
from agentctl.cli.render import Column, Table, emit, say
from agentctl.cli.target import BACKEND, single
from agentctl.errors import AuthError, BackendError, BadInput, NotFound

if TYPE_CHECKING:
    from agentctl.access import Credentials
    from agentctl.api.exec_client import Connection
    from agentctl.backends.base import Backend

app = typer.Typer(name="instance", help="List the running instances of a runtime, or run a shell inside one.",
                  no_args_is_help=True)

QUALIFIER = typer.Option(None, "--qualifier", help="Only instances of this version (LATEST or a number).")
RUNTIME_ID = typer.Option(None, "--runtime-id", help="Act on this runtime id instead of the one s.yaml names.")
INSTANCES = Table([Column("ID", "instanceId"), Column("VERSION", "version"), Column("STATUS", "status"),
                   Column("STARTED", "started"), Column("IN-FLIGHT", "inFlight"), Column("IDLE FOR", "idleFor")])


@dataclass(frozen=True)
class Site:
    """Where a runtime's FC3 calls go: the emulator's control URL or the account's FC endpoint."""

    base: str
    credentials: Credentials
    function: str
    cloud: bool

    def instances(self, qualifier: str | None) -> list[dict[str, Any]]:
        from agentctl.api.fc3 import FC3Client
        from agentctl.errors import ApiError

        try:
            with FC3Client(self.base, self.credentials) as client:
                return [dict(i) for i in client.list_instances(self.function, qualifier=qualifier)]
        except ApiError as err:
            if err.status == 404 and not self.cloud:
                raise BackendError("this emulator does not list instances (no ListInstances route)",
                                   hint="Pass --instance-id; the x-agentrun-instance-id header of a response "
                                        "names the instance that served it.") from err
            raise

    def connection(self, instance_id: str, argv: list[str], *, tty: bool, qualifier: str | None) -> Connection:
        from agentctl.api.exec_client import Connection
        from agentctl.api.fc3 import exec_query, exec_request

        query = exec_query(argv, stdin=tty, tty=tty, qualifier=qualifier)
        url, headers = exec_request(self.base, self.function, instance_id, query, self.credentials)
        return Connection(url, headers, loopback=not self.cloud)


@app.command("list")
def list_instances(ctx: typer.Context, qualifier: str = QUALIFIER, runtime_id: str = RUNTIME_ID,
                   backend: str = BACKEND) -> None:
    """List the instances running a version: id, version, status, started, in-flight requests, idle time."""
    site = open_site(ctx, backend, runtime_id)
    emit([instance_row(i) for i in site.instances(qualifier)], options(ctx).output, INSTANCES)


@app.command("exec")
def exec_command(
    ctx: typer.Context,
    instance_id: str = typer.Option(None, "--instance-id", help="The instance (default: the only one running)."),
    cmd: str = typer.Option(None, "--cmd", help="Run this command and exit with its exit code."),
    workdir: str = typer.Option(None, "--workdir", help="Directory to run in (default: the code directory)."),
    shell: str = typer.Option(None, "--shell", help="Shell to use: sh for --cmd, bash for a terminal by default."),
    qualifier: str = QUALIFIER,
    runtime_id: str = RUNTIME_ID,
    backend: str = BACKEND,
) -> None:
    """Run a command inside an instance (--cmd), or open an interactive shell there (`exit` returns)."""
    import asyncio

    from agentctl.api.exec_client import command_argv, run_command, run_interactive

    interactive = cmd is None
    if interactive and not (sys.stdin.isatty() and sys.stdout.isatty()):
        raise BadInput("an interactive shell needs a terminal, and stdin or stdout is not one",
                       hint='Run one command instead: agentctl instance exec --cmd "ls -la".')
    site = open_site(ctx, backend, runtime_id)
    instance = instance_id or pick_instance(site, qualifier)
    marked = site.cloud and not interactive
    argv = command_argv(cmd, shell=shell or ("bash" if interactive else "sh"), workdir=workdir,
                        mark_exit=marked, cloud=site.cloud)
    conn = site.connection(instance, argv, tty=interactive, qualifier=qualifier)
    if interactive:
        code = asyncio.run(run_interactive(conn))
    else:
        code = asyncio.run(run_command(conn, marked=marked, stdout=sys.stdout.buffer, stderr=sys.stderr.buffer))
    raise typer.Exit(code)


def open_site(ctx: typer.Context, backend: str | None, runtime_id: str | None) -> Site:
    """The runtime's FC3 site: ``--runtime-id`` on the chosen backend, else s.yaml's runtime."""
    from agentctl.access import resolve_access
    from agentctl.api.fc3 import function_name
    from agentctl.backends.factory import open_backend

    opts = options(ctx)
    if runtime_id:
        spec_alias = None
        opened = open_backend(cli_alias=opts.access, spec_alias=None, region=None,
                              forced=backend and backend.lower(), debug=opts.debug, say=say)
    else:
        target = single(ctx, backend)
        spec_alias = target.resource.access or target.project.access
        opened = target.backend
        runtime_id = str(opened.require_runtime(target.name)["agentRuntimeId"])
    creds = resolve_access(opts.access, spec_alias).credentials
    return Site(*_base_and_credentials(opened, creds), function_name(runtime_id), opened.kind == "cloud")


def _base_and_credentials(opened: Backend, creds: Credentials | None) -> tuple[str, Credentials]:
    from agentctl.access import AccessStore
    from agentctl.api.fc3 import account_endpoint

    if opened.kind == "local":
        local = AccessStore().get("local")
        if local is None:
            raise AuthError("the `local` access alias is missing", hint="Restart the emulator: agentctl local stop")
        return opened.client.session.base_url, local
    if creds is None or not creds.account_id:
        raise AuthError("FC3 calls need the account id of the access alias, and it has none",
                        hint="Add it: agentctl config add --access ALIAS --account-id ... (with the keys).")
    return f"https://{account_endpoint(creds.account_id, opened.region)}", creds


def pick_instance(site: Site, qualifier: str | None) -> str:
    """The only running instance; with several, ask on a terminal, else say which ones there are."""
    ids = [str(i.get("instanceId")) for i in site.instances(qualifier) if i.get("instanceId")]
    if not ids:
        raise NotFound(f"no instance of {site.function} ({qualifier}) is running",
                       hint="Invoke it first (`agentctl invoke`), or pick another version with --qualifier.")
    if len(ids) == 1:
        return ids[0]
    if not sys.stdin.isatty():
        raise BadInput(f"{len(ids)} instances are running ({', '.join(ids)}); which one?",
                       hint="Name it: --instance-id ID.")
    for number, instance in enumerate(ids, 1):
        say(f"  {number}) {instance}")
    choice = typer.prompt("Instance number", type=int, err=True)
    if not 1 <= choice <= len(ids):
        raise BadInput(f"{choice} is not between 1 and {len(ids)}", hint="Run it again and pick a listed number.")
    return ids[choice - 1]


def instance_row(info: dict[str, Any], now: float | None = None) -> dict[str, Any]:
    """One table row from an FC3 InstanceInfo (``inFlight``/``lastUsedTimeMs`` are the emulator's additions)."""
    now = time.time() if now is None else now
    started = info.get("createdTimeMs")
    last_used, in_flight = info.get("lastUsedTimeMs"), info.get("inFlight")
    idle = None
    if isinstance(last_used, int | float) and not in_flight:
        idle = _duration(max(0.0, now - last_used / 1000))
    return {"instanceId": info.get("instanceId"), "version": info.get("versionId") or info.get("qualifier"),
            "status": info.get("status"),
            "started": time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(started / 1000)) if started else None,
            "inFlight": in_flight, "idleFor": idle}


def _duration(seconds: float) -> str:
    whole = int(seconds)
    if whole < 60:
        return f"{whole}s"
    if whole < 3600:
        return f"{whole // 60}m{whole % 60:02d}s"
    return f"{whole // 3600}h{whole % 3600 // 60:02d}m"


def register(root: typer.Typer) -> None:
    root.add_typer(app)
