"""Resolve the strings of a whole s.yaml document, lazily and once each.

``Resolver.get(path)`` walks the raw document and resolves each string it meets
(memoised per YAML path), so ``${vars.a}`` may point at a var that itself holds
expressions, in any order; a string met again while it is being resolved is a
cycle. What a string may reference depends on where it is: everywhere ``vars``
and ``cwd``; inside ``resources.<R>`` also ``this`` (= R) and ``resources``.
Failures become SpecError at the file:line:col of the failing expression.
"""

from __future__ import annotations

from typing import Any

from agentctl.errors import SpecError
from agentctl.spec.functions import Functions
from agentctl.spec.interpolate import InterpolationError, Missing, Scope, has_expression, render
from agentctl.spec.loader import Marks, YamlPath

_RESOURCE_ROOTS = ("this", "that", "resources")


class Resolver:
    def __init__(self, document: dict[str, Any], marks: Marks, functions: Functions, cwd: str) -> None:
        self.document, self.marks, self.functions, self.cwd = document, marks, functions, cwd
        self._done: dict[YamlPath, Any] = {}
        self._active: list[YamlPath] = []

    def resolve_document(self) -> dict[str, Any]:
        resolved: dict[str, Any] = self.get(())
        return resolved

    def get(self, path: YamlPath) -> Any:
        """The resolved value at ``path``; Missing names the first key that is not there."""
        node: Any = self.document
        walked: YamlPath = ()
        raw = True  # still walking the file's own nodes (not a value an expression produced)
        for key in path:
            if raw and isinstance(node, str):
                node, raw = self._string(walked, node), False
            node, key = _child(node, key, walked)
            walked = (*walked, key)
        return self._deep(walked, node) if raw else node

    def _deep(self, path: YamlPath, node: Any) -> Any:
        if isinstance(node, dict):
            values = {key: self._deep((*path, key), item) for key, item in node.items()}
            return {key: value for key, value in values.items() if value is not None}
        if isinstance(node, list):
            return [self._deep((*path, index), item) for index, item in enumerate(node)]
        if isinstance(node, str):
            return self._string(path, node)
        return node

    def _string(self, path: YamlPath, text: str) -> Any:
        if not has_expression(text):
            return text
        if path in self._done:
            return self._done[path]
        if path in self._active:
            cycle = " → ".join(_dotted(item) for item in self._active[self._active.index(path):])
            raise self._error(path, 0, f"{text} refers to itself through {cycle}",
                              "break the cycle between these values")
        self._active.append(path)
        try:
            value = render(text, self._scope(path))
        except InterpolationError as exc:
            failure = exc.failure
            raise self._error(path, failure.offset, failure.error.message, failure.error.hint) from exc
        finally:
            self._active.pop()
        self._done[path] = value
        return value

    def _scope(self, path: YamlPath) -> Scope:
        resource = str(path[1]) if len(path) >= 2 and path[0] == "resources" else None

        def lookup(reference: tuple[str, ...]) -> Any:
            root, rest = reference[0], reference[1:]
            if root == "cwd" and not rest:
                return self.cwd
            if root == "vars":
                return self.get(("vars", *rest))
            if resource is None and root in _RESOURCE_ROOTS:
                raise Missing(f"`{root}` can only be used inside resources")
            if root in ("this", "that"):
                return self._this(resource or "", rest)
            if root == "resources":
                return self.get(("resources", *rest))
            raise Missing(f"unknown name `{root}`; use vars, this, resources, cwd or a function")

        return Scope(lookup=lookup, call=self.functions.call)

    def _this(self, resource: str, rest: tuple[str, ...]) -> Any:
        if not rest:
            return {"name": resource, "access": self.get(("access",)) if "access" in self.document else None,
                    **self.get(("resources", resource))}
        if rest == ("name",):
            return resource
        if rest == ("access",) and "access" not in self.document["resources"][resource]:
            return self.get(("access",))
        return self.get(("resources", resource, *rest))

    def _error(self, path: YamlPath, offset: int, message: str, hint: str | None) -> SpecError:
        mark = self.marks.get(path)
        if mark is None:
            return SpecError(f"{message} (at {_dotted(path)})", hint)
        return SpecError(message, hint or "fix the expression", file=mark.file, line=mark.line,
                         column=mark.column_of(offset))


def _child(node: Any, key: str | int, parent: YamlPath) -> tuple[Any, str | int]:
    """The child ``key`` of ``node`` and the key as marks spell it (str for maps, int for lists)."""
    if isinstance(node, dict) and str(key) in node:
        return node[str(key)], str(key)
    if isinstance(node, list) and str(key).isdigit() and int(key) < len(node):
        return node[int(key)], int(key)
    where = _dotted(parent) or "the document"
    if isinstance(node, dict) and node:
        hint = f"{where} has: {', '.join(sorted(map(str, node))[:12])}"
    elif isinstance(node, list):
        hint = f"{where} is a list of {len(node)} item(s); index from 0"
    else:
        hint = f"define `{key}` under {where}" if parent else f"define `{key}` at the top of the file"
    raise Missing(f"no `{key}` in {where}", hint)


def _dotted(path: YamlPath) -> str:
    return ".".join(str(part) for part in path)
