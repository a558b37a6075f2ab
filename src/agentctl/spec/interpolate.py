"""``${...}`` in string values, with the typing rules of Serverless Devs.

A value that is exactly one ``${...}`` keeps the type of what it resolves to;
text around an expression makes the result a string (numbers and booleans
written as JavaScript writes them, as ``s`` does). Supported expressions:

- references ``a.b.0`` (a dotted path; list items by index), e.g. ``vars.x``,
  ``this.props.x``, ``resources.R.props.x``, ``cwd``;
- ``resources.R.output...``/``resources.R.info...``: kept as written (known only
  after R ran, filled in by ``resolve_outputs``);
- function calls ``f(args)``: without any quote in the arguments, the whole
  argument text is one string literal (``env(HOME)``), and we also accept
  ``env(X, default)`` with each part a literal; with quotes, each argument is a
  string, number, ``true``/``false``/``null``, a reference or a nested call;
- member access on what a call returns, as the JavaScript ``s`` evaluates it:
  ``json(file('c.json')).model``, ``.a.b.c``, ``[0]``, ``['key']``, ``.length``
  of a string or list. ``.0`` after a call is a syntax error there, and here.

The scope (what a reference sees, which functions exist) is passed in, so this
module knows nothing about s.yaml's layout.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

TOKEN = re.compile(r"\$\{([\s\S]*?)\}")
_CALL_START = re.compile(r"^\s*([A-Za-z_$][\w$]*)\s*\(")
# One member access after a call: `.name`, `[2]`, `['key']` or `["key"]` (JavaScript's forms).
_MEMBER = (r"""\s*(?:\.\s*([A-Za-z_$][\w$]*)|\[\s*(?:(-?\d+(?:\.\d+)?)|'((?:[^'\\]|\\.)*)'"""
           r"""|"((?:[^"\\]|\\.)*)")\s*\])""")
_ONE_MEMBER = re.compile(_MEMBER)
_MEMBERS = re.compile(f"(?:{_MEMBER})*")
_REFERENCE = re.compile(r"^\s*([A-Za-z_$][\w$]*(?:\.[^.\s()'\"{}]+)*)\s*$")
_RUNTIME = re.compile(r"^\s*resources\.[^.\s{}]+\.(?:output|info)(?:\.|\s*$)")
_NUMBER = re.compile(r"^-?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?$")


class ExprError(Exception):
    """An expression failed: ``message`` names the expression and what was missing."""

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.message, self.hint = message, hint


class Missing(LookupError):
    """A reference does not exist; ``what`` says which part is missing."""

    def __init__(self, what: str, hint: str | None = None) -> None:
        super().__init__(what)
        self.what, self.hint = what, hint


@dataclass(frozen=True)
class Scope:
    """What expressions can see: ``lookup(path)`` for references, ``call(name, args)`` for functions."""

    lookup: Callable[[tuple[str, ...]], Any]
    call: Callable[[str, list[Any]], Any]


@dataclass(frozen=True)
class Failure:
    """An expression that failed, and its offset in the string (for the column in the message)."""

    error: ExprError
    offset: int


class InterpolationError(Exception):
    def __init__(self, failure: Failure) -> None:
        super().__init__(failure.error.message)
        self.failure = failure


def has_expression(text: str) -> bool:
    """Whether ``render`` has work to do (an unclosed ``${`` too: render refuses it)."""
    return "${" in text


def render(text: str, scope: Scope, *, again: bool = True) -> Any:
    """Resolve every ``${...}`` of ``text``; a lone expression keeps its type.

    As ``s`` does, a result that is a string still holding ``${`` is resolved
    once more (``again``), and a map or list from a function has its strings
    resolved too.
    """
    matches = list(TOKEN.finditer(text))
    unclosed = text.find("${", matches[-1].end() if matches else 0)
    if unclosed >= 0:  # `${vars.region` without its `}` is a typo, not text to keep
        raise InterpolationError(Failure(ExprError(
            f"{text[unclosed:unclosed + 40]} is not closed: `${{` has no `}}`",
            "close the expression with `}`"), unclosed))
    if not matches:
        return text
    if len(matches) == 1 and matches[0].span() == (0, len(text)):
        value = _evaluate_at(matches[0], scope)
        if isinstance(value, dict | list):
            return _render_nested(value, scope)
        return render(value, scope, again=False) if again and isinstance(value, str) else value
    parts: list[str] = []
    position = 0
    for match in matches:
        parts.append(text[position:match.start()])
        parts.append(js_string(_evaluate_at(match, scope)))
        position = match.end()
    parts.append(text[position:])
    result = "".join(parts)
    return render(result, scope, again=False) if again else result


