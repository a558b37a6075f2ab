"""End to end: a packaged runner process over real agent processes and the scripted model.

sequential → parallel (3 branches, each merge) → loops (count, until, forEach) → route, nested four
levels deep, with every output checked exactly; routing retries and fallback; multi-pick overlap;
the loop cap; forEach once per element; the trace lines of one request.
"""

from __future__ import annotations

import json
import re
from typing import Any

import httpx
import pytest
from flow_support import answer, chat, runtime

MERGES: dict[str, dict[str, Any]] = {"map": {}, "list": {"merge": "list"},
                                     "concat": {"merge": "concat", "separator": " | "}}
FAN = {"echo": "HELLO WORLD", "reverse": "WORLD HELLO", "deep": "HELLO WORLD!!"}


def llm(model_name: str, base_url: str, **fields: Any) -> dict[str, Any]:
    return {"type": "llm", "model": model_name, "baseUrl": base_url, **fields}


def pipeline(merge: dict[str, Any], model_url: str) -> dict[str, Any]:
    return {"name": "pipeline", "root": {"type": "sequential", "agents": [
        runtime("upper"),
        {"type": "parallel", "name": "fan", **merge, "agents": [
            runtime("echo"),
            runtime("reverse"),
            {"type": "sequential", "name": "deep", "agents": [
                {"type": "loop", "name": "bang", "count": 2, "agent": runtime("exclaim")}]},
        ]},
        runtime("echo", name="restart", input="{{ state.upper }}"),
        {"type": "loop", "name": "cheer", "until": 'last.content contains "!!!"', "agent": runtime("exclaim")},
        runtime("words"),
        {"type": "loop", "name": "each", "forEach": "last.content", "agent": runtime("exclaim")},
        {"type": "route", "name": "answer", "model": "router", "baseUrl": model_url, "agents": [
            runtime("upper", name="shouter", description="Makes text loud"),
            runtime("reverse", name="mirror", description="Reverses the order of words",
                    input="{{ state.fan }} :: {{ last.content }}"),
        ]},
    ]}}


@pytest.mark.parametrize("merge", sorted(MERGES))
def test_nested_pipeline_answers_exactly_for_each_merge(agents, model, runner, merge):
    model.script({"router": {"reply": "mirror"}})
    proc = runner(pipeline(MERGES[merge], model.base_url), bind=agents)
    fan = {"map": json.dumps(FAN), "list": json.dumps(list(FAN.values())),
           "concat": " | ".join(FAN.values())}[merge]
    each = json.dumps(["HELLO!", "WORLD!!!!"])  # words of "HELLO WORLD!!!", one "!" more each
    expected = " ".join(reversed(f"{fan} :: {each}".split()))
    response = chat(proc.url, "hello world", user="u-1")
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["object"] == "chat.completion" and body["model"] == "pipeline"
    assert body["choices"][0]["message"]["content"] == expected
    (call,) = model.log()
    system, user = call["messages"]
    assert system["role"] == "system" and "- shouter: Makes text loud" in system["content"]
    assert "- mirror: Reverses the order of words" in system["content"]
    assert user == {"role": "user", "content": each}


def test_one_request_leaves_a_start_and_end_line_per_node_with_its_request_id(agents, model, runner):
    model.script({"router": {"reply": "shouter"}})
    proc = runner(pipeline({}, model.base_url), bind=agents)
    response = httpx.post(proc.url + "/openai/v1/chat/completions", timeout=60,
                          headers={"x-agentrun-request-id": "req-42"},
                          json={"messages": [{"role": "user", "content": "hello world"}]})
    assert response.status_code == 200 and response.headers["x-flow-request-id"] == "req-42"
    lines = [line for line in proc.output().splitlines() if "request_id=req-42" in line]
    ends = {m.group(1): line for line in lines if (m := re.search(r"node=(\S+) event=end", line))}
    starts = {m.group(1) for line in lines if (m := re.search(r"node=(\S+) event=start", line))}
    assert starts == set(ends)
    for path in ("pipeline", "pipeline/fan", "pipeline/fan/deep/bang[1]/exclaim", "pipeline/cheer[2]/exclaim",
                 "pipeline/each[1]/exclaim", "pipeline/answer/shouter"):
        assert "outcome=ok" in ends[path] and "duration_ms=" in ends[path], path
    assert "pipeline/cheer[3]/exclaim" not in ends  # the condition held after three iterations
    assert "picked=shouter" in ends["pipeline/answer"]
    assert any("event=note" in line and "picked=shouter" in line for line in lines)


def test_an_invalid_pick_is_retried_then_the_fallback_answers(agents, model, runner):
    flow = {"root": {"type": "route", "name": "desk", "model": "router", "baseUrl": model.base_url, "pickRetries": 2,
                     "agents": [runtime("upper", name="billing", description="Invoices"),
                                runtime("reverse", name="tech", description="Bugs")],
                     "fallback": runtime("echo", name="human", input="fallback: {{ last.content }}")}}
    model.script({"router": {"replies": ["nobody", "tech, billing", "[]"]}})
    proc = runner(flow, bind=agents)
    assert answer(proc.url, "my invoice is wrong") == "fallback: my invoice is wrong"
    calls = model.log()
    assert len(calls) == 3
    second, third = calls[1]["messages"], calls[2]["messages"]
    assert second[-2] == {"role": "assistant", "content": "nobody"}
    assert second[-1]["content"].startswith("'nobody' is not one of the agents (billing, tech).")
    assert third[-1]["content"].startswith("Pick exactly one agent; the answer named 2.")
    assert "fallback=human" in proc.output()


