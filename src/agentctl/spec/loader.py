"""Read YAML into plain Python values plus the position of every node.

s.yaml is read as YAML 1.2 (the core schema that js-yaml, and so Serverless
Devs, uses): ``yes``/``no``/``on``/``off`` stay strings and ``1e3`` is a number,
unlike PyYAML's YAML 1.1 default. Timestamps stay strings.

``load_yaml`` returns the document and a ``Marks`` map from a YAML path
(a tuple of keys and list indexes) to where that node's value starts.

Bounded: a document may hold at most ``MAX_VALUES`` values once its aliases are
expanded (a "billion laughs" of nested aliases is refused before it is expanded)
and nest at most ``MAX_DEPTH`` levels; the file must be UTF-8 text.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from agentctl.errors import SpecError

YamlPath = tuple[str | int, ...]
MAX_VALUES = 100_000  # values in the document with every alias expanded (a large s.yaml has a few hundred)
MAX_DEPTH = 64  # levels of nested mappings and lists


@dataclass(frozen=True)
class Mark:
    """Where a scalar/collection starts (1-based), and how its text is quoted (for column arithmetic)."""

    file: str
    line: int
    column: int
    style: str | None = None  # None = plain, "'" / '"' quoted, "|" / ">" block
    multiline: bool = False
    key_line: int | None = None  # the line of the key that holds this node (what messages should point at)

    @property
    def entry_line(self) -> int:
        """The line a reader looks for: the key's for a mapping entry, else the node's."""
        return self.key_line or self.line

    def column_of(self, offset: int) -> int:
        """The column of character ``offset`` of the scalar's value, when it can be known from the text."""
        if self.multiline or self.style in ("|", ">"):
            return self.column
        return self.column + offset + (1 if self.style in ("'", '"') else 0)


Marks = dict[YamlPath, Mark]


class _Loader(yaml.SafeLoader):
    """SafeLoader with the YAML 1.2 core-schema scalar rules."""


_Loader.yaml_implicit_resolvers = {}
_CORE_RESOLVERS = [
    ("tag:yaml.org,2002:bool", r"^(?:true|True|TRUE|false|False|FALSE)$", "tTfF"),
    ("tag:yaml.org,2002:null", r"^(?:~|null|Null|NULL|)$", ["~", "n", "N", ""]),
    ("tag:yaml.org,2002:int", r"^(?:[-+]?[0-9]+|0o[0-7]+|0x[0-9a-fA-F]+)$", list("-+0123456789")),
    (
        "tag:yaml.org,2002:float",
        r"^(?:[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$",
        list("-+0123456789."),
    ),
    ("tag:yaml.org,2002:merge", r"^(?:<<)$", ["<"]),
]
for _tag, _pattern, _first in _CORE_RESOLVERS:
    _Loader.add_implicit_resolver(_tag, re.compile(_pattern), _first)


def _construct_int(loader: yaml.SafeLoader, node: yaml.ScalarNode) -> int:
    text = str(loader.construct_scalar(node))
    if text.startswith("0o"):
        return int(text[2:], 8)
    return int(text, 0) if text.startswith("0x") else int(text, 10)


def _construct_float(loader: yaml.SafeLoader, node: yaml.ScalarNode) -> float:
    text = str(loader.construct_scalar(node)).lower()
    if text.endswith(("inf", "nan")):
        return float(text.replace(".", ""))
    return float(text)


_Loader.add_constructor("tag:yaml.org,2002:int", _construct_int)
_Loader.add_constructor("tag:yaml.org,2002:float", _construct_float)
_Loader.add_constructor("tag:yaml.org,2002:timestamp", yaml.SafeLoader.construct_yaml_str)