def _render_nested(value: Any, scope: Scope) -> Any:
    if isinstance(value, dict):
        rendered = {key: _render_nested(item, scope) for key, item in value.items()}
        return {key: item for key, item in rendered.items() if item is not None}
    if isinstance(value, list):
        return [_render_nested(item, scope) for item in value]
    return render(value, scope, again=False) if isinstance(value, str) else value


def _evaluate_at(match: re.Match[str], scope: Scope) -> Any:
    try:
        return evaluate(match.group(1), match.group(0), scope)
    except ExprError as exc:
        raise InterpolationError(Failure(exc, match.start())) from exc


def evaluate(code: str, source: str, scope: Scope) -> Any:
    """The value of one expression (``code`` is the text inside ``${}``, ``source`` the whole token)."""
    if _RUNTIME.match(code):
        return source
    call = _call_parts(code)
    if call:
        name, arguments, members = call
        args = _Arguments(arguments, scope).parse() if _has_quote(arguments) else _literal_arguments(arguments)
        value = member_chain(scope.call(name, args), members, source)
    elif _REFERENCE.match(code):
        try:
            value = scope.lookup(tuple(code.strip().split(".")))
        except Missing as exc:
            raise ExprError(f"{source} not found ({exc.what})",
                            exc.hint or "fix the reference, or define the value it names") from exc
    else:
        raise ExprError(f"{source} is not a supported expression",
                        "use a reference such as ${vars.name} or a function such as ${env('NAME')}")
    if value is None:
        raise ExprError(f"{source} not found (the value is null)")
    return value


def _call_parts(code: str) -> tuple[str, str, str] | None:
    """``name(arguments)members`` split at the parenthesis that closes the call (quotes respected), or None."""
    start = _CALL_START.match(code)
    if not start:
        return None
    depth, quote, index = 0, "", start.end() - 1
    while index < len(code):
        char = code[index]
        if quote:
            index += 2 if char == "\\" else 1
            quote = "" if char == quote else quote
            continue
        if char in "'\"":
            quote = char
        depth += 1 if char == "(" else -1 if char == ")" else 0
        if depth == 0:
            return start.group(1), code[start.end():index], code[index + 1:]
        index += 1
    # Unbalanced (an unclosed quote): the arguments run to the last ")", and reading them says what is wrong.
    end = code.rstrip()
    return (start.group(1), end[start.end():-1], "") if end.endswith(")") else None


def member_chain(value: Any, members: str, source: str) -> Any:
    """``value`` followed by ``members`` (``.a[0]['b']``, JavaScript semantics); anything else is refused."""
    position = 0
    while members[position:].strip():
        match = _ONE_MEMBER.match(members, position)
        if not match:
            raise ExprError(f"{source} is not a supported expression",
                            "after a function call use .name, [0] or ['key'] (a list index needs brackets: "
                            "json(...).list[0], as in JavaScript)")
        name, number, single, double = match.groups()
        key: str | float = name if name is not None else float(number) if number is not None else (
            _unescape(single, "'") if single is not None else _unescape(double, '"'))
        value = _member(value, key, source)
        position = match.end()
    return value


def _unescape(body: str, quote: str) -> str:
    try:
        return str(json.loads('"' + (body.replace('\\\'', "'") if quote == "'" else body) + '"'))
    except json.JSONDecodeError:
        return body


def _member(value: Any, key: str | float, source: str) -> Any:
    """``value[key]`` as JavaScript reads it from JSON/YAML data (own keys, list items, ``.length``)."""
    if isinstance(value, dict):
        name = key if isinstance(key, str) else js_string(key)
        if name in value:
            return value[name]
    elif isinstance(value, list | str):
        if key == "length":
            return len(value.encode("utf-16-le")) // 2 if isinstance(value, str) else len(value)
        index = key if isinstance(key, float) else float(key) if key.isdigit() and str(int(key)) == key else None
        if index is not None and index.is_integer() and 0 <= index < len(value):
            return value[int(index)]
    shown = key if isinstance(key, str) else js_string(key)
    raise ExprError(f"{source} not found (no `{shown}` in the {_kind(value)} before it)",
                    "check the name or the index; -o json on `agentctl preview` shows what the function returns")


def _kind(value: Any) -> str:
    if isinstance(value, dict):
        return f"object with {', '.join(sorted(value)[:8]) or 'no keys'}"
    if isinstance(value, list):
        return f"list of {len(value)} item(s)"
    return "null" if value is None else f"{type(value).__name__} value"


def _has_quote(text: str) -> bool:
    return "'" in text or '"' in text


