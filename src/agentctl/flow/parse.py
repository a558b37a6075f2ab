"""``props.flow`` (a plain dict, as s.yaml holds it after interpolation) → the typed ``Flow`` tree.

All problems are collected and raised together as ``FlowSpecError``; each ``FlowIssue`` has the
YAML path of the field (``where`` prefix + the path inside the flow), so ``verify`` can attach the
line with ``Project.line_of``. Checked here: node types, fields and their types and ranges,
expressions and templates (with the column), sibling names and output keys, ``state.<key>``
references to keys no node writes, ``loop.*`` outside a loop body, parallel width (2–10), route
candidates without a description, runtime nodes not yet bound to a URL (``require_urls``).
Not checked here (they need the whole s.yaml): runtime resources that do not exist, cycles
between flows — ``runtime_refs`` lists what phase 2 checks.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from agentctl.flow.expr import ROOTS, Expr, Ref, Template, refs
from agentctl.flow.fields import FlowIssue, FlowSpecError, Reader, did_you_mean
from agentctl.flow.model import (
    DEFAULT_AGENT_TIMEOUT,
    DEFAULT_FLOW_TIMEOUT,
    DEFAULT_PICK_RETRIES,
    DEFAULT_RUNTIME_PATH,
    MAX_LOOP_ITERATIONS,
    MAX_PARALLEL,
    MIN_PARALLEL,
    ArrayLoop,
    ChatEndpoint,
    ConditionLoop,
    CountLoop,
    Flow,
    LlmAgent,
    Loop,
    Merge,
    Node,
    NodeMeta,
    OpenAIAgent,
    Parallel,
    Route,
    RuntimeAgent,
    Sequential,
    YamlPath,
)

NODE_TYPES = ("sequential", "parallel", "loop", "route", "runtime", "openai", "llm")
LEAF_TYPES = ("runtime", "openai", "llm")
COMMON = ("type", "name", "description", "outputKey", "timeout", "retries")
MERGE = ("merge", "separator", "onError", "maxConcurrency", "mergeOutputKey")
ENDPOINT = ("baseUrl", "model", "apiKeyEnv", "headers")
FIELDS: dict[str, tuple[str, ...]] = {
    "sequential": ("agents",),
    "parallel": ("agents", *MERGE),
    "loop": ("agent", "count", "until", "maxIterations", "forEach"),
    "route": ("agents", "fallback", "multiple", "pickRetries", "instruction", "temperature", *ENDPOINT, *MERGE),
    "runtime": ("resource", "endpoint", "path", "url", "headers", "input"),
    "openai": ("input", *ENDPOINT),
    "llm": ("input", "system", "temperature", *ENDPOINT),
}
FLOW_FIELDS = ("name", "description", "env", "timeout", "root")
DEFAULT_INPUT = "{{ last.content }}"
LoopKind = Literal["count", "until", "forEach"]


@dataclass(frozen=True)
class _Context:
    loop: LoopKind | None = None  # the innermost loop around this node


def parse_flow(data: Any, *, where: YamlPath = ("flow",), default_name: str = "flow",
               require_urls: bool = False) -> Flow:
    """The typed flow, or ``FlowSpecError`` listing every problem."""
    flow, issues = _FlowParser(require_urls).flow(data, where, default_name)
    if issues or flow is None:
        raise FlowSpecError(issues or [FlowIssue(where, "the flow could not be read")])
    return flow


def check_flow(data: Any, *, where: YamlPath = ("flow",), require_urls: bool = False) -> list[FlowIssue]:
    """The problems ``parse_flow`` would raise, as a list (empty when the flow is valid): for ``verify``."""
    return _FlowParser(require_urls).flow(data, where, "flow")[1]


class _FlowParser:
    def __init__(self, require_urls: bool) -> None:
        self.require_urls = require_urls
        self.issues: list[FlowIssue] = []
        self.output_keys: set[str] = set()
        self.state_refs: list[tuple[YamlPath, Ref]] = []

    def flow(self, data: Any, where: YamlPath, default_name: str) -> tuple[Flow | None, list[FlowIssue]]:
        if not isinstance(data, dict):
            self.issues.append(FlowIssue(where, "flow must be a map with a root node",
                                         "Write flow: {name: ..., root: {type: sequential, agents: [...]}}."))
            return None, self.issues
        top = Reader(data, where, self.issues)
        top.only(FLOW_FIELDS, "a flow")
        name = top.name("name", default=default_name) or default_name
        env = self.env(top)
        timeout = top.number("timeout", 1, 3600, default=DEFAULT_FLOW_TIMEOUT) or DEFAULT_FLOW_TIMEOUT
        root = None
        if "root" not in data:
            top.problem(None, "missing field 'root'", "Add root: {type: sequential, agents: [...]}.")
        else:
            root = self.node(top, "root", data["root"], name, _Context())
        self.check_state_refs()
        if root is None or self.issues:
            return None, self.issues
        return Flow(name, top.text("description", default="") or "", env, timeout, root), self.issues

    def env(self, top: Reader) -> dict[str, str]:
        raw = top.mapping("env") or {}
        out: dict[str, str] = {}
        for key, value in raw.items():
            if isinstance(value, (dict, list)) or value is None:
                top.problem("env", f"env.{key} must be text or a number, got {type(value).__name__}")
            else:
                out[str(key)] = str(value).lower() if isinstance(value, bool) else str(value)
        return out

    def node(self, parent: Reader, key: str | int, value: Any, default_name: str, ctx: _Context) -> Node | None:
        reader = parent.sub(key, value)
        if reader is None:
            return None
        kind = reader.text("type", required=True)
        if kind is None:
            return None
        if kind not in NODE_TYPES:
            reader.problem("type", f"unknown node type {kind!r}.{did_you_mean(kind, NODE_TYPES)}",
                           f"The node types are: {', '.join(NODE_TYPES)}.")
            return None
        reader.only((*COMMON, *FIELDS[kind]), f"a {kind} node")
        if kind == "runtime" and isinstance(value.get("resource"), str):
            default_name = value["resource"]
        meta = self.meta(reader, kind, default_name)
        match kind:
            case "sequential":
                return Sequential(meta, self.children(reader, ctx, low=1, high=None))
            case "parallel":
                agents = self.children(reader, ctx, low=MIN_PARALLEL, high=MAX_PARALLEL, unique_keys=True)
                return Parallel(meta, agents, self.merge(reader))
            case "loop":
                return self.loop(reader, meta, ctx)
            case "route":
                return self.route(reader, meta, ctx)
        return self.agent(reader, kind, meta, ctx)

    def meta(self, reader: Reader, kind: str, default_name: str) -> NodeMeta:
        name = reader.name("name", default=default_name) or default_name
        output_key = reader.name("outputKey")
        if kind in ("parallel", "route") and "mergeOutputKey" in reader.data:
            if output_key is not None:
                reader.problem("mergeOutputKey", "give outputKey or mergeOutputKey, not both",
                               "They name the same thing: the state key of the merged result.")
            output_key = reader.name("mergeOutputKey")
        output_key = output_key or name
        self.output_keys.add(output_key)
        default_timeout = DEFAULT_AGENT_TIMEOUT if kind in LEAF_TYPES else None
        return NodeMeta(
            name=name, output_key=output_key, description=reader.text("description", default="") or "",
            timeout=reader.number("timeout", 0.001, 3600, default=default_timeout),
            retries=reader.integer("retries", 0, 10, default=0) or 0, where=reader.where,
        )

    def children(self, reader: Reader, ctx: _Context, *, low: int, high: int | None,
                 unique_keys: bool = False, key: str = "agents") -> tuple[Node, ...]:
        raw = reader.typed(key, list, "a list of nodes", required=True)
        if raw is None:
            return ()
        if len(raw) < low or (high is not None and len(raw) > high):
            bounds = f"from {low} to {high}" if high else f"at least {low}"
            reader.problem(key, f"{key} must hold {bounds} nodes, got {len(raw)}")
        nested = Reader({}, (*reader.where, key), self.issues)
        nodes = [self.node(nested, i, item, self.default_child_name(item, i), ctx) for i, item in enumerate(raw)]
        found = tuple(node for node in nodes if node is not None)
        clashes = self.unique(nested, found, lambda n: n.meta.name, "name", set())
        if unique_keys:
            self.unique(nested, found, lambda n: n.meta.output_key, "output key", clashes)
        return found

    @staticmethod
    def default_child_name(item: Any, index: int) -> str:
        kind = item.get("type") if isinstance(item, dict) else None
        return f"{kind if isinstance(kind, str) and kind.isidentifier() else 'node'}{index + 1}"

    @staticmethod
    def unique(reader: Reader, nodes: tuple[Node, ...], key: Any, label: str, skip: set[YamlPath]) -> set[YamlPath]:
        """Report siblings sharing a name (or output key); returns the nodes reported."""
        seen: dict[str, int] = {}
        reported: set[YamlPath] = set()
        for node in nodes:
            value, index = key(node), node.meta.where[-1]
            if value in seen and node.meta.where not in skip:
                reader.problem(index, f"{label} {value!r} is used twice here (also by item {seen[value]})",
                               f"Give every sibling its own {'outputKey' if label == 'output key' else 'name'}.")
                reported.add(node.meta.where)
            seen.setdefault(value, index if isinstance(index, int) else 0)
        return reported

    def merge(self, reader: Reader) -> Merge:
        strategy = reader.choice("merge", ("map", "list", "concat"), "map")
        if "separator" in reader.data and strategy != "concat":
            reader.problem("separator", "separator only applies to merge: concat")
        return Merge(
            strategy=strategy,  # type: ignore[arg-type]  # choice() returns one of the listed values
            separator=reader.text("separator", default="\n\n") or "",
            on_error=reader.choice("onError", ("fail", "report"), "fail"),  # type: ignore[arg-type]
            max_concurrency=reader.integer("maxConcurrency", 1, MAX_PARALLEL),
        )

    def loop(self, reader: Reader, meta: NodeMeta, ctx: _Context) -> Loop | None:
        given = [key for key in ("count", "until", "forEach") if key in reader.data]
        if len(given) != 1:
            got = ", ".join(given) or "none"
            reader.problem(None, f"a loop needs exactly one of count, until, forEach (got {got})",
                           "count: N repeats N times; until: <condition> repeats until it holds; "
                           "forEach: <expression> runs once per element of a JSON array.")
            return None
        if "maxIterations" in reader.data and given != ["until"]:
            reader.problem("maxIterations", "maxIterations only applies to until loops")
        strategy: CountLoop | ConditionLoop | ArrayLoop | None = None
        kind: LoopKind = given[0]  # type: ignore[assignment]
        if kind == "count":
            count = reader.integer("count", 1, MAX_LOOP_ITERATIONS, required=True)
            strategy = CountLoop(count) if count else None
        elif kind == "until":
            parsed = reader.expression("until", required=True)
            if parsed:
                self.track(reader, "until", [parsed[0]], ctx, body=_Context(loop="until"))
                strategy = ConditionLoop(parsed[0], parsed[1], reader.integer("maxIterations", 1, MAX_LOOP_ITERATIONS))
        else:
            parsed = reader.expression("forEach", required=True)
            if parsed:
                self.track(reader, "forEach", [parsed[0]], ctx)
                strategy = ArrayLoop(parsed[0], parsed[1])
        if "agent" not in reader.data:
            reader.problem(None, "missing field 'agent'", "A loop repeats one node: add agent: {type: ..., ...}.")
            return None
        body = self.node(reader, "agent", reader.data["agent"], "body", _Context(loop=kind))
        return Loop(meta, body, strategy) if body and strategy else None

    def route(self, reader: Reader, meta: NodeMeta, ctx: _Context) -> Route | None:
        endpoint = self.endpoint(reader, ctx, model_required=True, temperature_default=0.0)
        agents = self.children(reader, ctx, low=1, high=MAX_PARALLEL, unique_keys=True)
        for agent in agents:
            if not agent.meta.description.strip():
                message = f"route candidate {agent.meta.name!r} has no description"
                hint = "The model picks by description: say what this agent is good at."
                self.issues.append(FlowIssue(agent.meta.where, message, hint))
        fallback = None
        if "fallback" in reader.data:
            fallback = self.node(reader, "fallback", reader.data["fallback"], "fallback", ctx)
        if endpoint is None:
            return None
        return Route(meta, endpoint, agents, reader.flag("multiple", False),
                     reader.integer("pickRetries", 0, 10, default=DEFAULT_PICK_RETRIES) or 0, fallback,
                     reader.text("instruction", default="") or "", self.merge(reader))

    def endpoint(self, reader: Reader, ctx: _Context, *, model_required: bool,
                 temperature_default: float | None) -> ChatEndpoint | None:
        base = reader.text("baseUrl", required=True)
        if base is not None and not base.startswith(("http://", "https://")):
            reader.problem("baseUrl", f"baseUrl must be an http(s) URL, got {base!r}",
                           "Use the OpenAI-compatible base URL, e.g. https://api.openai.com/v1.")
            base = None
        model = reader.text("model", required=model_required)
        key_env = reader.text("apiKeyEnv")
        if key_env is not None and not key_env.replace("_", "a").isalnum():
            reader.problem("apiKeyEnv", f"apiKeyEnv names an environment variable, got {key_env!r}",
                           "Write the variable's name, e.g. apiKeyEnv: DASHSCOPE_API_KEY (not the key itself).")
        headers = self.headers(reader, ctx)
        temperature = reader.number("temperature", 0, 2, default=temperature_default)
        if base is None:
            return None
        return ChatEndpoint(base.rstrip("/") + "/chat/completions", model, key_env, headers, temperature)

    def agent(self, reader: Reader, kind: str, meta: NodeMeta, ctx: _Context) -> Node | None:
        template = self.template(reader, "input", ctx, DEFAULT_INPUT)
        if kind == "runtime":
            resource = reader.text("resource", required=True)
            url = reader.text("url")
            if url is None and self.require_urls:
                reader.problem(None, f"runtime node {meta.name!r} has no URL",
                               "Deploy fills it from the resource's endpoint; a local run binds it with "
                               "bind_runtime_urls (runner --runtime RESOURCE=URL).")
            headers = self.headers(reader, ctx)
            path = reader.text("path", default=DEFAULT_RUNTIME_PATH) or DEFAULT_RUNTIME_PATH
            if resource is None or template is None:
                return None
            return RuntimeAgent(meta, resource, reader.text("endpoint", default="default") or "default",
                                "/" + path.lstrip("/"), url, headers, template)
        endpoint = self.endpoint(reader, ctx, model_required=kind == "llm", temperature_default=None)
        if endpoint is None or template is None:
            return None
        if kind == "openai":
            return OpenAIAgent(meta, endpoint, template)
        return LlmAgent(meta, endpoint, self.template(reader, "system", ctx, None), template)

    def template(self, reader: Reader, key: str, ctx: _Context, default: str | None) -> Template | None:
        template = reader.template(key, default)
        if template is not None:
            self.track(reader, key, [part for part in template.parts if not isinstance(part, str)], ctx)
        return template

    def headers(self, reader: Reader, ctx: _Context) -> dict[str, Template]:
        headers = reader.headers()
        holes = [part for template in headers.values() for part in template.parts if not isinstance(part, str)]
        self.track(reader, "headers", holes, ctx)
        return headers

    def track(self, reader: Reader, key: str, exprs: list[Expr], ctx: _Context,
              body: _Context | None = None) -> None:
        """Check the paths an expression reads: loop.* needs a loop around it; state keys are checked at the end."""
        scope = body or ctx
        for ref in (ref for expr in exprs for ref in refs(expr)):
            if ref.root == "state" and ref.keys:
                self.state_refs.append(((*reader.where, key), ref))
            if ref.root != "loop":
                continue
            if scope.loop is None:
                reader.problem(key, f"{ref.dotted()} is only set inside a loop body",
                               "Move this into the agent of a loop node, or read state.<outputKey> instead.")
            elif ref.keys[:1] == ("item",) and scope.loop != "forEach":
                reader.problem(key, "loop.item is only set in forEach loops",
                               "Use loop.index in count and until loops.")

    def check_state_refs(self) -> None:
        for where, ref in self.state_refs:
            name = ref.keys[0]
            if isinstance(name, str) and name not in self.output_keys:
                known = ", ".join(sorted(self.output_keys)) or "none"
                self.issues.append(FlowIssue(where, f"{ref.dotted()}: no node writes {name!r}."
                                             f"{did_you_mean(name, self.output_keys)}",
                                             f"state.<key> reads a node's output; the keys are: {known}."))


__all__ = ["NODE_TYPES", "ROOTS", "check_flow", "parse_flow"]
