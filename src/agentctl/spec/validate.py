"""Check a resolved s.yaml against the shipped JSON Schema, reporting every violation at once.

The schema file (``SCHEMA_PATH``, draft 2020-12) describes the whole s.yaml, with the
props of ``component: agentrun`` under ``$defs/agentrunProps``; editors use the same
file through ``# yaml-language-server: $schema=<SCHEMA_PATH>``. Besides the schema, a
few rules that JSON Schema cannot say are checked here (unique endpoint names, one
primary endpoint when others carry a weight, weights summing below 1, NAS needing a VPC,
numbers that are NaN or infinite, and — for a project on disk — that ``code.src`` exists).

Unknown keys are refused everywhere the schema knows the shape (``s`` passes them through
silently): each is reported at its own line, with "did you mean" when a known key is close.

jsonschema is imported inside the functions: importing this module stays cheap.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from jsonschema.exceptions import ValidationError

    from agentctl.spec import Project

SCHEMA_PATH = Path(__file__).resolve().parent / "schema" / "agentrun.schema.json"
AGENTRUN_COMPONENT = r"^(devsapp/)?agentrun(@.+)?$"
# The schema accepts a string holding `${...}` wherever a typed value goes (editors see s.yaml unresolved).
EXPR_PATTERN = "\\$\\{"

YamlPath = tuple[str | int, ...]
LineOf = Callable[[YamlPath], int | None]


@dataclass(frozen=True)
class Violation:
    resource: str | None  # None for top-level problems
    path: str  # "resources.agent.props.agent.cpu"
    line: int | None
    message: str

    def format(self, file: str) -> str:
        """``s.yaml:12 resources.agent.props.agent.cpu: 99 is greater than the maximum of 16``."""
        where = f"{file}:{self.line}" if self.line else file
        return f"{where} {self.path}: {self.message}" if self.path else f"{where}: {self.message}"


def is_agentrun(component: Any) -> bool:
    import re

    return isinstance(component, str) and re.match(AGENTRUN_COMPONENT, component) is not None


@cache
def load_schema() -> dict[str, Any]:
    return json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))  # type: ignore[no-any-return]


def dotted(path: Iterable[str | int]) -> str:
    """``("resources", "a", "props", "agent", "endpoints", 0)`` → ``resources.a.props.agent.endpoints[0]``."""
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text


def validate(project: Project) -> list[Violation]:
    """Every violation of the project's resolved document (and of its code paths on disk), ordered by line."""
    found = validate_document(project.document, project.line_of)
    for resource in project.resources.values():
        if not is_agentrun(resource.component):
            continue
        code = (resource.props.get("agent") or {}).get("code") if isinstance(resource.props, dict) else None
        src = code.get("src") if isinstance(code, dict) else None
        if isinstance(src, str) and src and "${" not in src and not (project.dir / src).exists():
            path: YamlPath = ("resources", resource.name, "props", "agent", "code", "src")
            found.append(_violation(path, f"{src} does not exist (code.src is relative to {project.path.name})",
                                    project.line_of))
    return sorted(found, key=lambda v: (v.line or 0, v.path))


def validate_document(document: Any, line_of: LineOf | None = None) -> list[Violation]:
    from jsonschema import Draft202012Validator

    validator = Draft202012Validator(load_schema())
    found: dict[tuple[YamlPath, str], None] = {}
    for error in validator.iter_errors(document):
        for leaf in _leaves(error):
            if leaf.validator == "additionalProperties":
                found.update(dict.fromkeys(_unknown_keys(leaf)))
            else:
                found[(tuple(leaf.absolute_path), _message(leaf))] = None
    found.update(dict.fromkeys(_semantic(document)))
    violations = [_violation(path, message, line_of) for path, message in found]
    return sorted(violations, key=lambda v: (v.line or 0, v.path))


def _violation(path: YamlPath, message: str, line_of: LineOf | None) -> Violation:
    resource = str(path[1]) if len(path) >= 2 and path[0] == "resources" else None
    line = None
    if line_of is not None:
        # A missing key has no line of its own: walk up to the nearest node that has one.
        for depth in range(len(path), -1, -1):
            if (line := line_of(path[:depth])) is not None:
                break
    return Violation(resource, dotted(path), line, message)


# --- turning jsonschema errors into one clear message each ------------------------------------
def _custom(error: ValidationError) -> str | None:
    messages = error.schema.get("x-messages") if isinstance(error.schema, dict) else None
    return messages.get(str(error.validator)) if isinstance(messages, dict) else None


def _is_expr_branch(error: ValidationError) -> bool:
    return isinstance(error.schema, dict) and error.schema.get("pattern") == EXPR_PATTERN and \
        error.schema.get("type") == "string"


