"""An s.yaml resolved into a ``Project`` of ``Resource`` s in dependency order.

Stages: find the file → read it with marks (``loader``) → merge the ``extend``
base → build the environment (.env beside s.yaml, never overriding) → resolve
every string lazily (``_Resolver``: a value is resolved when first needed, so
vars may use vars in any order and cycles are caught) → order the resources by
their ``${resources.R.output.x}`` references.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from agentctl.errors import BadInput, NotFound, SpecError
from agentctl.spec.dotenv import environment_with_dotenv
from agentctl.spec.functions import ConfigLookup, Functions
from agentctl.spec.interpolate import js_string
from agentctl.spec.loader import Marks, YamlPath, load_yaml
from agentctl.spec.resolver import Resolver

DEFAULT_FILES = ("s.yaml", "s.yml")
_OUTPUT_REF = re.compile(r"\$\{\s*resources\.([^.\s{}]+)\.output\b")


@dataclass
class Resource:
    name: str
    component: str
    props: dict[str, Any]
    actions: dict[str, Any] = field(default_factory=dict)
    depends_on: tuple[str, ...] = ()
    access: str | None = None


@dataclass
class Project:
    path: Path
    name: str | None
    access: str | None
    vars: dict[str, Any]
    document: dict[str, Any]
    resources: dict[str, Resource]
    actions: dict[str, Any] = field(default_factory=dict)
    env: dict[str, str] = field(default_factory=dict)  # os.environ plus the .env beside s.yaml
    marks: Marks = field(default_factory=dict, repr=False)

    @property
    def dir(self) -> Path:
        return self.path.parent

    def select(self, resource: str | None) -> list[Resource]:
        """One named resource, or all of them in dependency order."""
        if resource is None:
            return list(self.resources.values())
        if resource not in self.resources:
            known = ", ".join(self.resources) or "none"
            raise NotFound(f"resource '{resource}' is not in {self.path.name} (resources: {known})",
                           "use one of the names under `resources:`")
        return [self.resources[resource]]

    def line_of(self, yaml_path: tuple[str | int, ...]) -> int | None:
        """The 1-based line of a node (or of its closest existing parent)."""
        for end in range(len(yaml_path), -1, -1):
            mark = self.marks.get(tuple(yaml_path[:end]))
            if mark:
                return mark.entry_line
        return None


def find_spec_file(template: Path | None, cwd: Path) -> Path:
    """``-t FILE`` or s.yaml/s.yml in ``cwd``."""
    if template is not None:
        path = template if template.is_absolute() else cwd / template
        if not path.is_file():
            raise NotFound(f"template file {template} does not exist",
                           "check the path given with -t/--template")
        if path.suffix not in (".yaml", ".yml"):
            raise BadInput(f"template file {template} is not a .yaml or .yml file", "give a YAML file with -t")
        return path
    for name in DEFAULT_FILES:
        if (cwd / name).is_file():
            return cwd / name
    raise NotFound(f"no s.yaml or s.yml in {cwd}",
                   "run agentctl in the project folder, pass -t FILE, or create one with `agentctl init`")


def load_project(path: Path, *, config: ConfigLookup | None = None, preview: bool = False,
                 environ: Mapping[str, str] | None = None) -> Project:
    """Read, merge, resolve and order ``path``; every problem is a SpecError at file:line:col."""
    path = Path(os.path.abspath(path))
    document, marks = _read_with_extend(path)
    _refuse_services_keyword(document, marks)
    env = environment_with_dotenv(path.parent / ".env", environ)
    resolver = Resolver(document, marks, Functions(path.parent, env, config, preview), str(path.parent))
    resolved = resolver.resolve_document()
    order = _dependency_order(document, marks)
    raw_resources = document.get("resources") or {}
    resources = {}
    for name, depends_on in order:
        item = resolved["resources"].get(name) or {}
        resources[name] = Resource(
            name=name, component=str(item.get("component", "")), props=item.get("props") or {},
            actions=item.get("actions") or {}, depends_on=depends_on,
            access=item.get("access") if isinstance(raw_resources[name].get("access"), str) else None,
        )
    return Project(
        path=path, name=resolved.get("name"), access=resolved.get("access"), vars=resolved.get("vars") or {},
        document=resolved, resources=resources, actions=resolved.get("actions") or {}, env=env, marks=marks,
    )


def _refuse_services_keyword(document: dict[str, Any], marks: Marks) -> None:
    """A 3.0.0 file with ``services:`` and no ``resources:`` would deploy nothing; the parser refuses it so."""
    if str(document.get("edition")) == "3.0.0" and not document.get("resources") and document.get("services"):
        mark = marks.get(("services",))
        raise SpecError("Keyword 'services' has been replaced by 'resources' in 3.0.0 YAML.",
                        "rename `services:` to `resources:` (each entry keeps its component and props)",
                        file=mark.file if mark else None, line=mark.entry_line if mark else None, column=1)


def _read_with_extend(path: Path) -> tuple[dict[str, Any], Marks]:
    document, marks = _read_mapping(path)
    base_name = document.pop("extend", None)
    if base_name is None:
        return document, marks
    if not isinstance(base_name, str):
        raise _error_at(marks, ("extend",), "extend must be a file name", "write extend: base.yaml")
    base_path = Path(os.path.normpath(path.parent / base_name))
    if not base_path.is_file():
        raise _error_at(marks, ("extend",), f"extend file {base_name} not found", "check the path of `extend`")
    base, base_marks = _read_mapping(base_path)
    base.pop("extend", None)
    # Serverless Devs resolves base and file apart, so a null in this file's resources does not erase the base.
    merged = _merge({k: v for k, v in base.items() if k != "resources"},
                    {k: v for k, v in document.items() if k != "resources"}, null_overrides=True)
    resources = _merge(base.get("resources") or {}, document.get("resources") or {}, null_overrides=False)
    if resources or "resources" in base or "resources" in document:
        merged["resources"] = resources
    return merged, {**base_marks, **marks}


def _read_mapping(path: Path) -> tuple[dict[str, Any], Marks]:
    document, marks = load_yaml(path)
    if not isinstance(document, dict):
        raise SpecError("the file must be a YAML mapping (edition, name, resources, ...)",
                        "start from `agentctl init` or the s.yaml.example", file=str(path), line=1, column=1)
    resources = document.get("resources")
    if resources is not None and not isinstance(resources, dict):
        raise _error_at(marks, ("resources",), "resources must be a mapping of name → resource",
                        "write resources:\\n  my-agent:\\n    component: agentrun")
    for name, resource in (resources or {}).items():
        if not isinstance(resource, dict):
            raise _error_at(marks, ("resources", name), f"resource {name} must be a mapping",
                            "give it component: and props:")
    return document, marks


def _merge(base: Any, over: Any, *, null_overrides: bool) -> Any:
    """Deep-merge maps; lists and scalars of ``over`` replace those of ``base``."""
    if not (isinstance(base, dict) and isinstance(over, dict)):
        return over
    merged = dict(base)
    for key, value in over.items():
        if value is None and not null_overrides:
            continue
        merged[key] = _merge(base.get(key), value, null_overrides=null_overrides) if key in base else value
    return merged


def _dependency_order(document: dict[str, Any], marks: Marks) -> list[tuple[str, tuple[str, ...]]]:
    """Resources with their dependencies, first-ready-first in file order; a cycle is an error."""
    resources: dict[str, Any] = document.get("resources") or {}
    needs = {name: _output_references(resource.get("props"), set(resources)) for name, resource in resources.items()}
    order: list[tuple[str, tuple[str, ...]]] = []
    placed: set[str] = set()
    while len(placed) < len(needs):
        ready = next((name for name in needs if name not in placed and needs[name] <= placed), None)
        if ready is None:
            stuck = [name for name in needs if name not in placed]
            raise _error_at(marks, ("resources", stuck[0]),
                            f"resources depend on each other in a cycle: {' → '.join(stuck)} "
                            "(through ${resources.<name>.output...})",
                            "remove one of the output references so that one resource can run first")
        placed.add(ready)
        order.append((ready, tuple(sorted(needs[ready], key=list(needs).index))))
    return order


def _output_references(value: Any, names: set[str]) -> set[str]:
    if isinstance(value, dict):
        return set().union(*(_output_references(v, names) for v in value.values()))
    if isinstance(value, list):
        return set().union(*(_output_references(v, names) for v in value))
    if isinstance(value, str):
        return {match.group(1) for match in _OUTPUT_REF.finditer(value) if match.group(1) in names}
    return set()


def _error_at(marks: Marks, path: YamlPath, message: str, hint: str) -> SpecError:
    mark = marks.get(path)
    return SpecError(message, hint, file=mark.file if mark else None, line=mark.line if mark else None,
                     column=mark.column if mark else None)


def resolve_outputs(value: Any, outputs: dict[str, dict[str, Any]]) -> Any:
    """Fill ``${resources.R.output.x}`` from the outputs of resources that ran (whole values keep type)."""
    if isinstance(value, dict):
        return {key: resolve_outputs(item, outputs) for key, item in value.items()}
    if isinstance(value, list):
        return [resolve_outputs(item, outputs) for item in value]
    if not isinstance(value, str) or "${" not in value:
        return value
    pattern = re.compile(r"\$\{\s*resources\.([^.\s{}]+)\.output((?:\.[^.\s{}]+)*)\s*\}")

    def lookup(match: re.Match[str]) -> Any:
        found: Any = outputs.get(match.group(1))
        for key in [part for part in match.group(2).split(".") if part]:
            found = _child(found, key)
        if found is None:
            raise SpecError(f"{match.group(0)} not found: resource {match.group(1)} has no such output",
                            f"check the outputs of {match.group(1)} (agentctl {match.group(1)} info)")
        return found

    whole = pattern.fullmatch(value)
    if whole:
        return lookup(whole)
    return pattern.sub(lambda match: js_string(lookup(match)), value)


def _child(node: Any, key: str) -> Any:
    try:
        if isinstance(node, dict):
            return node.get(key)
        if isinstance(node, list):
            return node[int(key)]
    except (ValueError, IndexError):
        return None
    return None


__all__ = ["Project", "Resource", "find_spec_file", "load_project", "resolve_outputs"]
