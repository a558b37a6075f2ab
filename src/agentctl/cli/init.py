"""``agentctl init [TEMPLATE] [DIR]``: a new agent project from one of the shipped templates.

Templates live in ``templates/<name>/`` (shipped as ``agentctl/templates``): ``s.yaml``, ``code/``,
``.gitignore``, ``.env.example``, and a ``template.yaml`` that describes the template and is not
copied. DIR defaults to ``./<TEMPLATE>`` (as ``s init`` names the folder after the template). The
agent name is ``--name``, else DIR's name made valid, else the template's default; init writes it
wherever the template's default name appears in s.yaml. The ``# yaml-language-server: $schema=``
line is pointed at the schema file installed with agentctl, so editors validate s.yaml.

init never overwrites: DIR must not exist or be an empty directory. The project is assembled in a
temporary directory beside DIR and moved into place, so a failure leaves nothing behind.
"""

from __future__ import annotations

import re
import shutil
import tempfile
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

import typer

from agentctl.cli import render
from agentctl.cli.context import options
from agentctl.errors import BadInput, NotFound

DEFAULT_TEMPLATE = "python-echo"
MANIFEST = "template.yaml"
SCHEMA_MODELINE = "# yaml-language-server: $schema="
NAME_PATTERN = re.compile(r"^[a-zA-Z][a-zA-Z0-9_-]{0,127}$")
# Never copied from a template folder, even when a developer's run left them there.
NOT_COPIED = (MANIFEST, "__pycache__", "*.pyc", ".s", ".env")


@dataclass(frozen=True)
class Template:
    name: str
    path: Path
    description: str
    kind: str
    default_name: str
    next_steps: list[str] = field(default_factory=list)


def templates_dir() -> Path:
    return Path(str(resources.files("agentctl") / "templates"))


def schema_file() -> Path:
    return Path(str(resources.files("agentctl") / "spec" / "schema" / "agentrun.schema.json"))


def list_templates() -> list[Template]:
    """The shipped templates, the default one first."""
    import yaml

    found = []
    for folder in sorted(templates_dir().iterdir()):
        manifest = folder / MANIFEST
        if not manifest.is_file():
            continue
        meta = yaml.safe_load(manifest.read_text(encoding="utf-8")) or {}
        found.append(Template(
            name=folder.name, path=folder, description=str(meta.get("description", "")),
            kind=str(meta.get("kind", "code")), default_name=str(meta.get("default_name", folder.name)),
            next_steps=[str(step) for step in meta.get("next_steps", [])],
        ))
    return sorted(found, key=lambda t: (t.name != DEFAULT_TEMPLATE, t.name))


def find_template(name: str) -> Template:
    templates = list_templates()
    for template in templates:
        if template.name == name:
            return template
    known = ", ".join(t.name for t in templates)
    raise NotFound(f"unknown template {name!r}; the templates are: {known}",
                   "Run `agentctl init --list` to see what each template is.")


def agent_name(explicit: str | None, directory: Path, default: str) -> str:
    """``--name`` (validated), else the directory's name made valid, else the template's default."""
    if explicit is not None:
        if not NAME_PATTERN.match(explicit):
            raise BadInput(f"--name {explicit!r} is not a valid agent name",
                           "Use a letter first, then letters, digits, '-' or '_' (at most 128 characters).")
        return explicit
    candidate = re.sub(r"[^a-zA-Z0-9_-]+", "-", directory.resolve().name)
    candidate = re.sub(r"^[^a-zA-Z]+", "", candidate)[:128]
    return candidate if NAME_PATTERN.match(candidate) else default


def check_target(target: Path) -> None:
    """BadInput unless ``target`` is free: missing, or an empty directory."""
    if not target.exists():
        return
    if not target.is_dir():
        raise BadInput(f"{target} exists and is a file", "Choose another DIR: `agentctl init TEMPLATE DIR`.")
    if any(target.iterdir()):
        raise BadInput(f"{target} already exists and is not empty; init never overwrites files",
                       "Choose another DIR (`agentctl init TEMPLATE DIR`) or remove that directory first.")


def personalise(spec_file: Path, template: Template, name: str) -> None:
    """Point the schema line at the installed schema and put the agent name in s.yaml."""
    lines = spec_file.read_text(encoding="utf-8").splitlines(keepends=True)
    schema_line = f"{SCHEMA_MODELINE}{schema_file().resolve().as_uri()}\n"
    lines = [schema_line if line.startswith(SCHEMA_MODELINE) else line for line in lines]
    text = "".join(lines)
    if name != template.default_name:
        text = re.sub(rf"(?<![\w-]){re.escape(template.default_name)}(?![\w-])", name, text)
    spec_file.write_text(text, encoding="utf-8")


def create_project(template: Template, target: Path, name: str) -> None:
    """Copy ``template`` to ``target`` through a staging directory beside it."""
    target = target.resolve()  # so that `init T .` stages beside the directory, not inside it
    check_target(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}-", dir=target.parent))
    try:
        tree = staging / "project"
        shutil.copytree(template.path, tree, symlinks=False, ignore=shutil.ignore_patterns(*NOT_COPIED))
        personalise(tree / "s.yaml", template, name)
        check_target(target)  # again: something may have appeared meanwhile
        if target.exists():
            for child in tree.iterdir():
                child.rename(target / child.name)
        else:
            tree.rename(target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def init_command(
    ctx: typer.Context,
    template: str = typer.Argument(DEFAULT_TEMPLATE, help="Template name (see --list)."),
    directory: Path = typer.Argument(None, help="Where to create the project (default ./TEMPLATE).",
                                     show_default=False),
    name: str = typer.Option(None, "--name", help="Agent name in s.yaml (default: from DIR)."),
    list_only: bool = typer.Option(False, "--list", "-l", help="List the templates and exit."),
) -> None:
    """Create a new agent project from a template (python-echo, langchain-quickstart, container)."""
    fmt = options(ctx).output
    if list_only:
        rows = [{"name": t.name, "kind": t.kind, "default": t.name == DEFAULT_TEMPLATE,
                 "description": t.description} for t in list_templates()]
        table = render.Table([render.Column("NAME", "name"), render.Column("KIND", "kind"),
                              render.Column("DEFAULT", lambda row: "yes" if row["default"] else ""),
                              render.Column("DESCRIPTION", "description")], title="Templates")
        render.emit(rows, fmt, table)
        return
    chosen = find_template(template)
    target = directory if directory is not None else Path(chosen.name)
    agent = agent_name(name, target, chosen.default_name)
    create_project(chosen, target, agent)
    render.emit({"template": chosen.name, "directory": str(target.resolve()), "name": agent}, fmt)
    render.say(f"Created {target} from the {chosen.name} template (agent {agent}). Next:")
    enter = [] if target.resolve() == Path.cwd().resolve() else [f"cd {target}"]
    for step in [*enter, *(chosen.next_steps or ["agentctl deploy"])]:
        render.say(f"  {step}")


def register(app: typer.Typer) -> None:
    app.command("init")(init_command)