def _leaves(error: ValidationError) -> list[ValidationError]:
    """The errors to report for ``error``: for anyOf/oneOf, those of the branches that fit the value's type."""
    if error.validator not in ("anyOf", "oneOf") or not error.context or _custom(error):
        return [error]
    branches: dict[Any, list[ValidationError]] = {}
    for sub in error.context:
        branches.setdefault(sub.relative_schema_path[0], []).append(sub)
    fitting = [
        subs for subs in branches.values()
        if not any(_is_expr_branch(s) or (not s.relative_path and s.validator in ("type", "const")) for s in subs)
    ]
    if len(fitting) != 1:
        return [error]
    return [leaf for sub in fitting[0] for leaf in _leaves(sub)]


def _message(error: ValidationError) -> str:
    if (custom := _custom(error)) is not None:
        return custom.replace("{value}", repr(error.instance))
    schema = error.schema if isinstance(error.schema, dict) else {}
    if error.validator in ("anyOf", "oneOf"):
        return f"{error.instance!r} is not valid here: {schema.get('description', 'see the schema')}"
    if schema.get("pattern") == EXPR_PATTERN and error.validator in ("type", "pattern"):
        # A typed field that also accepts `${...}`: say what type was wanted, not the pattern.
        wanted = [t for t in schema.get("type", []) if t != "string"]
        names = {"integer": "an integer", "number": "a number", "boolean": "true or false"}
        return f"{error.instance!r} is not {names.get(wanted[0], wanted[0]) if wanted else 'valid'}"
    return str(error.message)


def _unknown_keys(error: ValidationError) -> list[tuple[YamlPath, str]]:
    """One violation per key the schema does not know, at the key, with the closest known key."""
    import difflib

    schema = error.schema if isinstance(error.schema, dict) else {}
    known = sorted(schema.get("properties") or {})
    instance = error.instance if isinstance(error.instance, dict) else {}
    problems: list[tuple[YamlPath, str]] = []
    for key in instance:
        if key in known:
            continue
        close = difflib.get_close_matches(str(key), known, n=1, cutoff=0.6)
        guess = f" (did you mean `{close[0]}`?)" if close else f"; known keys: {', '.join(known)}"
        problems.append(((*error.absolute_path, key), f"unknown key{guess}"))
    return problems


# --- rules beyond the schema ------------------------------------------------------------------
def _not_finite(value: Any, path: YamlPath) -> list[tuple[YamlPath, str]]:
    """NaN and infinities (``.nan``, ``.inf`` in YAML) pass every range check of JSON Schema: catch them."""
    import math

    if isinstance(value, float) and not math.isfinite(value):
        return [(path, f"{value!r} is not a finite number")]
    if isinstance(value, dict):
        return [p for key, item in value.items() for p in _not_finite(item, (*path, key))]
    if isinstance(value, list):
        return [p for index, item in enumerate(value) for p in _not_finite(item, (*path, index))]
    return []


def _semantic(document: Any) -> list[tuple[YamlPath, str]]:
    resources = document.get("resources") if isinstance(document, dict) else None
    if not isinstance(resources, dict):
        return []
    problems: list[tuple[YamlPath, str]] = []
    for name, resource in resources.items():
        if not isinstance(resource, dict) or not is_agentrun(resource.get("component")):
            continue
        agent = (resource.get("props") or {}).get("agent") if isinstance(resource.get("props"), dict) else None
        problems += _not_finite(resource.get("props"), ("resources", name, "props"))
        if isinstance(agent, dict):
            base: YamlPath = ("resources", name, "props", "agent")
            problems += _endpoint_rules(agent.get("endpoints"), (*base, "endpoints"))
            if agent.get("nasConfig") and not agent.get("vpcConfig"):
                problems.append(((*base, "nasConfig"), "nasConfig needs vpcConfig (NAS is reached through a VPC)"))
    return problems


def _endpoint_rules(endpoints: Any, base: YamlPath) -> list[tuple[YamlPath, str]]:
    if not isinstance(endpoints, list):
        return []
    problems: list[tuple[YamlPath, str]] = []
    seen: set[Any] = set()
    for index, endpoint in enumerate(endpoints):
        if isinstance(endpoint, dict) and (name := endpoint.get("name")) is not None:
            if name in seen:
                problems.append(((*base, index, "name"), f"endpoint name {name!r} is used twice"))
            seen.add(name)
    items = [e for e in endpoints if isinstance(e, dict)]
    weights = [e["weight"] for e in items if isinstance(e.get("weight"), int | float)]
    primaries = [e for e in items if "weight" not in e]
    if weights and len(primaries) != 1:
        problems.append((base, "endpoints with a weight need exactly one endpoint without weight (the primary "
                               f"whose traffic they share); found {len(primaries)}"))
    if weights and sum(weights) >= 1:
        problems.append((base, f"endpoint weights add up to {sum(weights):g}; they must stay below 1"))
    return problems
