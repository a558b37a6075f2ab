"""The one place where command groups are attached to the main app, in help order."""

from __future__ import annotations

import typer

# How `agentctl --help` groups the commands (a command not listed here appears under "Other commands").
SECTIONS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("Project", ("init", "verify", "preview", "build")),
    ("Deploy and release", ("deploy", "info", "invoke", "version", "endpoint", "remove")),
    ("Operate", ("logs", "instance", "concurrency", "metrics")),
    ("Setup", ("config", "local")),
)


def all_commands(app: typer.Typer) -> None:
    # Each helper module exposes `register(app)`; add a line per module, in the order of `--help`.
    from agentctl.cli import config

    config.register(app)
    from agentctl.cli import project

    project.register(app)
    from agentctl.cli import init

    init.register(app)
    from agentctl.cli import build

    build.register(app)
    from agentctl.cli import deploy, endpoint, invoke, version

    deploy.register(app)
    invoke.register(app)
    version.register(app)
    endpoint.register(app)
    from agentctl.cli import local

    local.register(app)
    from agentctl.cli import instance

    instance.register(app)
    from agentctl.cli import concurrency

    concurrency.register(app)
    from agentctl.cli import logs

    logs.register(app)
    from agentctl.cli import metrics

    metrics.register(app)
