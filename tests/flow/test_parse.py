"""props.flow → the typed tree: defaults, every kind, and each problem with its YAML path and hint."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from agentctl.flow import FlowSpecError, bind_runtime_urls, check_flow, parse_flow, runtime_refs
from agentctl.flow.fields import format_path
from agentctl.flow.model import (
    ArrayLoop,
    ConditionLoop,
    CountLoop,
    LlmAgent,
    Loop,
    Merge,
    OpenAIAgent,
    Parallel,
    Route,
    RuntimeAgent,
    Sequential,
)

WHERE = ("resources", "pipeline", "props", "flow")
MODEL = {"baseUrl": "https://models.example/v1", "model": "qwen-max", "apiKeyEnv": "DASHSCOPE_API_KEY"}


def full_flow() -> dict[str, Any]:
    return {
        "name": "research",
        "env": {"TONE": "formal", "RETRIES": 2},
        "root": {"type": "sequential", "agents": [
            {"type": "runtime", "resource": "shout"},
            {"type": "parallel", "name": "fanout", "merge": "concat", "separator": " | ", "onError": "report",
             "maxConcurrency": 2, "mergeOutputKey": "both", "agents": [
                 {"type": "runtime", "resource": "upper", "endpoint": "prod", "timeout": 5, "retries": 2},
                 {"type": "openai", "name": "ext", "baseUrl": "http://ext:8000/v1/",
                  "headers": {"Authorization": "Bearer {{ env.EXT_KEY }}"}},
             ]},
            {"type": "loop", "name": "refine", "until": 'last.content contains "!!!"', "maxIterations": 5,
             "agent": {"type": "runtime", "resource": "exclaim", "input": "{{ last.content }} #{{ loop.index }}"}},
            {"type": "loop", "name": "each", "forEach": "state.both", "agent": {"type": "runtime",
                                                                             "resource": "upper"}},
            {"type": "loop", "count": 3, "agent": {"type": "llm", **MODEL, "system": "Be {{ env.TONE }}",
                                                   "temperature": 0.3}},
            {"type": "route", "name": "answer", **MODEL, "multiple": True, "pickRetries": 1, "agents": [
                {"type": "runtime", "resource": "billing", "description": "Invoices and payments"},
                {"type": "runtime", "resource": "tech", "description": "Technical problems"},
            ], "fallback": {"type": "runtime", "resource": "human"}},
        ]},
    }


def test_a_full_flow_parses_into_the_typed_tree():
    flow = parse_flow(full_flow(), where=WHERE)
    assert (flow.name, flow.env, flow.timeout) == ("research", {"TONE": "formal", "RETRIES": "2"}, 300.0)
    root = flow.root
    assert isinstance(root, Sequential) and root.meta.name == "research" and root.meta.where == (*WHERE, "root")
    shout, fanout, refine, each, counted, answer = root.agents
    assert isinstance(shout, RuntimeAgent)
    assert (shout.meta.name, shout.endpoint, shout.path, shout.url, shout.meta.timeout) == (
        "shout", "default", "/openai/v1/chat/completions", None, 60.0)
    assert isinstance(fanout, Parallel) and fanout.meta.output_key == "both"
    assert fanout.merge == Merge("concat", " | ", "report", 2)
    upper, ext = fanout.agents
    assert (upper.meta.timeout, upper.meta.retries, upper.endpoint) == (5.0, 2, "prod")
    assert isinstance(ext, OpenAIAgent) and ext.endpoint.url == "http://ext:8000/v1/chat/completions"
    assert ext.endpoint.headers["Authorization"].source == "Bearer {{ env.EXT_KEY }}"
    assert isinstance(refine, Loop) and isinstance(refine.strategy, ConditionLoop)
    assert refine.strategy.max_iterations == 5 and refine.agent.meta.name == "exclaim"
    assert isinstance(each, Loop) and isinstance(each.strategy, ArrayLoop) and each.strategy.source == "state.both"
    assert isinstance(counted, Loop) and counted.strategy == CountLoop(3) and counted.meta.name == "loop5"
    llm = counted.agent
    assert isinstance(llm, LlmAgent) and llm.endpoint.api_key_env == "DASHSCOPE_API_KEY"
    assert llm.endpoint.temperature == 0.3 and llm.system is not None and llm.meta.name == "body"
    assert isinstance(answer, Route) and answer.multiple and answer.pick_retries == 1
    assert answer.model.url == "https://models.example/v1/chat/completions" and answer.model.temperature == 0.0
    assert answer.fallback is not None and answer.fallback.meta.name == "human"


def test_runtime_refs_list_every_runtime_with_its_place():
    refs = runtime_refs(parse_flow(full_flow(), where=WHERE))
    assert [(r.resource, r.endpoint) for r in refs] == [
        ("shout", "default"), ("upper", "prod"), ("exclaim", "default"), ("upper", "default"),
        ("billing", "default"), ("tech", "default"), ("human", "default")]
    assert format_path(refs[1].where) == "resources.pipeline.props.flow.root.agents[1].agents[0]"


def test_bind_runtime_urls_fills_every_runtime_node_and_leaves_the_input_alone():
    original = full_flow()
    before = copy.deepcopy(original)
    bound = bind_runtime_urls(original, lambda resource, endpoint: f"http://gw/{resource}/{endpoint}")
    assert original == before
    flow = parse_flow(bound, require_urls=True)
    assert {r.resource: None for r in runtime_refs(flow)}  # parsed with every URL present
    assert flow.root.agents[1].agents[0].url == "http://gw/upper/prod"  # type: ignore[union-attr]


def test_bind_runtime_urls_names_each_runtime_it_cannot_bind():
    with pytest.raises(FlowSpecError) as caught:
        bind_runtime_urls(full_flow(), lambda resource, endpoint: None if resource in ("tech", "human") else "http://x")
    where = [format_path(issue.where) for issue in caught.value.issues]
    assert where == ["flow.root.agents[5].agents[1]", "flow.root.agents[5].fallback"]
    assert "no URL for runtime 'tech' endpoint 'default'" in caught.value.message


def test_require_urls_refuses_unbound_runtime_nodes():
    issues = check_flow(full_flow(), require_urls=True)
    assert len(issues) == 7 and all("has no URL" in issue.message for issue in issues)


def issues_of(root: Any, **flow: Any) -> list[tuple[str, str, str | None]]:
    return [(format_path(i.where), i.message, i.hint) for i in check_flow({"root": root, **flow})]


def one_issue(root: Any, **flow: Any) -> tuple[str, str, str | None]:
    found = issues_of(root, **flow)
    assert len(found) == 1, found
    return found[0]


def test_unknown_node_type_suggests_the_close_one():
    path, message, hint = one_issue({"type": "sequential", "agents": [{"type": "paralel", "agents": []}]})
    assert path == "flow.root.agents[0].type"
    assert message == "unknown node type 'paralel'. Did you mean 'parallel'?"
    assert hint == "The node types are: sequential, parallel, loop, route, runtime, openai, llm."


def test_unknown_field_names_the_fields_of_that_kind():
    path, message, hint = one_issue({"type": "runtime", "resource": "a", "endpont": "x"})
    assert path == "flow.root.endpont"
    assert message == "unknown field 'endpont' for a runtime node. Did you mean 'endpoint'?"
    assert "endpoint" in (hint or "") and "resource" in (hint or "")


def test_bad_condition_shows_the_column_and_a_caret():
    path, message, hint = one_issue({"type": "loop", "until": 'last.content = "DONE"',
                                     "agent": {"type": "runtime", "resource": "a"}})
    assert path == "flow.root.until"
    caret = " " * (4 + 13) + "^"
    assert message == f"bad expression: unexpected character '=' (column 14)\n    last.content = \"DONE\"\n{caret}"
    assert hint == "Compare with == (not =)."


def test_bad_template_in_an_input_points_at_the_input():
    path, message, _ = one_issue({"type": "runtime", "resource": "a", "input": "{{ sys.query "})
    assert path == "flow.root.input" and message.startswith("bad expression: '{{' is not closed (column 1)")


def test_state_reference_to_a_key_no_node_writes():
    path, message, hint = one_issue({"type": "sequential", "agents": [
        {"type": "runtime", "resource": "research"},
        {"type": "runtime", "resource": "write", "input": "{{ state.reserch }}"}]})
    assert path == "flow.root.agents[1].input"
    assert message == "state.reserch: no node writes 'reserch'. Did you mean 'research'?"
    assert hint == "state.<key> reads a node's output; the keys are: flow, research, write."


def test_loop_variables_outside_a_loop_and_item_outside_foreach():
    assert one_issue({"type": "runtime", "resource": "a", "input": "{{ loop.index }}"})[1] == \
        "loop.index is only set inside a loop body"
    assert one_issue({"type": "loop", "count": 2, "agent": {"type": "runtime", "resource": "a",
                                                            "input": "{{ loop.item }}"}})[1] == \
        "loop.item is only set in forEach loops"


@pytest.mark.parametrize(("root", "path", "message"), [
    ({"type": "parallel", "agents": [{"type": "runtime", "resource": "a"}]},
     "flow.root.agents", "agents must hold from 2 to 10 nodes, got 1"),
    ({"type": "parallel", "agents": [{"type": "runtime", "resource": f"r{i}"} for i in range(11)]},
     "flow.root.agents", "agents must hold from 2 to 10 nodes, got 11"),
    ({"type": "parallel", "agents": [{"type": "runtime", "resource": "a", "name": "x"},
                                     {"type": "runtime", "resource": "b", "outputKey": "x"}]},
     "flow.root.agents[1]", "output key 'x' is used twice here (also by item 0)"),
    ({"type": "sequential", "agents": [{"type": "runtime", "resource": "a"}, {"type": "runtime", "resource": "a"}]},
     "flow.root.agents[1]", "name 'a' is used twice here (also by item 0)"),
    ({"type": "loop", "agent": {"type": "runtime", "resource": "a"}},
     "flow.root", "a loop needs exactly one of count, until, forEach (got none)"),
    ({"type": "loop", "count": 2, "until": "true", "agent": {"type": "runtime", "resource": "a"}},
     "flow.root", "a loop needs exactly one of count, until, forEach (got count, until)"),
    ({"type": "loop", "count": 1001, "agent": {"type": "runtime", "resource": "a"}},
     "flow.root.count", "count must be from 1 to 1000, got 1001"),
    ({"type": "loop", "count": 2}, "flow.root", "missing field 'agent'"),
    ({"type": "loop", "count": 2, "maxIterations": 3, "agent": {"type": "runtime", "resource": "a"}},
     "flow.root.maxIterations", "maxIterations only applies to until loops"),
    ({"type": "parallel", "merge": "join", "agents": [{"type": "runtime", "resource": "a"},
                                                      {"type": "runtime", "resource": "b"}]},
     "flow.root.merge", "merge must be one of map, list, concat, got 'join'."),
    ({"type": "route", **MODEL, "agents": [{"type": "runtime", "resource": "a"}]},
     "flow.root.agents[0]", "route candidate 'a' has no description"),
    ({"type": "route", "baseUrl": "https://m/v1", "agents": [{"type": "runtime", "resource": "a",
                                                            "description": "d"}]},
     "flow.root", "missing field 'model'"),
    ({"type": "llm", "model": "m", "baseUrl": "models.example/v1"},
     "flow.root.baseUrl", "baseUrl must be an http(s) URL, got 'models.example/v1'"),
    ({"type": "llm", "model": "m", "baseUrl": "http://m/v1", "apiKeyEnv": "sk-123 secret"},
     "flow.root.apiKeyEnv", "apiKeyEnv names an environment variable, got 'sk-123 secret'"),
    ({"type": "llm", "model": "m", "baseUrl": "http://m/v1", "temperature": 3},
     "flow.root.temperature", "temperature must be from 0 to 2, got 3"),
    ({"type": "runtime"}, "flow.root", "missing field 'resource'"),
    ({"type": "runtime", "resource": "a", "retries": True},
     "flow.root.retries", "retries must be a whole number from 0 to 10, got bool True"),
    ({"type": "runtime", "resource": "a", "name": "9lives"}, "flow.root.name", "name '9lives' is not a valid name"),
    ({"type": "runtime", "resource": "a", "headers": {"X": ["list"]}},
     "flow.root.headers.X", "header 'X' must be text, got list"),
    ("sequential", "flow.root", "expected a node (a map with type: ...), got str"),
    ({"agents": []}, "flow.root", "missing field 'type'"),
])
def test_each_problem_is_reported_at_its_path(root, path, message):
    assert one_issue(root)[:2] == (path, message)


def test_flow_level_problems():
    assert issues_of(None) == [("flow.root", "expected a node (a map with type: ...), got NoneType",
                                "Write the node as a map, e.g. {type: runtime, resource: my-agent}.")]
    assert [i.message for i in check_flow({"name": "x"})] == ["missing field 'root'"]
    assert [i.message for i in check_flow("flow")] == ["flow must be a map with a root node"]
    assert [i.message for i in check_flow({"root": {"type": "runtime", "resource": "a"}, "timeout": 0})] == [
        "timeout must be from 1 to 3600, got 0"]
    assert [i.message for i in check_flow({"root": {"type": "runtime", "resource": "a"}, "env": {"A": [1]}})] == [
        "env.A must be text or a number, got list"]


def test_every_problem_is_reported_at_once():
    root = {"type": "sequential", "agents": [
        {"type": "paralel"}, {"type": "loop", "until": "x ==", "agent": {"type": "runtime", "resource": "a"}},
        {"type": "runtime", "resource": "b", "input": "{{ state.nope }}"}]}
    with pytest.raises(FlowSpecError) as caught:
        parse_flow({"root": root})
    assert len(caught.value.issues) == 3
    assert caught.value.message.startswith("3 problems in the flow:\nflow.root.agents[0].type: unknown node type")
    assert caught.value.exit_code == 2
