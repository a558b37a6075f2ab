"""Choosing a backend (DESIGN §3) and opening it.

``choose`` is pure: given the resolved access alias and ``--backend``, it says
``local`` or ``cloud`` and, when the choice may surprise, a note to print:

- ``--backend local|cloud`` forces one (cloud needs cloud keys);
- the alias ``local`` (the emulator's own keys), or an alias whose ``Endpoint``
  is on loopback, means the emulator;
- an alias named by s.yaml (or ``default``) that is not stored means the
  emulator, with a note; an alias named with ``-a`` that is not stored is an error;
- any other alias with keys means the cloud.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from agentctl.errors import AuthError, BackendError, BadInput, NotFound

if TYPE_CHECKING:
    from agentctl.access import AccessStore, ResolvedAccess
    from agentctl.backends.base import Backend

BACKENDS = ("local", "cloud")
LOCAL_ALIAS = "local"
LOOPBACK_HOSTS = {"127.0.0.1", "localhost", "::1"}


@dataclass(frozen=True)
class Choice:
    kind: str
    note: str | None = None


def choose(resolved: ResolvedAccess, forced: str | None = None) -> Choice:
    if forced is not None and forced not in BACKENDS:
        raise BadInput(f"--backend {forced!r} is not one of {', '.join(BACKENDS)}",
                       hint="Use --backend local (the emulator) or --backend cloud (AgentRun).")
    creds = resolved.credentials
    is_local = resolved.alias == LOCAL_ALIAS or (creds is not None and _loopback(creds.endpoint))
    if forced == "local":
        return Choice("local")
    if forced == "cloud":
        if creds is None or is_local:
            raise AuthError(f"--backend cloud needs cloud credentials, and access {resolved.alias!r} has none",
                            hint="Store them: agentctl config add --access default --access-key-id ... "
                                 "--access-key-secret ... --account-id ...")
        return Choice("cloud")
    if is_local:
        return Choice("local")
    if creds is None:
        if resolved.source == "--access":
            raise NotFound(f"no credential alias {resolved.alias!r}",
                           hint="List them with `agentctl config get`, or add it with `agentctl config add`.")
        return Choice("local", f"Using the local emulator (access {resolved.alias!r} is not configured; "
                               "`agentctl config add` stores cloud keys).")
    return Choice("cloud")


def _loopback(endpoint: str | None) -> bool:
    if not endpoint:
        return False
    host = urlsplit(endpoint if "://" in endpoint else f"http://{endpoint}").hostname
    return host in LOOPBACK_HOSTS


def open_backend(
    *,
    cli_alias: str | None,
    spec_alias: str | None,
    region: str | None,
    forced: str | None = None,
    debug: bool = False,
    say: Callable[[str], None] | None = None,
) -> Backend:
    """The backend a command works on, started and ready for API calls."""
    from agentctl.access import AccessStore, resolve_access

    store = AccessStore()
    resolved = resolve_access(cli_alias, spec_alias, store)
    choice = choose(resolved, forced)
    if choice.kind == "local":
        # The note rides along with "Started the local emulator": once per start, not on every command.
        def say_on_start(message: str) -> None:
            if say:
                if choice.note:
                    say(choice.note)
                say(message)

        return _open_local(store, region, debug, say_on_start)
    if choice.note and say:
        say(choice.note)
    assert resolved.credentials is not None  # choose() only says cloud when there are keys
    return _open_cloud(resolved, region, debug)


def _open_local(store: AccessStore, region: str | None, debug: bool, say: Callable[[str], None] | None) -> Backend:
    from agentctl.api.client import AgentRunClient
    from agentctl.backends.cloud import DEFAULT_REGION
    from agentctl.backends.local import LocalBackend
    from agentctl.emulator.daemon import ensure_running

    info = ensure_running(say=say)
    creds = store.get(LOCAL_ALIAS)
    if creds is None:
        raise BackendError("the local emulator is running but the `local` access alias is missing",
                           hint="Restart it so it writes its keys again: `agentctl local stop`, then retry.")
    client = AgentRunClient(info.control_url, creds, debug=debug)
    return LocalBackend(client, region=region or DEFAULT_REGION, gateway_url=info.gateway_url,
                        account_id=creds.account_id)


def _open_cloud(resolved: ResolvedAccess, region: str | None, debug: bool) -> Backend:
    from agentctl.api.client import AgentRunClient
    from agentctl.backends.cloud import CloudBackend, cloud_region, control_url

    creds = resolved.credentials
    assert creds is not None
    where = cloud_region(region, creds)
    client = AgentRunClient(control_url(where, creds), creds, debug=debug)
    return CloudBackend(client, region=where, alias=resolved.alias, account_id=creds.account_id)
