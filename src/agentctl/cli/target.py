"""What the lifecycle commands act on: the s.yaml project, its agentrun resources, their backend.

Shared by deploy/info/remove, version, endpoint and invoke so that each
command body stays a handful of lines. Heavy modules are imported inside.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from agentctl.cli.context import GlobalOptions, options
from agentctl.cli.render import say

if TYPE_CHECKING:
    from agentctl.backends.base import Backend
    from agentctl.spec import Project, Resource

BACKEND = typer.Option(None, "--backend", help="local (the emulator) or cloud; default: chosen by the access alias.",
                       case_sensitive=False)


@dataclass
class Target:
    project: Project
    resource: Resource
    name: str  # the runtime name (props.agent.name)
    backend: Backend

    def runtime(self) -> dict[str, Any]:
        """The deployed runtime (NotFound with a hint to deploy when there is none)."""
        return self.backend.require_runtime(self.name)

    def local_runtime_id(self, what: str, cloud_service: str, elsewhere: str) -> str:
        """The runtime id for a feature only the emulator serves (logs, metrics); a clear error on the cloud."""
        from agentctl.errors import BackendError

        if self.backend.kind != "local":
            raise BackendError(f"{what} for the cloud backend need {cloud_service} (not supported yet)",
                               hint=f"{elsewhere}, or run the agent locally: agentctl {what} --backend local.")
        return str(self.runtime()["agentRuntimeId"])


def load(opts: GlobalOptions) -> Project:
    from agentctl.access import resolve_access
    from agentctl.spec import find_spec_file, load_project

    def config(key: str) -> str | None:
        creds = resolve_access(opts.access, None).credentials
        values = {"AccountID": creds.account_id, "AccessKeyID": creds.access_key_id} if creds else {}
        return values.get(key)

    return load_project(find_spec_file(opts.template, Path.cwd()), config=config)


def targets(ctx: typer.Context, backend: str | None, project: Project | None = None) -> list[Target]:
    """Every agentrun resource selected (``agentctl <resource> <command>``), each with its backend."""
    from agentctl.backends.factory import open_backend
    from agentctl.deploy.pipeline import agent_resources, runtime_name

    opts = options(ctx)
    project = project or load(opts)
    found = []
    for resource in agent_resources(project, opts.resource):
        name = runtime_name(resource)
        region = resource.props.get("region")
        opened = open_backend(cli_alias=opts.access, spec_alias=resource.access or project.access,
                              region=str(region) if region else None, forced=backend and backend.lower(),
                              debug=opts.debug, say=say)
        found.append(Target(project, resource, name, opened))
    return found


def single(ctx: typer.Context, backend: str | None) -> Target:
    """The one agentrun resource a command acts on; several need `agentctl <resource> <command>`."""
    from agentctl.deploy.pipeline import agent_resources
    from agentctl.errors import BadInput

    opts = options(ctx)
    project = load(opts)
    resources = agent_resources(project, opts.resource)
    if len(resources) > 1:
        names = ", ".join(r.name for r in resources)
        raise BadInput(f"s.yaml has several agent resources ({names}); this command acts on one",
                       hint=f"Name it first: agentctl {resources[0].name} {ctx.info_name} ...")
    return targets(ctx, backend, project)[0]


def confirm(question: str, yes: bool) -> None:
    """Ask on a TTY; refuse without one unless -y. Declining stops the command (exit 1)."""
    import sys

    from agentctl.errors import AgentctlError, BadInput

    if yes:
        return
    if not sys.stdin.isatty():
        raise BadInput(f"{question} needs confirmation and there is no terminal to ask on",
                       hint="Run it again with -y to confirm.")
    if not typer.confirm(f"{question}?", default=False, err=True):
        raise AgentctlError("cancelled, nothing was changed", hint="Run it again and answer y, or pass -y.")


@contextmanager
def actions(project: Project, command: str, resource: Resource | None = None) -> Iterator[None]:
    """Run s.yaml's pre/success/fail/complete-<command> actions around a block, as `s` does."""
    from agentctl.spec.actions import run_hook

    run_hook(project, "pre", command, resource=resource, say=say)
    try:
        yield
    except BaseException:
        run_hook(project, "fail", command, resource=resource, say=say)
        raise
    else:
        run_hook(project, "success", command, resource=resource, say=say)
    finally:
        run_hook(project, "complete", command, resource=resource, say=say)
