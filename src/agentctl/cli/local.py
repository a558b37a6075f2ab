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
    """What ``status`` shows: daemon facts, its settings and resource counts (read from the state database)."""
    from dataclasses import asdict

    from agentctl.emulator import daemon, settings

    info = daemon.status()
    report: dict[str, Any] = {"state": "running" if info else "stopped", "pid": info.pid if info else None,
                              "controlUrl": info.control_url if info else None,
                              "gatewayUrl": info.gateway_url if info else None,
                              "startedAt": info.started_at if info else None,
                              "stateDir": str(daemon.state_dir()),
                              "settings": asdict(settings.load(daemon.state_dir()))}
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
def start(
    ctx: typer.Context,
    driver: str = typer.Option(None, "--driver", help="How instances run: auto (docker when an engine answers), "
                               "process or docker."),
    max_instances: int = typer.Option(None, "--max-instances", help="Instances of all runtimes together "
                                      "(default 50); past it, and a full queue, requests get 429."),
    idle_timeout: float = typer.Option(None, "--idle-timeout", help="Seconds an idle instance lives before it "
                                       "stops (scale to zero; default 300)."),
    queue_depth: int = typer.Option(None, "--queue-depth", help="Requests that may wait for a free slot, per "
                                    "version (default 100)."),
    queue_wait: float = typer.Option(None, "--queue-wait", help="Seconds a request may wait in the queue "
                                     "(default 10)."),
    body_timeout: float = typer.Option(None, "--body-timeout", help="Seconds a request's head or body may "
                                       "stop arriving before the gateway answers 408 (default 30)."),
) -> None:
    """Start the emulator; with options, (re)start it with those settings (they are kept for later starts)."""
    from agentctl.emulator import daemon, settings

    with daemon.settings_lock():  # two starts at once: the second applies its change to the first one's
        current = settings.load(daemon.state_dir())
        wanted = current.updated(driver=driver, max_instances=max_instances, idle_timeout_seconds=idle_timeout,
                                 queue_depth=queue_depth, queue_wait_seconds=queue_wait,
                                 body_timeout_seconds=body_timeout)
        running = daemon.status()
        if running is not None and wanted != current:
            daemon.stop()
            say("Restarting the local emulator with the new settings.")
            running = None
        settings.save(daemon.state_dir(), wanted)
        if running is not None:
            say(f"The local emulator is already running on 127.0.0.1:{running.control_port} (pid {running.pid}).")
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