def test_a_pick_that_is_valid_on_retry_is_used(agents, model, runner):
    model.script({"router": {"replies": ["```json\n\"nobody\"\n```", "Tech."]}})
    flow = {"root": {"type": "route", "model": "router", "baseUrl": model.base_url,
                     "agents": [runtime("upper", name="billing", description="Invoices"),
                                runtime("reverse", name="tech", description="Bugs")]}}
    proc = runner(flow, bind=agents)
    assert answer(proc.url, "it crashes on start") == "start on crashes it"
    assert len(model.log()) == 2


def test_no_valid_pick_and_no_fallback_is_an_error_naming_the_route(agents, model, runner):
    model.script({"router": {"reply": "nobody"}})
    flow = {"root": {"type": "route", "name": "desk", "model": "router", "baseUrl": model.base_url,
                     "pickRetries": 0, "agents": [runtime("upper", description="Loud")]}}
    proc = runner(flow, bind=agents)
    response = chat(proc.url, "hi")
    assert response.status_code == 502
    assert response.json()["error"] == {"message": "desk: no valid pick after 1 attempts and no fallback",
                                        "type": "flow_error", "code": "NoValidRoute", "node": "desk"}


def test_a_multi_pick_runs_the_picked_agents_at_once(model, runner):
    # Each branch waits at a 3-party barrier: run one after another, the first would wait out the barrier
    # and fail the node. So an answer at all proves the three calls were in flight together.
    model.script({name: {"reply": f"{name.upper()}: {{input}}", "barrier": "multi", "parties": 3}
                  for name in ("a", "b", "c")} | {"router": {"reply": '["c", "a", "b"]'}, "d": {"reply": "no"}})
    flow = {"root": {"type": "route", "name": "panel", "model": "router", "baseUrl": model.base_url,
                     "multiple": True, "agents": [llm(n, model.base_url, name=n, description=f"expert {n}")
                                                  for n in ("a", "b", "c", "d")]}}
    proc = runner(flow)
    assert json.loads(answer(proc.url, "q")) == {"a": "A: q", "b": "B: q", "c": "C: q"}
    calls = [c for c in model.log() if c["model"] in ("a", "b", "c")]
    assert len(calls) == 3
    assert max(c["start"] for c in calls) < min(c["end"] for c in calls)  # every call began before any ended


def test_a_condition_that_never_holds_stops_at_the_cap(agents, runner):
    flow = {"root": {"type": "loop", "name": "forever", "until": 'last.content contains "never"',
                     "agent": runtime("echo")}}
    proc = runner(flow, bind=agents)
    response = chat(proc.url, "again")
    assert response.status_code == 500
    error = response.json()["error"]
    assert error["code"] == "MaxLoopCountReached" and error["node"] == "forever"
    assert error["message"] == ('forever: Max loop count reached (1000 iterations) before '
                                '`last.content contains "never"` held')
    ends = re.findall(r"node=forever\[(\d+)\]/echo event=end", proc.output())
    assert len(ends) == 1000 and ends[-1] == "999"


def test_max_iterations_ends_an_until_loop_normally(agents, runner):
    flow = {"root": {"type": "loop", "until": "false", "maxIterations": 4, "agent": runtime("exclaim")}}
    assert answer(runner(flow, bind=agents).url, "go") == "go!!!!"


def test_for_each_runs_once_per_element_with_loop_variables(agents, runner):
    flow = {"root": {"type": "sequential", "name": "s", "agents": [
        runtime("words"),
        {"type": "loop", "name": "each", "forEach": "last.content",
         "agent": runtime("echo", input="{{ loop.index }}={{ loop.item }}")}]}}
    proc = runner(flow, bind=agents)
    assert json.loads(answer(proc.url, "one two three four")) == ["0=one", "1=two", "2=three", "3=four"]
    assert len(re.findall(r"node=s/each\[\d\]/echo event=end", proc.output())) == 4


def test_for_each_over_something_that_is_not_an_array(agents, runner):
    flow = {"root": {"type": "loop", "name": "each", "forEach": "last.content", "agent": runtime("echo")}}
    response = chat(runner(flow, bind=agents).url, "not json")
    assert response.status_code == 500
    assert response.json()["error"]["message"] == "each: forEach `last.content` must give a JSON array, got 'not json'"


def test_for_each_over_more_than_a_thousand_elements(agents, runner):
    flow = {"root": {"type": "sequential", "agents": [
        runtime("words"), {"type": "loop", "name": "each", "forEach": "last.content", "agent": runtime("echo")}]}}
    response = chat(runner(flow, bind=agents).url, " ".join(["w"] * 1001))
    assert response.status_code == 500
    assert response.json()["error"]["message"] == (
        "flow/each: Max loop count reached: forEach `last.content` has 1001 elements (at most 1000)")
