"""The typed flow tree: frozen dataclasses built once by ``agentctl.flow.parse`` from s.yaml's ``props.flow``.

Every node carries a ``NodeMeta`` (its name, the state key its output goes under, timeout and
retries, and ``where``: its YAML path, for messages). Composite nodes hold their children;
leaves are the three kinds of agent. The executor matches on these classes.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Literal

from agentctl.flow.expr import Expr, Template

YamlPath = tuple[str | int, ...]

MAX_LOOP_ITERATIONS = 1000  # the hard cap of every loop ("Max loop count reached")
MIN_PARALLEL, MAX_PARALLEL = 2, 10
DEFAULT_AGENT_TIMEOUT = 60.0  # seconds, per attempt of a leaf agent
DEFAULT_FLOW_TIMEOUT = 300.0  # seconds, a whole run
DEFAULT_RUNTIME_PATH = "/openai/v1/chat/completions"
DEFAULT_PICK_RETRIES = 2

MergeStrategy = Literal["map", "list", "concat"]
OnError = Literal["fail", "report"]


@dataclass(frozen=True)
class NodeMeta:
    name: str
    output_key: str
    description: str
    timeout: float | None  # seconds per attempt; None: bounded by the children and the flow
    retries: int  # extra attempts after a failure
    where: YamlPath


@dataclass(frozen=True)
class Merge:
    """How a parallel node (or a multi-pick route) joins its branches."""

    strategy: MergeStrategy = "map"
    separator: str = "\n\n"
    on_error: OnError = "fail"
    max_concurrency: int | None = None


@dataclass(frozen=True)
class ChatEndpoint:
    """An OpenAI-compatible chat completions endpoint: ``url`` is the full POST URL."""

    url: str
    model: str | None = None
    api_key_env: str | None = None  # read from the instance's environment at run time: the key never ships
    headers: Mapping[str, Template] = field(default_factory=dict)
    temperature: float | None = None


@dataclass(frozen=True)
class Sequential:
    meta: NodeMeta
    agents: tuple[Node, ...]


@dataclass(frozen=True)
class Parallel:
    meta: NodeMeta
    agents: tuple[Node, ...]
    merge: Merge


@dataclass(frozen=True)
class CountLoop:
    count: int


@dataclass(frozen=True)
class ConditionLoop:
    until: Expr
    source: str  # as written, for messages
    max_iterations: int | None  # None: the hard cap, which fails; a number ends the loop normally


@dataclass(frozen=True)
class ArrayLoop:
    items: Expr  # a list, or text holding a JSON array
    source: str


@dataclass(frozen=True)
class Loop:
    meta: NodeMeta
    agent: Node
    strategy: CountLoop | ConditionLoop | ArrayLoop


@dataclass(frozen=True)
class Route:
    meta: NodeMeta
    model: ChatEndpoint
    agents: tuple[Node, ...]
    multiple: bool
    pick_retries: int
    fallback: Node | None
    instruction: str
    merge: Merge


@dataclass(frozen=True)
class RuntimeAgent:
    """Another resource of the same s.yaml; ``url`` is filled at deploy time (``bind_runtime_urls``)."""

    meta: NodeMeta
    resource: str
    endpoint: str
    path: str
    url: str | None
    headers: Mapping[str, Template]
    input: Template


@dataclass(frozen=True)
class OpenAIAgent:
    meta: NodeMeta
    endpoint: ChatEndpoint
    input: Template


@dataclass(frozen=True)
class LlmAgent:
    meta: NodeMeta
    endpoint: ChatEndpoint
    system: Template | None
    input: Template


Node = Sequential | Parallel | Loop | Route | RuntimeAgent | OpenAIAgent | LlmAgent
Agent = RuntimeAgent | OpenAIAgent | LlmAgent


@dataclass(frozen=True)
class Flow:
    name: str
    description: str
    env: Mapping[str, str]
    timeout: float
    root: Node


@dataclass(frozen=True)
class RuntimeRef:
    """A runtime a flow calls: phase 2 checks that ``resource`` exists and orders it before the flow."""

    resource: str
    endpoint: str
    where: YamlPath


def node_type(node: Node) -> str:
    """The ``type:`` a node was written with."""
    match node:
        case Sequential():
            return "sequential"
        case Parallel():
            return "parallel"
        case Loop():
            return "loop"
        case Route():
            return "route"
        case RuntimeAgent():
            return "runtime"
        case OpenAIAgent():
            return "openai"
    return "llm"


def children(node: Node) -> tuple[Node, ...]:
    match node:
        case Sequential(agents=agents) | Parallel(agents=agents):
            return agents
        case Loop(agent=agent):
            return (agent,)
        case Route(agents=agents, fallback=fallback):
            return agents + ((fallback,) if fallback else ())
    return ()


def walk(node: Node) -> Iterator[Node]:
    yield node
    for child in children(node):
        yield from walk(child)


def runtime_refs(flow: Flow) -> list[RuntimeRef]:
    """The runtimes of the same s.yaml that ``flow`` calls, in tree order (duplicates kept: each has a place)."""
    return [RuntimeRef(n.resource, n.endpoint, n.meta.where) for n in walk(flow.root) if isinstance(n, RuntimeAgent)]
