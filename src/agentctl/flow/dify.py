"""Import a Dify workflow DSL export (``app.mode: workflow`` or ``advanced-chat``) as ``props.flow``.

``import_dify(document)`` walks ``workflow.graph`` from the start node and returns the flow (a plain
dict for s.yaml) and one ``DifyNote`` per Dify node saying what became of it:

    mapped     llm → llm node (model name, temperature, system and user prompts with their variables);
               question-classifier → route (each class's branch is a candidate, described by the class
               name); iteration → loop forEach (its inner chain is the body); loop → loop until
               (break_conditions, loop_count → maxIterations: Dify also ends normally there); a node with
               several outgoing edges that meet again → parallel (map merge)
    dropped    start (its variables are ``inputs.<name>``), an end/answer that only repeats the last
               node's text (a flow answers with its last output), a variable-aggregator that joins a
               classifier's branches (the route already answers with the picked branch)
    unmapped   everything else, with the reason: if-else (a deterministic branch is not one of the four
               kinds; the import stops there), code, http-request, tool, knowledge-retrieval,
               template-transform, parameter-extractor, assigners, document-extractor, list-operator,
               agent; references to conversation variables or to outputs other than an LLM's text;
               the ``start with``/``end with`` comparisons

Variables: ``{{#sys.query#}}`` → ``{{ sys.query }}`` (also user_id, conversation_id),
``{{#<start>.x#}}`` → ``{{ inputs.x }}``, ``{{#<llm>.text#}}`` → ``{{ state.<its outputKey> }}``,
``{{#env.X#}}`` → ``{{ env.X }}``, ``{{#<iteration>.item#}}`` → ``{{ loop.item }}``. Dify names a model
by provider, not URL: every model gets ``base_url`` and ``api_key_env`` (parameters). The import is
clean when no note is unmapped; the flow then runs what the Dify app ran, node for node.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from agentctl.errors import BadInput

Status = Literal["mapped", "dropped", "unmapped"]
VARIABLE = re.compile(r"\{\{#([^#]+?)#\}\}")
NO_NODE_KIND = {
    "code": "a flow has no code nodes: deploy the code as an agentrun runtime and call it with a runtime node",
    "http-request": "a flow calls agents, not arbitrary HTTP: wrap the API in a runtime and call that",
    "tool": "tools belong inside an agent: give them to an agentrun runtime and call it",
    "agent": "a Dify agent strategy is not portable: deploy the agent as a runtime and call it",
    "knowledge-retrieval": "no retrieval node: put retrieval in an agent runtime",
}
DEFAULT_REASON = "this Dify node has no counterpart among sequential, parallel, loop, route and agent nodes"


@dataclass(frozen=True)
class DifyNote:
    node_id: str
    title: str
    dify_type: str
    status: Status
    detail: str

    def format(self) -> str:
        return f"{self.status:9} {self.dify_type:20} {self.title!r} ({self.node_id}): {self.detail}"


@dataclass
class DifyImport:
    flow: dict[str, Any]
    notes: list[DifyNote] = field(default_factory=list)

    @property
    def clean(self) -> bool:
        return all(note.status != "unmapped" for note in self.notes)


class _Graph:
    def __init__(self, graph: Mapping[str, Any]) -> None:
        self.nodes: dict[str, dict[str, Any]] = {str(n["id"]): n for n in graph.get("nodes") or [] if "id" in n}
        self.out: dict[str, list[tuple[str, str]]] = {}
        self.indegree: dict[str, int] = {}
        for edge in graph.get("edges") or []:
            source, target = str(edge.get("source")), str(edge.get("target"))
            self.out.setdefault(source, []).append((str(edge.get("sourceHandle") or "source"), target))
            self.indegree[target] = self.indegree.get(target, 0) + 1

    def data(self, node_id: str) -> dict[str, Any]:
        return self.nodes.get(node_id, {}).get("data") or {}

    def kind(self, node_id: str) -> str:
        return str(self.data(node_id).get("type", "?"))

    def successors(self, node_id: str) -> list[str]:
        return [target for _, target in self.out.get(node_id, [])]


def import_dify(document: Any, *, base_url: str = "${env('MODEL_BASE_URL')}",
                api_key_env: str = "MODEL_API_KEY") -> DifyImport:
    """The flow of a Dify export (the parsed YAML) and a note per node; BadInput when it is not a workflow."""
    app = document.get("app") if isinstance(document, dict) else None
    if not isinstance(app, dict) or app.get("mode") not in ("workflow", "advanced-chat"):
        mode = app.get("mode") if isinstance(app, dict) else None
        raise BadInput(f"not a Dify workflow export (app.mode is {mode!r})",
                       "Export a workflow or chatflow app from Dify (DSL .yml); chat and agent apps have no graph.")
    graph = (document.get("workflow") or {}).get("graph")
    if not isinstance(graph, dict):
        raise BadInput("the export has no workflow.graph", "Export the app again from Dify's studio (Export DSL).")
    return _Importer(_Graph(graph), base_url, api_key_env).run(app, document.get("workflow") or {})


class _Importer:
    def __init__(self, graph: _Graph, base_url: str, api_key_env: str) -> None:
        self.graph, self.base_url, self.api_key_env = graph, base_url, api_key_env
        self.notes: dict[str, DifyNote] = {}
        self.keys: dict[str, str] = {}  # Dify node id → outputKey
        self.start_ids: set[str] = set()
        self.loop_ids: set[str] = set()
        self.used: set[str] = set()

    def note(self, node_id: str, status: Status, detail: str) -> None:
        """Record what became of a node; an unmapped part outranks everything, and its reasons add up."""
        data = self.graph.data(node_id)
        old = self.notes.get(node_id)
        if old is not None and (old.status == "unmapped") >= (status == "unmapped"):
            if status == old.status == "unmapped" and detail not in old.detail:
                self.notes[node_id] = DifyNote(old.node_id, old.title, old.dify_type, status, f"{old.detail}; {detail}")
            return
        self.notes[node_id] = DifyNote(node_id, str(data.get("title", "")), self.graph.kind(node_id), status, detail)

    def run(self, app: Mapping[str, Any], workflow: Mapping[str, Any]) -> DifyImport:
        starts = [i for i in self.graph.nodes if self.graph.kind(i) == "start"]
        if len(starts) != 1:
            raise BadInput(f"expected one start node, found {len(starts)}", "Check the export's workflow.graph.")
        env = {}
        for variable in workflow.get("environment_variables") or []:
            if variable.get("value_type") == "secret":
                continue  # secrets belong in the runtime's environmentVariables, not in the flow
            env[str(variable.get("name"))] = str(variable.get("value", ""))
        nodes = self.chain(starts[0], stop=None)
        for node_id in self.graph.nodes:
            if node_id not in self.notes:
                self.note(node_id, "unmapped", "not reached from the start node along importable edges")
        root = nodes[0] if len(nodes) == 1 else {"type": "sequential", "name": "main", "agents": nodes}
        flow = {"name": self.slug(str(app.get("name") or "imported")), "description": str(app.get("description") or ""),
                **({"env": env} if env else {}), "root": root}
        order = list(self.graph.nodes)
        return DifyImport(flow, sorted(self.notes.values(), key=lambda n: order.index(n.node_id)))

    def slug(self, title: str, node_id: str | None = None) -> str:
        """A node name from a Dify title, unique in the flow (names are output keys)."""
        base = re.sub(r"[^A-Za-z0-9_-]+", "-", title).strip("-_").lower()[:48] or "node"
        base = base if base[0].isalpha() else f"n-{base}"
        name, i = base, 2
        while name in self.used:
            name, i = f"{base}-{i}", i + 1
        self.used.add(name)
        if node_id is not None:
            self.keys[node_id] = name
        return name

    def chain(self, first: str, stop: str | None) -> list[dict[str, Any]]:
        """The nodes after ``first`` up to (not including) ``stop`` or the end, converted."""
        out: list[dict[str, Any]] = []
        self.convert_marker(first)
        current = first
        while True:
            targets = [t for t in self.graph.successors(current) if t != stop]
            if not targets:
                return out
            if len(targets) > 1 and self.graph.kind(current) not in ("if-else", "question-classifier"):
                node, join = self.parallel(current, targets, stop)
            elif self.graph.kind(targets[0]) == "question-classifier":
                node, join = self.classifier(targets[0], stop)
            elif self.graph.kind(targets[0]) == "if-else":
                self.stop_at(targets[0], "a deterministic branch is not one of the four kinds; the import stops here")
                return out
            else:
                current = targets[0]
                converted = self.convert(current, is_last=not self.graph.successors(current))
                if converted is not None:
                    out.append(converted)
                continue
            out.append(node)
            if join is not None and self.graph.kind(join) == "variable-aggregator":
                if node["type"] == "route":
                    self.keys[join] = node["name"]  # its output is the picked branch's: the route's output
                else:
                    self.note(join, "unmapped", "it keeps one branch's output; a parallel's merge keeps them all")
            if join is None or join == stop:
                return out  # the branches ran to the end (or to the caller's join)
            converted = self.convert(join, is_last=not self.graph.successors(join))
            if converted is not None:
                out.append(converted)
            current = join

    def convert_marker(self, node_id: str) -> None:
        kind = self.graph.kind(node_id)
        if kind == "start":
            self.start_ids.add(node_id)
            names = [str(v.get("variable")) for v in self.graph.data(node_id).get("variables") or []]
            self.note(node_id, "dropped", "its variables are inputs." + ", inputs.".join(names) if names
                      else "the flow starts from sys.query")
        elif kind in ("iteration-start", "loop-start", "custom-iteration-start"):
            self.note(node_id, "dropped", "the loop body starts here")

    def stop_at(self, node_id: str, reason: str) -> None:
        self.note(node_id, "unmapped", reason)
        for target in self.graph.successors(node_id):
            if target not in self.notes:
                self.stop_at(target, "after an unmapped branch")

    def join_of(self, branches: list[str], stop: str | None) -> str | None:
        """The first node every branch reaches by a straight path (in-degree > 1), or None."""
        ends = []
        for node in branches:
            while node != stop and self.graph.indegree.get(node, 0) <= 1 and len(self.graph.successors(node)) == 1:
                node = self.graph.successors(node)[0]
            ends.append(node if self.graph.indegree.get(node, 0) > 1 else None)
        return ends[0] if ends and all(end == ends[0] for end in ends) else None

    def branch(self, head: str, join: str | None) -> dict[str, Any] | None:
        if head == join:
            return None
        nodes = []
        converted = self.convert(head, is_last=False)
        if converted is not None:
            nodes.append(converted)
        nodes += self.chain(head, join)
        if not nodes:
            return None
        return nodes[0] if len(nodes) == 1 else {"type": "sequential", "name": self.slug(f"{nodes[0]['name']}-seq"),
                                                 "agents": nodes}

    def parallel(self, source: str, targets: list[str], stop: str | None) -> tuple[dict[str, Any], str | None]:
        join = self.join_of(targets, stop)
        agents = [b for b in (self.branch(t, join) for t in targets) if b is not None]
        return {"type": "parallel", "name": self.slug("parallel"), "agents": agents}, join

    def classifier(self, node_id: str, stop: str | None) -> tuple[dict[str, Any], str | None]:
        data = self.graph.data(node_id)
        classes = {str(c.get("id")): str(c.get("name", "")) for c in data.get("classes") or []}
        edges = [(handle, target) for handle, target in self.graph.out.get(node_id, []) if handle in classes]
        join = self.join_of([target for _, target in edges], stop)
        agents = []
        for handle, target in edges:
            candidate = self.branch(target, join)
            if candidate is not None:
                candidate["description"] = classes[handle]
                agents.append(candidate)
        for handle in classes.keys() - {h for h, _ in edges}:
            self.note(node_id, "mapped", f"class {classes[handle]!r} leads nowhere and was left out")
        model = data.get("model") or {}
        node = {"type": "route", "name": self.slug(str(data.get("title") or "route"), node_id),
                "model": str(model.get("name", "")), "baseUrl": self.base_url, "apiKeyEnv": self.api_key_env,
                "agents": agents, **({"instruction": str(data["instruction"])} if data.get("instruction") else {})}
        self.note(node_id, "mapped", f"route over {len(agents)} classes")
        return node, join

    def convert(self, node_id: str, *, is_last: bool) -> dict[str, Any] | None:
        kind, data = self.graph.kind(node_id), self.graph.data(node_id)
        title = str(data.get("title") or kind)
        if kind == "llm":
            return self.llm(node_id, data, title)
        if kind == "iteration":
            return self.iteration(node_id, data, title)
        if kind == "loop":
            return self.loop(node_id, data, title)
        if kind in ("end", "answer"):
            selectors = [o.get("value_selector") for o in data.get("outputs") or []] if kind == "end" else \
                [m.split(".") for m in VARIABLE.findall(str(data.get("answer", "")))]
            only_text = str(data.get("answer", "")).strip() if kind == "answer" else ""
            plain = kind == "end" or VARIABLE.fullmatch(only_text) is not None
            if is_last and plain and len(selectors) == 1 and selectors[0] and selectors[0][-1] in ("text", "output"):
                self.note(node_id, "dropped", "the flow answers with its last node's output")
            else:
                self.note(node_id, "unmapped", "only an end/answer that repeats the last LLM text maps")
            return None
        if kind == "variable-aggregator":
            self.note(node_id, "dropped", "joins a route's branches: the route answers with the picked one")
            return None
        self.note(node_id, "unmapped", NO_NODE_KIND.get(kind, DEFAULT_REASON))
        return None

    def reference(self, node_id: str, selector: list[str]) -> str | None:
        """The expression path for a Dify variable selector (``["sys", "query"]`` → ``sys.query``), or None."""
        head, rest = (selector[0], selector[1:]) if selector else ("", [])
        if head == "sys" and rest and rest[0] in ("query", "user_id", "conversation_id"):
            return f"sys.{rest[0]}"
        if head == "env" and rest:
            return f"env.{rest[0]}"
        if head in self.start_ids and rest:
            return f"inputs.{rest[0]}"
        if head in self.loop_ids and rest and rest[0] in ("item", "index"):
            return f"loop.{rest[0]}"
        if head in self.keys and rest in (["text"], ["output"]):  # an LLM's text; an iteration's or a join's output
            return f"state.{self.keys[head]}"
        self.note(node_id, "unmapped", f"the reference {'.'.join(selector)!r} has no counterpart")
        return None

    def template(self, node_id: str, text: str) -> str:
        def replace(match: re.Match[str]) -> str:
            path = self.reference(node_id, match.group(1).split("."))
            return f"(not imported: {match.group(1)})" if path is None else "{{ " + path + " }}"
        return VARIABLE.sub(replace, text)

    def llm(self, node_id: str, data: Mapping[str, Any], title: str) -> dict[str, Any]:
        name = self.slug(title, node_id)
        prompts = [p for p in data.get("prompt_template") or [] if isinstance(p, dict)]
        system = "\n".join(str(p.get("text", "")) for p in prompts if p.get("role") == "system")
        user = "\n".join(str(p.get("text", "")) for p in prompts if p.get("role") == "user")
        model = data.get("model") or {}
        node: dict[str, Any] = {"type": "llm", "name": name, "model": str(model.get("name", "")),
                                "baseUrl": self.base_url, "apiKeyEnv": self.api_key_env}
        temperature = (model.get("completion_params") or {}).get("temperature")
        if isinstance(temperature, (int, float)):
            node["temperature"] = temperature
        if system:
            node["system"] = self.template(node_id, system)
        if user:
            node["input"] = self.template(node_id, user)
        dropped = [what for what, present in (("assistant turns", any(p.get("role") == "assistant" for p in prompts)),
                                              ("memory", bool(data.get("memory"))),
                                              ("vision", bool((data.get("vision") or {}).get("enabled"))))
                   if present]
        if dropped:
            self.note(node_id, "unmapped", f"{', '.join(dropped)} of this LLM node have no counterpart")
        self.note(node_id, "mapped", f"llm {name!r} (model {node['model']!r})")
        return node

    def body(self, node_id: str, data: Mapping[str, Any]) -> dict[str, Any] | None:
        start = str(data.get("start_node_id") or "")
        self.loop_ids.add(node_id)
        nodes = self.chain(start, None) if start in self.graph.nodes else []
        if not nodes:
            return None
        return nodes[0] if len(nodes) == 1 else {"type": "sequential", "name": self.slug("body"), "agents": nodes}

    def iteration(self, node_id: str, data: Mapping[str, Any], title: str) -> dict[str, Any] | None:
        items = self.reference(node_id, [str(s) for s in data.get("iterator_selector") or []])
        body = self.body(node_id, data)
        if body is None or items is None:
            self.note(node_id, "unmapped", "its body or its array could not be imported")
            return None
        if data.get("is_parallel"):
            self.note(node_id, "unmapped", "parallel iterations: a forEach loop runs one element at a time")
        self.note(node_id, "mapped", f"loop forEach over {items}")
        return {"type": "loop", "name": self.slug(title, node_id), "forEach": items, "agent": body}

    def loop(self, node_id: str, data: Mapping[str, Any], title: str) -> dict[str, Any] | None:
        body = self.body(node_id, data)
        conditions = [self.condition(node_id, c) for c in data.get("break_conditions") or []]
        count = int(data.get("loop_count") or 0)
        if body is None or None in conditions or data.get("loop_variables"):
            self.note(node_id, "unmapped", "its body, conditions or loop variables could not be imported")
            return None
        node: dict[str, Any] = {"type": "loop", "name": self.slug(title, node_id), "agent": body}
        if conditions:
            node["until"] = f" {data.get('logical_operator') or 'and'} ".join(c for c in conditions if c)
            if count:
                node["maxIterations"] = min(count, 1000)
        else:
            node["count"] = min(max(count, 1), 1000)
        self.note(node_id, "mapped", "loop " + ("until " + str(node["until"]) if conditions else f"count {count}"))
        return node

    def condition(self, node_id: str, condition: Mapping[str, Any]) -> str | None:
        left = self.reference(node_id, [str(s) for s in condition.get("variable_selector") or []])
        if left is None:
            return None
        value, op = condition.get("value"), str(condition.get("comparison_operator"))
        text = json.dumps("" if value is None else str(value))
        number = str(value) if re.fullmatch(r"-?\d+(\.\d+)?", str(value)) else text
        forms = {"contains": f"{left} contains {text}", "not contains": f"not {left} contains {text}",
                 "is": f"{left} == {text}", "is not": f"{left} != {text}", "empty": f'{left} == ""',
                 "not empty": f'{left} != ""', "null": f"{left} == null", "not null": f"{left} != null",
                 "=": f"{left} == {number}", "≠": f"{left} != {number}", ">": f"{left} > {number}",
                 "<": f"{left} < {number}", "≥": f"{left} >= {number}", "≤": f"{left} <= {number}"}
        if op not in forms:
            self.note(node_id, "unmapped", f"the comparison {op!r} has no counterpart")
            return None
        return forms[op]
