"""Typed reads from a plain mapping that collect every problem (with its YAML path) instead of stopping at one."""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

from agentctl.errors import BadInput
from agentctl.flow.expr import Expr, ExpressionError, Template, parse_expression, parse_template
from agentctl.flow.model import YamlPath

NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_-]{0,63}$")
T = TypeVar("T")


@dataclass(frozen=True)
class FlowIssue:
    where: YamlPath  # relative to the s.yaml document when the caller passed the prefix
    message: str
    hint: str | None = None

    def format(self) -> str:
        text = f"{format_path(self.where)}: {self.message}" if self.where else self.message
        return text + (f"\n  Hint: {self.hint}" if self.hint else "")


class FlowSpecError(BadInput):
    """A flow that cannot run; ``issues`` lists every problem at once, each with its YAML path."""

    def __init__(self, issues: list[FlowIssue]) -> None:
        self.issues = issues
        first = issues[0]
        summary = f"{len(issues)} problems in the flow" if len(issues) > 1 else "a problem in the flow"
        super().__init__(f"{summary}:\n" + "\n".join(issue.format() for issue in issues),
                         first.hint or "Fix the flow in s.yaml and run `agentctl verify`.")


def format_path(where: YamlPath) -> str:
    """``("flow", "root", "agents", 0)`` → ``flow.root.agents[0]``."""
    out = ""
    for key in where:
        out += f"[{key}]" if isinstance(key, int) else (f".{key}" if out else str(key))
    return out


def did_you_mean(word: str, choices: Iterable[str]) -> str:
    close = difflib.get_close_matches(word, list(choices), n=1)
    return f" Did you mean {close[0]!r}?" if close else ""


class Reader:
    """Reads fields of one mapping at ``where``; problems go to the shared ``issues`` list."""

    def __init__(self, data: Mapping[str, Any], where: YamlPath, issues: list[FlowIssue]) -> None:
        self.data, self.where, self.issues = data, where, issues

    def problem(self, key: str | int | None, message: str, hint: str | None = None) -> None:
        where = self.where if key is None else (*self.where, key)
        self.issues.append(FlowIssue(where, message, hint))

    def only(self, allowed: Iterable[str], what: str) -> None:
        allowed = sorted(allowed)
        for key in self.data:
            if key not in allowed:
                self.problem(str(key), f"unknown field {key!r} for {what}.{did_you_mean(str(key), allowed)}",
                             f"The fields of {what} are: {', '.join(allowed)}.")

    def typed(self, key: str, kind: type[T] | tuple[type, ...], label: str, default: T | None = None,
              required: bool = False) -> T | None:
        if key not in self.data or self.data[key] is None:
            if required:
                self.problem(None, f"missing field {key!r}", f"Add {key}: <{label}>.")
            return default
        value = self.data[key]
        if isinstance(value, bool) and kind in (int, float, (int, float)):
            value = None  # YAML true/false is not a number
        if value is None or not isinstance(value, kind):
            self.problem(key, f"{key} must be {label}, got {type(self.data[key]).__name__} {self.data[key]!r}")
            return default
        return value  # type: ignore[return-value]

    def text(self, key: str, *, default: str | None = None, required: bool = False) -> str | None:
        return self.typed(key, str, "text", default, required)

    def number(self, key: str, low: float, high: float, *, default: float | None = None) -> float | None:
        value = self.typed(key, (int, float), f"a number from {low:g} to {high:g}", default)
        if value is not None and not low <= value <= high:
            self.problem(key, f"{key} must be from {low:g} to {high:g}, got {value!r}")
            return default
        return None if value is None else float(value)

    def integer(self, key: str, low: int, high: int, *, default: int | None = None,
                required: bool = False) -> int | None:
        value = self.typed(key, int, f"a whole number from {low} to {high}", default, required)
        if value is not None and not low <= value <= high:
            self.problem(key, f"{key} must be from {low} to {high}, got {value}")
            return default
        return value

    def flag(self, key: str, default: bool) -> bool:
        value = self.typed(key, bool, "true or false", default)
        return default if value is None else value

    def choice(self, key: str, choices: tuple[str, ...], default: str) -> str:
        value = self.text(key, default=default) or default
        if value not in choices:
            self.problem(key, f"{key} must be one of {', '.join(choices)}, got {value!r}."
                              + did_you_mean(value, choices))
            return default
        return value

    def name(self, key: str, *, default: str | None = None, required: bool = False) -> str | None:
        value = self.text(key, default=default, required=required)
        if value is not None and not NAME.match(value):
            self.problem(key, f"{key} {value!r} is not a valid name",
                         "Use a letter first, then letters, digits, '-' or '_' (at most 64).")
            return default
        return value

    def template(self, key: str, default: str | None = None) -> Template | None:
        source = self.text(key, default=default)
        return None if source is None else self.parse(key, source, parse_template)

    def expression(self, key: str, *, required: bool = False) -> tuple[Expr, str] | None:
        source = self.text(key, required=required)
        if source is None:
            return None
        expr = self.parse(key, source, parse_expression)
        return None if expr is None else (expr, source)

    def parse(self, key: str | int, source: str, parser: Any) -> Any:
        try:
            return parser(source)
        except ExpressionError as exc:
            pointer = f"\n    {source}\n    {' ' * ((exc.column or 1) - 1)}^" if "\n" not in source else ""
            self.problem(key, f"bad expression: {exc}{pointer}", exc.hint)
            return None

    def headers(self, key: str = "headers") -> dict[str, Template]:
        raw = self.typed(key, dict, "a map of header name to text", {}) or {}
        out: dict[str, Template] = {}
        nested = Reader(raw, (*self.where, key), self.issues)
        for header, value in raw.items():
            if not isinstance(value, (str, int, float)) or isinstance(value, bool):
                nested.problem(str(header), f"header {header!r} must be text, got {type(value).__name__}")
                continue
            template = nested.parse(str(header), str(value), parse_template)
            if template is not None:
                out[str(header)] = template
        return out

    def mapping(self, key: str) -> Mapping[str, Any] | None:
        return self.typed(key, dict, "a map")

    def sub(self, key: str | int, value: Any) -> Reader | None:
        """A reader for a nested mapping, or None (and a problem) when ``value`` is not one."""
        if not isinstance(value, dict):
            self.problem(key, f"expected a node (a map with type: ...), got {type(value).__name__}",
                         "Write the node as a map, e.g. {type: runtime, resource: my-agent}.")
            return None
        return Reader(value, (*self.where, key), self.issues)
