"""``agentctl deploy``, ``info`` and ``remove``: the runtime of each agentrun resource in s.yaml."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import typer

from agentctl.cli.context import YES, options
from agentctl.cli.render import emit, say
from agentctl.cli.target import BACKEND, Target, actions, confirm, load, targets


def deploy(
    ctx: typer.Context,
    yes: bool = YES,
    backend: str = BACKEND,
    dry_run: bool = typer.Option(False, "--dry-run", help="Print the plan and change nothing."),
) -> None:
    """Create or update the agent runtime, wait until READY, and reconcile its endpoints."""
    from agentctl.deploy.pipeline import check_valid

    opts = options(ctx)
    project = load(opts)
    check_valid(project)  # an invalid s.yaml changes nothing, not even through pre-deploy actions
    results: dict[str, Any] = {}
    with actions(project, "deploy"):
        for target in targets(ctx, backend, project):
            with actions(project, "deploy", target.resource):
                results[target.resource.name] = _deploy_one(target, results, dry_run)
    _emit_agents(results, opts.output)


def _emit_agents(results: dict[str, Any], fmt: str) -> None:
    # Nested agent summaries read best as YAML (the shape `s deploy` prints); -o json stays JSON.
    emit(results, "yaml" if fmt == "table" else fmt)


def _deploy_one(target: Target, outputs: dict[str, Any], dry_run: bool) -> Any:
    from agentctl.deploy.execute import RichReporter
    from agentctl.deploy.lifecycle import runtime_summary
    from agentctl.deploy.pipeline import apply, plan_for, prepare
    from agentctl.spec import resolve_outputs

    backend = target.backend
    resource = replace(target.resource, props=resolve_outputs(target.resource.props, outputs))
    prepared = prepare(target.project, resource, account_id=backend.account_id)
    plan, current = plan_for(backend, prepared)
    if not plan:
        say(f"{target.name}: nothing changed on the {backend.kind} backend")
    elif dry_run:
        return {"plan": plan.messages}
    else:
        say(f"Deploying {target.name} to {backend.describe()}")
        with RichReporter(say).active() as reporter:
            current = apply(backend, prepared, plan, current, reporter)
    assert current is not None  # an empty plan means the runtime exists
    return runtime_summary(backend, current)


def info(ctx: typer.Context, backend: str = BACKEND) -> None:
    """Show the agent runtime and its endpoints with their URLs."""
    from agentctl.deploy.lifecycle import runtime_summary

    results = {t.resource.name: runtime_summary(t.backend, t.runtime())
               for t in targets(ctx, backend)}
    _emit_agents(results, options(ctx).output)


def remove(ctx: typer.Context, yes: bool = YES, backend: str = BACKEND) -> None:
    """Delete the agent runtime: its endpoints first, then the runtime (asks unless -y)."""
    from agentctl.deploy.lifecycle import remove_runtime

    for target in targets(ctx, backend):
        runtime = target.runtime()
        count = len(target.backend.endpoints(str(runtime["agentRuntimeId"])))
        confirm(f"Remove agent runtime {target.name} ({count} endpoint{'s' * (count != 1)}, all versions) "
                f"from the {target.backend.kind} backend", yes)
        with actions(target.project, "remove", target.resource):
            remove_runtime(target.backend, runtime, say)
        say(f"Removed {target.name}.")


def register(app: typer.Typer) -> None:
    app.command("deploy")(deploy)
    app.command("info")(info)
    app.command("remove")(remove)

