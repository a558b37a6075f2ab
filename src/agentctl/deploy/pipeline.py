"""The deploy pipeline for one agentrun resource, stage by stage.

1. prepare (local only, no backend calls): validated props → typed spec → API
   body; the code directory is zipped (with ``.s/build/<resource>/`` as the
   built dependencies when present) and its checksum set.
2. plan (read-only): find the runtime by exact name, read its endpoints and
   versions, diff (``deploy.plan``).
3. execute (``deploy.execute``): create or update, wait for READY, reconcile
   the endpoints s.yaml names.

An empty plan is reported as "nothing changed" and touches nothing.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from agentctl.backends.base import Backend
from agentctl.deploy.endpoints import DesiredEndpoint, desired_from_spec
from agentctl.deploy.execute import Reporter, execute
from agentctl.deploy.plan import Plan, plan_deploy
from agentctl.errors import BadInput, NotFound
from agentctl.spec import Project, Resource

if TYPE_CHECKING:
    from agentctl.build.package import CodePackage

NAME_PATTERN = re.compile(r"^[a-zA-Z][a-zA-Z0-9_-]{0,127}$")


def agent_resources(project: Project, selector: str | None) -> list[Resource]:
    """The selected resources with ``component: agentrun`` (or ``devsapp/agentrun``, ``agentrun@dev``)."""
    from agentctl.spec.validate import is_agentrun

    resources = [r for r in project.select(selector) if is_agentrun(r.component)]
    if not resources:
        raise NotFound(f"{project.path} has no resource with component: agentrun",
                       hint="Add one under `resources:`, or create a project with `agentctl init`.")
    return resources


def runtime_name(resource: Resource) -> str:
    """``props.agent.name``, checked against the API's pattern (before anything is sent)."""
    name = (resource.props.get("agent") or {}).get("name")
    if not isinstance(name, str) or not NAME_PATTERN.match(name):
        raise BadInput(f"resource {resource.name}: agent name {name!r} is not a valid runtime name",
                       hint="Start with a letter; then letters, digits, '_' or '-' (at most 128 characters).")
    return name


def check_valid(project: Project) -> None:
    """Refuse an s.yaml that breaks the schema, listing every violation at once."""
    from agentctl.spec.validate import validate

    violations = validate(project)
    if not violations:
        return
    count = f"{len(violations)} problem{'s' if len(violations) > 1 else ''}"
    lines = [f"  {v.format(project.path.name)}" for v in violations]
    raise BadInput(f"{project.path} is not valid ({count}); nothing was deployed:\n" + "\n".join(lines),
                   hint="Fix the fields listed above (`agentctl verify` checks without deploying).")


@dataclass(frozen=True)
class Prepared:
    resource: str
    name: str
    body: Mapping[str, Any]
    endpoints: tuple[DesiredEndpoint, ...]


def prepare(project: Project, resource: Resource, *, account_id: str | None) -> Prepared:
    """Stage 1: the API body and desired endpoints, code zipped. No backend calls."""
    from agentctl.build.dependencies import BUILD_DIR
    from agentctl.spec.model import AgentSpec

    name = runtime_name(resource)
    spec = AgentSpec.from_props(resource.props, account_id=account_id)
    if spec.code is None or not spec.code.src:  # a container image or code already in OSS: nothing to zip
        body = spec.to_api()
    else:
        package = _package(project.dir / spec.code.src, project.dir / BUILD_DIR / resource.name)
        body = spec.to_api(zip_file=package.base64())
        body["codeConfiguration"]["checksum"] = package.checksum
    return Prepared(resource.name, name, body, tuple(desired_from_spec(spec.endpoints)))


def _package(src: Path, deps: Path) -> CodePackage:
    """The code zip; dependencies built by `agentctl build` (``.s/build/<resource>/``) go in when present."""
    from agentctl.build.package import package_code

    return package_code(src, deps_dir=deps if deps.is_dir() else None)


def plan_for(backend: Backend, prepared: Prepared) -> tuple[Plan, dict[str, Any] | None]:
    """Stage 2: read the backend and diff. Returns the plan and the current runtime (or None)."""
    current = backend.find_runtime(prepared.name)
    endpoints: list[dict[str, Any]] = []
    versions: list[str] = []
    if current is not None:
        runtime_id = str(current["agentRuntimeId"])
        endpoints = backend.endpoints(runtime_id)
        versions = [str(v.get("agentRuntimeVersion")) for v in backend.versions(runtime_id)]
    plan = plan_deploy(prepared.name, prepared.body, current, prepared.endpoints, endpoints, versions)
    return plan, current


def apply(backend: Backend, prepared: Prepared, plan: Plan, current: Mapping[str, Any] | None,
          reporter: Reporter) -> dict[str, Any]:
    """Stage 3: execute the plan; returns the runtime as it now is."""
    runtime_id = str(current["agentRuntimeId"]) if current else None
    runtime_id = execute(plan, backend, runtime_id, reporter)
    if runtime_id is None:
        raise NotFound(f"runtime {prepared.name} vanished during deploy", hint="Deploy again.")
    return backend.client.get_agent_runtime(runtime_id)