def _literal_arguments(text: str) -> list[Any]:
    """Unquoted arguments are string literals: ``env(A)`` is ``env('A')``, ``env(A, b)`` is ``env('A', 'b')``."""
    if not text.strip():
        return []
    return [part.strip() for part in text.split(",")]


class _Arguments:
    """A tiny parser for quoted argument lists: literals, references and nested calls."""

    def __init__(self, text: str, scope: Scope) -> None:
        self.text, self.scope, self.pos = text, scope, 0

    def parse(self) -> list[Any]:
        values: list[Any] = []
        self._skip()
        if self.pos >= len(self.text):
            return values
        while True:
            values.append(self._value())
            self._skip()
            if self.pos >= len(self.text):
                return values
            if self.text[self.pos] != ",":
                raise self._error()
            self.pos += 1
            self._skip()

    def _skip(self) -> None:
        while self.pos < len(self.text) and self.text[self.pos].isspace():
            self.pos += 1

    def _error(self) -> ExprError:
        return ExprError(f"cannot read the arguments ({self.text}) at character {self.pos + 1}",
                         "quote string arguments, e.g. env('NAME', 'default')")

    def _value(self) -> Any:
        char = self.text[self.pos:self.pos + 1]
        if char in ("'", '"'):
            return self._string(char)
        word = re.match(r"[^,()'\"\s]+", self.text[self.pos:])
        if not word:
            raise self._error()
        self.pos += word.end()
        token = word.group(0)
        self._skip()
        if self.text[self.pos:self.pos + 1] == "(":
            return self._call(token)
        return self._word(token)

    def _string(self, quote: str) -> str:
        end = self.pos + 1
        while end < len(self.text) and self.text[end] != quote:
            end += 2 if self.text[end] == "\\" else 1
        if end >= len(self.text):
            raise self._error()
        literal = self.text[self.pos:end + 1]
        self.pos = end + 1
        if quote == "'":
            literal = '"' + literal[1:-1].replace('"', '\\"').replace("\\'", "'") + '"'
        try:
            return str(json.loads(literal))
        except json.JSONDecodeError:
            return literal[1:-1]

    def _call(self, name: str) -> Any:
        depth, start = 0, self.pos
        for index in range(self.pos, len(self.text)):
            char = self.text[index]
            depth += 1 if char == "(" else -1 if char == ")" else 0
            if depth == 0:
                inner = self.text[start + 1:index]
                args = _Arguments(inner, self.scope).parse() if _has_quote(inner) else _literal_arguments(inner)
                members = _MEMBERS.match(self.text, index + 1)
                assert members is not None  # the pattern also matches nothing
                self.pos = members.end()
                call = self.text[start - len(name):self.pos].strip()
                return member_chain(self.scope.call(name, args), members.group(0), call)
        raise self._error()

    def _word(self, token: str) -> Any:
        constants = {"true": True, "false": False, "null": None, "undefined": None}
        if token in constants:
            return constants[token]
        if _NUMBER.match(token):
            number = float(token)
            return int(number) if number.is_integer() and "." not in token and "e" not in token.lower() else number
        try:
            return self.scope.lookup(tuple(token.split(".")))
        except Missing:
            return None  # as in JavaScript, a missing reference argument is `undefined`


def js_string(value: Any) -> str:
    """``String(value)`` in JavaScript, which is how ``s`` joins values into text."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        if value != value:
            return "NaN"
        if value in (float("inf"), float("-inf")):
            return "Infinity" if value > 0 else "-Infinity"
        return _js_number(value)
    if isinstance(value, list):
        return ",".join("" if item is None else js_string(item) for item in value)
    if isinstance(value, dict):
        return "[object Object]"
    return str(value)


def _js_number(value: float) -> str:
    """ECMAScript Number::toString: the shortest digits (as repr finds them), placed by JavaScript's rules
    (plain up to 1e21, an exponent below 1e-6: ``1e-7``, ``0.00001``, ``1e+21``)."""
    from decimal import Decimal

    if value == 0:
        return "0"
    shortest = Decimal(repr(abs(value))).normalize().as_tuple()
    digits = "".join(map(str, shortest.digits))
    point = len(digits) + int(shortest.exponent)  # value = 0.<digits> × 10^point
    if len(digits) <= point <= 21:
        body = digits + "0" * (point - len(digits))
    elif 0 < point <= 21:
        body = f"{digits[:point]}.{digits[point:]}"
    elif -6 < point <= 0:
        body = "0." + "0" * -point + digits
    else:
        body = (digits[0] + (f".{digits[1:]}" if len(digits) > 1 else "") + f"e{point - 1:+d}")
    return ("-" if value < 0 else "") + body
