"""``agentctl build``: install each code resource's dependencies in Docker, build container resources' images.

Dependencies land in ``<project>/.s/build/<resource>/`` (deploy ships them); an unchanged build is
skipped and reported as cached. Progress goes to stderr (a spinner on a terminal); ``--debug``
streams the container's output. The Docker SDK is imported only inside the command.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import NamedTuple

import typer

from agentctl.cli import render
from agentctl.cli.context import options

TABLE = render.Table([
    render.Column("Resource", "resource"),
    render.Column("Kind", "kind"),
    render.Column("Status", "status"),
    render.Column("Target", "target"),
    render.Column("Detail", "detail"),
    render.Column("Seconds", "seconds"),
])


def register(app: typer.Typer) -> None:
    app.command(
        "build",
        help="Install dependencies in the runtime's Docker image (into .s/build/<resource>/) and build "
        "customContainerConfig images from their Dockerfile.",
    )(build)


def build(
    ctx: typer.Context,
    local: bool = typer.Option(
        False, "--local", "--use-sandbox",
        help="Install with this machine's pip/npm instead of Docker (the result may differ from the runtime).",
    ),
    force: bool = typer.Option(False, "--force", help="Rebuild even when the cache says nothing changed."),
) -> None:
    from agentctl.build.service import Builder
    from agentctl.cli.target import load
    from agentctl.deploy.pipeline import agent_resources

    opts = options(ctx)
    project = load(opts)
    resources = agent_resources(project, opts.resource)
    with _feedback(opts.debug) as feedback:
        builder = Builder(project.dir, local=local, force=force, progress=feedback.progress, warn=feedback.say,
                          on_line=feedback.on_line, environ=project.env)
        outcomes = []
        for resource in resources:
            outcome = builder.build(resource.name, resource.props)
            feedback.say(_summary(outcome.as_dict()))
            outcomes.append(outcome.as_dict())
    render.emit(outcomes, opts.output, TABLE)


def _summary(row: dict[str, object]) -> str:
    where = f" → {row['target']}" if row["target"] else ""
    return f"{row['resource']}: {row['status']}{where} ({row['detail']})"


class Feedback(NamedTuple):
    progress: Callable[[str], None]  # the current step (a spinner on a terminal)
    say: Callable[[str], None]  # a line that stays
    on_line: Callable[[str], None] | None  # container output, with --debug


@contextmanager
def _feedback(debug: bool) -> Iterator[Feedback]:
    """Progress on stderr: a spinner on a terminal, plain lines otherwise; container output with --debug."""
    from rich.console import Console

    console = Console(stderr=True, highlight=False, soft_wrap=True)

    def say(line: str) -> None:
        console.print(line, markup=False)

    on_line = say if debug else None
    if not console.is_terminal:
        yield Feedback(say, say, on_line)
        return
    with console.status("Building ...") as status:
        yield Feedback(lambda message: status.update(message), say, on_line)
