"""The one expression form of flows: conditions, values and ``{{ }}`` templates (parsed, never ``eval``-ed).

Grammar (keywords are lower case; whitespace is free)::

    expr    := or
    or      := and ("or" and)*
    and     := not ("and" not)*
    not     := "not" not | compare
    compare := value (("==" | "!=" | "<" | "<=" | ">" | ">=" | "contains") value)?
    value   := STRING | NUMBER | "true" | "false" | "null" | path | "(" expr ")"
    path    := ROOT ("." NAME | "[" (NUMBER | STRING) "]")*
    ROOT    := sys | state | env | last | loop | inputs

Strings are single- or double-quoted with backslash escapes (``\\"``, ``\\\\``, ``\\n``).
The roots (what a flow can read):

    sys.query, sys.conversation_id, sys.user_id   the request (as in AgentRun Flow test runs)
    state.<outputKey>[...]                         a node's output (a map for a parallel map merge)
    env.<NAME>                                     the flow's env, overridden by the instance's environment
    last.content, last.json[...]                   the message the current node received, as text / parsed JSON
    loop.index, loop.item                          inside a loop body: 0-based iteration, forEach element
    inputs.<name>                                  Dify ``inputs`` of /v1/workflows/run (empty for OpenAI calls)

Comparisons: a text that reads as a number equals that number (agents answer in text, so
``last.content == 3`` holds for ``"3"``); ``<``/``>`` need two numbers or two texts; ``contains`` is
substring for text, membership for a list, key for a map. ``and``/``or``/``not`` take truthiness
(empty text, 0, null, empty list/map are false). Templates are text with ``{{ expr }}`` holes; a
value renders as itself when text, ``""`` when null, JSON otherwise.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal, Protocol

ROOTS = ("sys", "state", "env", "last", "loop", "inputs")
SYS_FIELDS = ("query", "conversation_id", "user_id")
LAST_FIELDS = ("content", "json")
LOOP_FIELDS = ("index", "item")
OPERATORS = ("==", "!=", "<=", ">=", "<", ">", "contains")
KEYWORDS = ("and", "or", "not", "true", "false", "null", "contains")

Key = str | int
CompareOp = Literal["==", "!=", "<", "<=", ">", ">=", "contains"]


class ExpressionError(Exception):
    """A malformed expression (``column`` is 1-based within ``text``), or one that cannot be evaluated."""

    def __init__(self, message: str, *, text: str = "", column: int | None = None, hint: str | None = None) -> None:
        super().__init__(message)
        self.message, self.text, self.column, self.hint = message, text, column, hint

    def __str__(self) -> str:
        return f"{self.message} (column {self.column})" if self.column else self.message


class Scope(Protocol):
    """What an expression reads: ``lookup("state", ("fanout", "upper"))``."""

    def lookup(self, root: str, keys: tuple[Key, ...]) -> Any: ...


@dataclass(frozen=True)
class Const:
    value: Any


@dataclass(frozen=True)
class Ref:
    root: str
    keys: tuple[Key, ...]
    column: int

    def dotted(self) -> str:
        out = self.root
        for key in self.keys:
            out += f"[{key}]" if isinstance(key, int) else f".{key}"
        return out


@dataclass(frozen=True)
class Not:
    operand: Expr


@dataclass(frozen=True)
class BoolOp:
    op: Literal["and", "or"]
    operands: tuple[Expr, ...]


@dataclass(frozen=True)
class Compare:
    op: CompareOp
    left: Expr
    right: Expr


Expr = Const | Ref | Not | BoolOp | Compare


@dataclass(frozen=True)
class Token:
    kind: Literal["num", "str", "name", "op", "punct", "end"]
    text: str
    value: Any
    column: int


def _tokenize(text: str) -> list[Token]:
    tokens: list[Token] = []
    i = 0
    while i < len(text):
        ch = text[i]
        column = i + 1
        if ch.isspace():
            i += 1
        elif ch in "\"'":
            value, i = _read_string(text, i)
            tokens.append(Token("str", text[column - 1:i], value, column))
        elif ch.isdigit() or (ch == "-" and i + 1 < len(text) and text[i + 1].isdigit()):
            j = i + 1
            while j < len(text) and (text[j].isdigit() or text[j] == "."):
                j += 1
            literal = text[i:j]
            try:
                number: float | int = float(literal) if "." in literal else int(literal)
            except ValueError:
                raise ExpressionError(f"{literal!r} is not a number", text=text, column=column,
                                      hint="Write numbers like 3 or 0.5.") from None
            tokens.append(Token("num", literal, number, column))
            i = j
        elif ch.isalpha() or ch == "_":
            j = i
            while j < len(text) and (text[j].isalnum() or text[j] in "_-"):
                j += 1
            tokens.append(Token("name", text[i:j], text[i:j], column))
            i = j
        elif text.startswith(("==", "!=", "<=", ">="), i):
            tokens.append(Token("op", text[i:i + 2], text[i:i + 2], column))
            i += 2
        elif ch in "<>":
            tokens.append(Token("op", ch, ch, column))
            i += 1
        elif ch in ".[]()":
            tokens.append(Token("punct", ch, ch, column))
            i += 1
        else:
            hint = "Compare with == (not =)." if ch == "=" else "Use and/or/not, ==, !=, <, <=, >, >=, contains."
            raise ExpressionError(f"unexpected character {ch!r}", text=text, column=column, hint=hint)
    tokens.append(Token("end", "", None, len(text) + 1))
    return tokens


def _read_string(text: str, start: int) -> tuple[str, int]:
    quote, i, out = text[start], start + 1, []
    escapes = {"n": "\n", "t": "\t", "\\": "\\", '"': '"', "'": "'"}
    while i < len(text):
        ch = text[i]
        if ch == "\\" and i + 1 < len(text):
            out.append(escapes.get(text[i + 1], text[i + 1]))
            i += 2
        elif ch == quote:
            return "".join(out), i + 1
        else:
            out.append(ch)
            i += 1
    raise ExpressionError("unterminated string", text=text, column=start + 1, hint=f"Close it with {quote}.")


class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.tokens = _tokenize(text)
        self.pos = 0

    def error(self, message: str, token: Token, hint: str | None = None) -> ExpressionError:
        return ExpressionError(message, text=self.text, column=token.column, hint=hint)

    @property
    def peek(self) -> Token:
        return self.tokens[self.pos]

    def take(self) -> Token:
        token = self.tokens[self.pos]
        self.pos += 1
        return token

    def at_end(self) -> bool:
        return self.peek.kind == "end"

    def at_word(self, word: str) -> bool:
        return self.peek.kind == "name" and self.peek.text == word

    def parse(self) -> Expr:
        if self.at_end():
            raise self.error("empty expression", self.peek, "Write a condition like last.content contains \"DONE\".")
        expr = self.parse_bool("or")
        if not self.at_end():
            raise self.error(f"unexpected {self.peek.text!r}", self.peek,
                             "Join conditions with and/or; compare with ==, !=, <, <=, >, >=, contains.")
        return expr

    def parse_bool(self, op: Literal["and", "or"]) -> Expr:
        inner: Callable[[], Expr] = self.parse_not if op == "and" else lambda: self.parse_bool("and")
        operands = [inner()]
        while self.at_word(op):
            self.take()
            operands.append(inner())
        return operands[0] if len(operands) == 1 else BoolOp(op, tuple(operands))

    def parse_not(self) -> Expr:
        if self.at_word("not"):
            self.take()
            return Not(self.parse_not())
        return self.parse_compare()

    def parse_compare(self) -> Expr:
        left = self.parse_value()
        token = self.peek
        if token.kind == "op" or (token.kind == "name" and token.text == "contains"):
            self.take()
            op: CompareOp = token.text  # type: ignore[assignment]  # the tokenizer only yields OPERATORS here
            return Compare(op, left, self.parse_value())
        return left

    def parse_value(self) -> Expr:
        token = self.take()
        if token.kind in ("num", "str"):
            return Const(token.value)
        if token.kind == "punct" and token.text == "(":
            inner = self.parse_bool("or")
            if self.peek.text != ")":
                raise self.error("missing )", self.peek, "Close every ( with ).")
            self.take()
            return inner
        if token.kind == "name":
            words = {"true": True, "false": False, "null": None}
            if token.text in words:
                return Const(words[token.text])
            return self.parse_path(token)
        if token.kind == "end":
            raise self.error("expression ends too early", token, "Finish the comparison, e.g. last.content == \"x\".")
        raise self.error(f"unexpected {token.text!r}", token, "Expected a value: \"text\", a number or a path.")

    def parse_path(self, root: Token) -> Ref:
        if root.text not in ROOTS:
            raise self.error(f"unknown name {root.text!r}", root,
                             f"Paths start with one of: {', '.join(ROOTS)}; quote text as \"{root.text}\".")
        keys: list[Key] = []
        while self.peek.kind == "punct" and self.peek.text in ".[":
            if self.take().text == ".":
                name = self.take()
                if name.kind != "name":
                    raise self.error("expected a name after '.'", name, "Write paths like state.research.")
                keys.append(name.text)
            else:
                key = self.take()
                if key.kind not in ("num", "str") or (key.kind == "num" and not isinstance(key.value, int)):
                    raise self.error("expected an index or a quoted key inside [ ]", key, 'Write [0] or ["key"].')
                if self.take().text != "]":
                    raise self.error("missing ]", self.tokens[self.pos - 1], "Close every [ with ].")
                keys.append(key.value)
        ref = Ref(root.text, tuple(keys), root.column)
        self.check_fields(ref, root)
        return ref

    def check_fields(self, ref: Ref, root: Token) -> None:
        fields = {"sys": SYS_FIELDS, "last": LAST_FIELDS, "loop": LOOP_FIELDS}.get(ref.root)
        if not ref.keys:
            if ref.root == "last":
                return  # bare `last` means last.content
            raise self.error(f"{ref.root} needs a field", root, f"Write {ref.root}.<name>.")
        if fields is not None and ref.keys[0] not in fields:
            raise self.error(f"{ref.root} has no field {ref.keys[0]!r}", root,
                             f"The fields of {ref.root} are: {', '.join(fields)}.")
        scalar = ref.root in ("sys", "env") or (ref.root, ref.keys[0]) in (("last", "content"), ("loop", "index"))
        if len(ref.keys) > 1 and scalar:
            raise self.error(f"{ref.root}.{ref.keys[0]} is text and has no fields", root,
                             "Read fields of parsed JSON instead, e.g. last.json.score.")


def parse_expression(text: str) -> Expr:
    """Parse a condition or value; ``ExpressionError`` with the column and a hint when it is malformed."""
    return _Parser(text).parse()


def refs(expr: Expr) -> list[Ref]:
    """Every path an expression reads (for validation: unknown state keys, loop.* outside loops)."""
    match expr:
        case Ref():
            return [expr]
        case Not(operand):
            return refs(operand)
        case BoolOp(_, operands):
            return [ref for operand in operands for ref in refs(operand)]
        case Compare(_, left, right):
            return refs(left) + refs(right)
        case _:
            return []


def evaluate(expr: Expr, scope: Scope) -> Any:
    match expr:
        case Const(value):
            return value
        case Ref(root, keys):
            return scope.lookup(root, keys)
        case Not(operand):
            return not truthy(evaluate(operand, scope))
        case BoolOp("and", operands):
            return all(truthy(evaluate(operand, scope)) for operand in operands)
        case BoolOp(_, operands):
            return any(truthy(evaluate(operand, scope)) for operand in operands)
        case Compare(op, left, right):
            return compare(op, evaluate(left, scope), evaluate(right, scope))
    raise AssertionError(expr)


def truthy(value: Any) -> bool:
    return value not in (None, False, 0, "") and value != [] and value != {}


def _as_number(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, str):
        try:
            number = float(value.strip())
        except ValueError:
            return None
        return number if math.isfinite(number) else None
    return None


def compare(op: CompareOp, left: Any, right: Any) -> bool:
    if op == "contains":
        if isinstance(left, str):
            return render_value(right) in left
        if isinstance(left, (list, dict)):
            return right in left
        raise ExpressionError(f"contains needs text, a list or a map on its left, got {describe(left)}")
    numbers = (_as_number(left), _as_number(right))
    numeric = None not in numbers and not (isinstance(left, str) and isinstance(right, str))
    if op in ("==", "!="):
        equal = numbers[0] == numbers[1] if numeric else left == right
        return equal if op == "==" else not equal
    if numeric:
        a, b = numbers
    elif isinstance(left, str) and isinstance(right, str):
        a, b = left, right  # type: ignore[assignment]
    else:
        raise ExpressionError(f"{op} needs two numbers or two texts, got {describe(left)} and {describe(right)}")
    assert a is not None and b is not None
    return {"<": a < b, "<=": a <= b, ">": a > b, ">=": a >= b}[op]


def describe(value: Any) -> str:
    kind = {type(None): "null", bool: "a boolean", str: "text", list: "a list", dict: "a map"}.get(type(value))
    return kind or ("a number" if isinstance(value, (int, float)) else type(value).__name__)


def render_value(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False)


@dataclass(frozen=True)
class Template:
    """Text with ``{{ expr }}`` holes; ``source`` is what was written."""

    source: str
    parts: tuple[str | Expr, ...]

    def render(self, scope: Scope) -> str:
        return "".join(part if isinstance(part, str) else render_value(evaluate(part, scope)) for part in self.parts)

    def refs(self) -> list[Ref]:
        return [ref for part in self.parts if not isinstance(part, str) for ref in refs(part)]


def parse_template(text: str) -> Template:
    """``"Summarize: {{ state.research }}"``; ``ExpressionError`` (column within ``text``) when malformed."""
    parts: list[str | Expr] = []
    i = 0
    while True:
        start = text.find("{{", i)
        if start < 0:
            if "}}" in text[i:]:
                column = text.index("}}", i) + 1
                raise ExpressionError("'}}' without '{{'", text=text, column=column, hint="Open the hole with {{.")
            parts.append(text[i:])
            break
        parts.append(text[i:start])
        end = text.find("}}", start + 2)
        if end < 0:
            raise ExpressionError("'{{' is not closed", text=text, column=start + 1, hint="Close the hole with }}.")
        inner = text[start + 2:end]
        try:
            parts.append(parse_expression(inner))
        except ExpressionError as exc:
            offset = start + 2 + (exc.column or 1)
            raise ExpressionError(exc.message, text=text, column=offset, hint=exc.hint) from None
        i = end + 2
    return Template(text, tuple(part for part in parts if part != ""))
