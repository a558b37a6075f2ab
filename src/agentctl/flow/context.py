"""What one run of a flow carries: its inputs, the shared state, node results, failures and trace events.

``Result`` is what a node hands on: ``content`` (the text the next node receives as ``last``) and
``value`` (what goes into ``state[outputKey]``: the same text for agents, a map or list for merges
and forEach loops). ``FlowFailure`` is a node that failed: it names the node path, and the runner
turns it into the error body of the protocol in use. ``NodeScope`` is what expressions read.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any, Protocol

from agentctl.flow.expr import ExpressionError, Key

Sink = Callable[[str], Awaitable[None]]  # receives the text deltas of the agent that answers last


@dataclass(frozen=True)
class Result:
    content: str
    value: Any

    @classmethod
    def text(cls, content: str) -> Result:
        return cls(content, content)


class FlowFailure(Exception):
    """A node failed; ``path`` is the node path (``pipeline/fanout/upper``), ``code`` a stable name."""

    def __init__(self, path: str, message: str, *, code: str = "AgentFailed", status: int = 502) -> None:
        super().__init__(f"{path}: {message}")
        self.path, self.message, self.code, self.status = path, message, code, status

    def body(self) -> dict[str, Any]:
        return {"message": str(self), "type": "flow_error", "code": self.code, "node": self.path}


@dataclass(frozen=True)
class RunInput:
    """The ``sys.*`` inputs of a run (as in AgentRun Flow test runs) plus Dify ``inputs``."""

    query: str
    conversation_id: str = ""
    user_id: str = ""
    inputs: Mapping[str, Any] = field(default_factory=dict)
    request_id: str = ""


@dataclass
class NodeEvent:
    """One node execution, for the log and for Dify node_started / node_finished events."""

    request_id: str
    path: str
    type: str
    title: str
    index: int  # 1-based order of start within the run
    started_at: float  # epoch seconds
    input: str
    finished_at: float | None = None
    outcome: str = "running"  # ok | error
    output: Any = None
    error: str | None = None
    attempts: int = 1
    detail: dict[str, Any] = field(default_factory=dict)  # e.g. the route's picks

    @property
    def duration_ms(self) -> float:
        return 0.0 if self.finished_at is None else (self.finished_at - self.started_at) * 1000


class Observer(Protocol):
    def node_started(self, event: NodeEvent) -> None: ...

    def node_finished(self, event: NodeEvent) -> None: ...

    def note(self, event: NodeEvent, message: str) -> None: ...


@dataclass
class Run:
    """Mutable per-request state shared by every node of one run (asyncio: one thread, no locks)."""

    input: RunInput
    env: Mapping[str, str]
    observers: tuple[Observer, ...] = ()
    state: dict[str, Any] = field(default_factory=dict)
    started: int = 0

    def next_index(self) -> int:
        self.started += 1
        return self.started


@dataclass(frozen=True)
class LoopVars:
    index: int
    item: Any = None


@dataclass(frozen=True)
class NodeScope:
    """The expression scope of one node: the run, the message it received, the innermost loop."""

    run: Run
    last: Result
    loop: LoopVars | None = None

    def given(self, last: Result) -> NodeScope:
        return replace(self, last=last)

    def lookup(self, root: str, keys: tuple[Key, ...]) -> Any:
        match root:
            case "sys":
                fields = {"query": self.run.input.query, "conversation_id": self.run.input.conversation_id,
                          "user_id": self.run.input.user_id}
                return dig(fields, keys)
            case "state":
                return dig(self.run.state, keys)
            case "inputs":
                return dig(dict(self.run.input.inputs), keys)
            case "env":
                name = str(keys[0])
                if name not in self.run.env:
                    raise ExpressionError(f"env.{name} is not set",
                                          hint=f"Set {name} in the flow's env or the runtime's environmentVariables.")
                return self.run.env[name]
            case "loop":
                if self.loop is None:
                    return None
                return dig({"index": self.loop.index, "item": self.loop.item}, keys)
            case "last":
                if not keys or keys[0] == "content":
                    return self.last.content
                try:
                    parsed = json.loads(self.last.content)
                except ValueError:
                    raise ExpressionError(f"last.json: the message is not JSON: {preview(self.last.content)}",
                                          hint="Use last.content, or make the agent answer with JSON.") from None
                return dig(parsed, keys[1:])
        raise ExpressionError(f"unknown root {root!r}")


def dig(value: Any, keys: tuple[Key, ...]) -> Any:
    """Walk maps and lists; text met on the way is read as JSON (agents answer JSON as text). Missing → None."""
    for key in keys:
        if isinstance(value, str):
            try:
                value = json.loads(value)
            except ValueError:
                return None
        if isinstance(value, dict):
            value = value.get(str(key))
        elif isinstance(value, list) and isinstance(key, int) and -len(value) <= key < len(value):
            value = value[key]
        else:
            return None
    return value


def preview(text: str, limit: int = 200) -> str:
    flat = " ".join(text.split())
    return repr(flat if len(flat) <= limit else flat[:limit] + "…")
