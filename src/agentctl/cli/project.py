"""``agentctl verify`` and ``agentctl preview``: check s.yaml, and show it resolved.

Both resolve s.yaml in preview mode (a ``${config('X')}`` without credentials stays
as text), so they work before any ``config add``. Both honour ``-t``, ``-a`` and the
``agentctl <resource> <command>`` selector.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from agentctl.cli import render
from agentctl.cli.context import GlobalOptions, options
from agentctl.errors import BadInput

if TYPE_CHECKING:
    from agentctl.spec import Project


def _raw_access(path: Path) -> str | None:
    """The literal top-level ``access`` of s.yaml (needed before resolving, for ``${config(...)}``)."""
    import yaml

    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError):
        return None  # load_project reports the problem with its position
    access = data.get("access") if isinstance(data, dict) else None
    return access if isinstance(access, str) and "${" not in access else None


def load_for_preview(opts: GlobalOptions) -> tuple[Project, set[str]]:
    """The project resolved in preview mode, and the credential values ``${config()}`` handed out."""
    from agentctl.access import resolve_access
    from agentctl.spec import find_spec_file, load_project

    path = find_spec_file(opts.template, Path.cwd())
    handed_out: set[str] = set()

    def config(key: str) -> str | None:
        creds = resolve_access(opts.access, _raw_access(path)).credentials
        value = creds.config_value(key) if creds else None
        if value:
            handed_out.add(value)
        return value

    return load_project(path, config=config, preview=True), handed_out


def _shown(path: Path) -> str:
    """The file as the user would name it: relative to the working directory when inside it."""
    try:
        return os.path.relpath(path) if path.is_relative_to(Path.cwd()) else str(path)
    except ValueError:
        return str(path)


def _selected(project: Project, resource: str | None) -> list[str]:
    return [r.name for r in project.select(resource)]


def verify(ctx: typer.Context) -> None:
    """Check s.yaml against the agentrun schema; list every problem with its line (exit 2 if any)."""
    from agentctl.spec.validate import SCHEMA_PATH, validate

    opts = options(ctx)
    fmt = opts.output
    project, _ = load_for_preview(opts)
    names = _selected(project, opts.resource)
    violations = [v for v in validate(project) if v.resource is None or v.resource in names]
    file = _shown(project.path)
    if fmt == "table":
        for violation in violations:
            typer.echo(violation.format(file))
    else:
        render.emit({"file": file, "valid": not violations, "resources": names,
                     "violations": [vars(v) for v in violations]}, fmt)
    if violations:
        count = f"{len(violations)} problem" + ("s" if len(violations) > 1 else "")
        raise BadInput(f"{file} has {count}",
                       hint=f"Fix the lines above; the schema is {SCHEMA_PATH} (usable in editors).")
    if fmt == "table":
        typer.echo(f"{file} is valid ({len(names)} resource{'s' if len(names) != 1 else ''})")


def preview(ctx: typer.Context) -> None:
    """Print s.yaml resolved (vars, env, extend, functions), secrets masked."""
    from agentctl.spec.masking import mask_document

    opts = options(ctx)
    fmt = opts.output
    project, handed_out = load_for_preview(opts)
    document: dict[str, Any] = dict(project.document)
    if opts.resource is not None:
        names = _selected(project, opts.resource)
        document["resources"] = {name: project.document["resources"][name] for name in names}
    # A table of a whole document is not readable: `table` prints YAML too.
    render.emit(mask_document(document, handed_out), "json" if fmt == "json" else "yaml")


def register(app: typer.Typer) -> None:
    app.command("verify")(verify)
    app.command("preview")(preview)
