"""``agentctl config add|get|delete|rename``: credential aliases in ``$AGENTCTL_HOME/access.yaml``.

Every command works without a terminal when given its flags; on a TTY the
missing values are asked for (the secret without echo) and destructive steps
are confirmed. Secrets are printed masked, never whole.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import typer

from agentctl.access import AccessStore, Credentials, check_alias
from agentctl.cli import render
from agentctl.cli.context import YES, options
from agentctl.errors import BadInput

app = typer.Typer(name="config", help="Manage credential aliases (access keys per account).", no_args_is_help=True)

def _tty() -> bool:
    return sys.stdin.isatty()


def _confirm(question: str, yes: bool, refusal: str) -> bool:
    """True when allowed: `-y`, or a yes on the TTY. Without a TTY and without `-y`: refuse."""
    if yes:
        return True
    if not _tty():
        raise BadInput(refusal, hint="Run it again with -y to confirm, or from a terminal to be asked.")
    return typer.confirm(question, default=False)


def _ask(value: str | None, flag: str, prompt: str, *, secret: bool = False, required: bool = True) -> str | None:
    if value or not (required or _tty()):
        return value or None
    if not _tty():
        raise BadInput(f"config add needs {flag} (no terminal to ask on)",
                       hint="agentctl config add --access NAME --access-key-id ID --access-key-secret SECRET "
                            "[--account-id ID] [--region REGION]")
    answer = typer.prompt(prompt, hide_input=secret, default="" if not required else None, show_default=False)
    answer = str(answer).strip()
    if required and not answer:
        raise BadInput(f"{flag} must not be empty", hint=f"Give it with {flag}.")
    return answer or None


def _row(alias: str, creds: Credentials) -> dict[str, Any]:
    from agentctl.spec.masking import mask

    return {
        "Alias": alias,
        "AccessKeyID": mask(creds.access_key_id),
        "AccessKeySecret": mask(creds.access_key_secret),
        "AccountID": creds.account_id,
        "SecurityToken": mask(creds.security_token) if creds.security_token else None,
        "Region": creds.region,
        "Endpoint": creds.endpoint,
    }


TABLE = render.Table([render.Column(name, name) for name in
                      ("Alias", "AccessKeyID", "AccessKeySecret", "AccountID", "Region", "Endpoint")])


@app.command("add")
def add(
    ctx: typer.Context,
    access_key_id: str = typer.Option(None, "--access-key-id", help="AccessKey ID."),
    access_key_secret: str = typer.Option(None, "--access-key-secret", help="AccessKey secret."),
    account_id: str = typer.Option(None, "--account-id", help="Account (UID), used for role ARNs."),
    security_token: str = typer.Option(None, "--security-token", help="STS security token (temporary keys)."),
    region: str = typer.Option(None, "--region", help="Default region of this alias, e.g. cn-hangzhou."),
    endpoint: str = typer.Option(None, "--endpoint", help="Control API endpoint (for emulators/private clouds)."),
    import_sdevs: bool = typer.Option(False, "--import-sdevs", help="Import aliases from Serverless Devs."),
    sdevs_file: Path = typer.Option(None, "--sdevs-file", help="Serverless Devs access file (~/.s/access.yaml)."),
    yes: bool = YES,
) -> None:
    """Store an access key under an alias (-a NAME; flags, or prompts on a terminal); or import them from `s`."""
    access = options(ctx).access
    store = AccessStore()
    if import_sdevs or sdevs_file:
        _import(store, sdevs_file, access, yes)
        return
    interactive_alias = None if access or not _tty() else typer.prompt("Alias", default="default")
    alias = check_alias(access or interactive_alias or "default")
    creds = Credentials(
        access_key_id=_ask(access_key_id, "--access-key-id", "AccessKeyID") or "",
        access_key_secret=_ask(access_key_secret, "--access-key-secret", "AccessKeySecret", secret=True) or "",
        account_id=_ask(account_id, "--account-id", "AccountID (optional)", required=False),
        security_token=security_token or None,
        region=region or None,
        endpoint=endpoint or None,
    )
    if alias in store.aliases() and not _confirm(f"Replace the keys of alias {alias!r}?", yes,
                                                  f"alias {alias!r} already exists"):
        render.say("Nothing changed.")
        return
    store.put(alias, creds)
    render.say(f"Saved alias {alias!r} in {store.path}")


def _import(store: AccessStore, path: Path | None, only: str | None, yes: bool) -> None:
    from agentctl.access import read_sdevs_access

    found = read_sdevs_access(path.expanduser() if path else None)
    if only:
        if only not in found:
            raise BadInput(f"no Alibaba Cloud alias {only!r} in the Serverless Devs access file "
                           f"(found: {', '.join(found) or 'none'})", hint="Leave out --access to import them all.")
        found = {only: found[only]}
    existing = set(store.aliases())
    for alias, creds in found.items():
        if alias in existing and not yes and not (_tty() and typer.confirm(f"Replace alias {alias!r}?")):
            render.say(f"Skipped {alias!r}: it already exists (use -y to replace it).")
            continue
        store.put(alias, creds)
        render.say(f"Imported {alias!r}")
    if not found:
        render.say("No Alibaba Cloud aliases found to import.")


@app.command("get")
def get(ctx: typer.Context) -> None:
    """Show one alias (-a NAME), or all of them, with secrets masked."""
    store = AccessStore()
    alias = options(ctx).access
    fmt = options(ctx).output
    if alias:
        render.emit(_row(alias, store.require(alias)), fmt)
        return
    rows = [_row(name, creds) for name in store.aliases() if (creds := store.get(name)) is not None]
    if not rows and fmt == "table":
        render.say(f"No aliases in {store.path}. Add one with `agentctl config add`.")
        return
    render.emit(rows, fmt, TABLE)


@app.command("delete")
def delete(ctx: typer.Context, yes: bool = YES) -> None:
    """Delete an alias (-a NAME; asks first on a terminal, -y without one)."""
    alias = options(ctx).access
    if not alias:
        raise BadInput("config delete needs the alias to delete", hint="agentctl config delete --access NAME -y")
    store = AccessStore()
    store.require(alias)
    if not _confirm(f"Delete alias {alias!r}?", yes, f"refusing to delete alias {alias!r} without confirmation"):
        render.say("Nothing changed.")
        return
    store.delete(alias)
    render.say(f"Deleted alias {alias!r}")


@app.command("rename")
def rename(
    old: str = typer.Argument(..., help="Current alias."), new: str = typer.Argument(..., help="New alias.")
) -> None:
    """Rename an alias."""
    AccessStore().rename(old, new)
    render.say(f"Renamed alias {old!r} to {new!r}")


def register(root: typer.Typer) -> None:
    root.add_typer(app)