def load_yaml(path: Path) -> tuple[Any, Marks]:
    """Parse ``path``; YAML syntax errors become a SpecError at file:line:col."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise SpecError(f"cannot read {path}: {exc.strerror}", "check the path and its permissions") from exc
    except UnicodeDecodeError as exc:
        raise SpecError(f"{path} is not UTF-8 text (byte {exc.start} is {exc.object[exc.start]:#04x})",
                        "Give -t a YAML file (s.yaml is text, UTF-8 encoded).") from exc
    return load_yaml_text(text, str(path))


def load_yaml_text(text: str, file: str) -> tuple[Any, Marks]:
    loader = _Loader(text)
    try:
        node = loader.get_single_node()
        marks: Marks = {}
        if node is not None:
            _check_size(node, file)
        value = None if node is None else _construct(loader, node, (), file, marks)
    except RecursionError as exc:  # the YAML parser itself recurses per level of nesting
        raise SpecError(f"the YAML is nested too deeply (more than {MAX_DEPTH} levels)",
                        "Flatten the nested lists or mappings.", file=file) from exc
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        problem = exc.problem or exc.context or "invalid YAML"
        raise SpecError(
            f"YAML syntax error: {problem}", "fix the YAML at that position (indentation, quotes, colons)",
            file=file, line=mark.line + 1 if mark else None, column=mark.column + 1 if mark else None,
        ) from exc
    except yaml.YAMLError as exc:
        raise SpecError(f"YAML error: {exc}", "fix the YAML syntax", file=file) from exc
    finally:
        loader.dispose()
    return value, marks


def _check_size(root: yaml.Node, file: str) -> None:
    """Refuse a document whose aliases expand past MAX_VALUES, or that nests past MAX_DEPTH, before building it.

    The size of a node is counted once however many aliases point at it (memoized), so the check itself
    stays linear in the text.
    """
    sizes: dict[int, int] = {}

    def size(node: yaml.Node, depth: int) -> int:
        if depth > MAX_DEPTH:
            mark = node.start_mark
            raise SpecError(f"the YAML is nested too deeply (more than {MAX_DEPTH} levels)",
                            "Flatten the nested lists or mappings.", file=file, line=mark.line + 1,
                            column=mark.column + 1)
        known = sizes.get(id(node))
        if known is not None:
            return known
        sizes[id(node)] = MAX_VALUES + 1  # a node that contains itself (a recursive alias) is too large
        children: list[yaml.Node] = []
        if isinstance(node, yaml.MappingNode):
            children = [part for pair in node.value for part in pair]
        elif isinstance(node, yaml.SequenceNode):
            children = list(node.value)
        total = 1
        for child in children:
            total += size(child, depth + 1)
            if total > MAX_VALUES:
                break
        sizes[id(node)] = total
        if total > MAX_VALUES:
            mark = node.start_mark
            raise SpecError(f"the YAML expands to more than {MAX_VALUES} values (aliases such as *name repeat "
                            "what they point at)", "Use fewer or less nested aliases.", file=file,
                            line=mark.line + 1, column=mark.column + 1)
        return total

    size(root, 0)


def _construct(loader: _Loader, node: yaml.Node, path: YamlPath, file: str, marks: Marks,
               key_line: int | None = None) -> Any:
    start, end = node.start_mark, node.end_mark
    style = getattr(node, "style", None)
    marks[path] = Mark(file, start.line + 1, start.column + 1, style, end.line != start.line, key_line)
    if isinstance(node, yaml.MappingNode):
        _reject_duplicate_keys(loader, node)
        loader.flatten_mapping(node)  # `<<: *anchor` merge keys (their keys may be overridden)
        result: dict[Any, Any] = {}
        for key_node, value_node in node.value:
            key = loader.construct_object(key_node, deep=True)
            if not isinstance(key, str | int | float | bool) and key is not None:
                raise yaml.constructor.ConstructorError(None, None, "a mapping key must be a scalar",
                                                        key_node.start_mark)
            # js-yaml turns every key into a string; so do we, so that paths and lookups agree.
            key = _key_text(key)
            result[key] = _construct(loader, value_node, (*path, key), file, marks, key_node.start_mark.line + 1)
        return result
    if isinstance(node, yaml.SequenceNode):
        return [_construct(loader, item, (*path, i), file, marks) for i, item in enumerate(node.value)]
    return loader.construct_object(node, deep=True)


def _reject_duplicate_keys(loader: _Loader, node: yaml.MappingNode) -> None:
    """js-yaml (and so ``s``) refuses a key written twice in one mapping; PyYAML would keep the last."""
    seen: set[str] = set()
    for key_node, _ in node.value:
        if key_node.tag == "tag:yaml.org,2002:merge":
            continue
        key = _key_text(loader.construct_object(key_node, deep=True)) if isinstance(key_node, yaml.ScalarNode) else ""
        if key and key in seen:
            raise yaml.constructor.ConstructorError(None, None, f"duplicate key `{key}`", key_node.start_mark)
        seen.add(key)


def _key_text(key: Any) -> str:
    if key is None:
        return "null"
    if isinstance(key, bool):
        return "true" if key else "false"
    return str(key)
