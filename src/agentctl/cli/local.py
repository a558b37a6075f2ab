"""``agentctl local start|stop|status|reset``: the local AgentRun emulator daemon.

Other commands start the emulator themselves when they need it; these manage it
by hand. ``reset`` wipes every runtime, version, endpoint and code tree (it asks
first; ``-y`` skips the question) but keeps the ``local`` alias keys.
"""

from __future__ import annotations

from typing import Any

import typer

from agentctl.cli.context import YES, options
from agentctl.cli.render import emit, say

app = typer.Typer(name="local", help="Run and manage the local AgentRun emulator.", no_args_is_help=True)

def _report() -> dict[str, Any]:
    """What ``status`` shows: daemon facts and resource counts (read from the state database)."""
    from agentctl.emulator import daemon

    info = daemon.status()
    report: dict[str, Any] = {"state": "running" if info else "stopped", "pid": info.pid if info else None,
                              "controlUrl": info.control_url if info else None,
                              "gatewayUrl": info.gateway_url if info else None,
                              "startedAt": info.started_at if info else None,
                              "stateDir": str(daemon.state_dir())}
    database = daemon.state_dir() / "state.db"
    counts = {"runtimes": 0, "versions": 0, "endpoints": 0}
    if database.exists():
        from agentctl.emulator.store import Store

        store = Store(database)
        try:
            counts = store.counts()
        finally:
            store.close()
    return {**report, **counts}


@app.command("start")
def start(ctx: typer.Context) -> None:
    """Start the emulator (nothing to do when it already runs)."""
    from agentctl.emulator import daemon

    if (info := daemon.status()) is not None:
        say(f"The local emulator is already running on 127.0.0.1:{info.control_port} (pid {info.pid}).")
    else:
        daemon.ensure_running(say=say)
    emit(_report(), options(ctx).output)


@app.command("status")
def status(ctx: typer.Context) -> None:
    """Show whether the emulator runs, its ports, pid, state directory and what it holds."""
    emit(_report(), options(ctx).output)


@app.command("stop")
def stop() -> None:
    """Stop the emulator and every instance it runs (state is kept)."""
    from agentctl.emulator import daemon

    pid = daemon.stop()
    say(f"Stopped the local emulator (pid {pid})." if pid else "The local emulator is not running.")


@app.command("reset")
def reset(yes: bool = YES) -> None:
    """Stop the emulator and delete all its runtimes, versions, endpoints and code."""
    from agentctl.cli.target import confirm
    from agentctl.emulator import daemon

    confirm(f"Delete all local emulator state in {daemon.state_dir()}", yes)
    say(f"Removed the local emulator's state in {daemon.reset()}.")


def register(root: typer.Typer) -> None:
    root.add_typer(app)
