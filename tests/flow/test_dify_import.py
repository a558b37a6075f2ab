"""Dify DSL import: what maps becomes a flow that runs as the Dify app did; what does not is reported per node."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from flow_support import answer

from agentctl.errors import BadInput
from agentctl.flow import check_flow
from agentctl.flow.dify import import_dify

EXPORTS = Path(__file__).resolve().parent / "dify"


def load(name: str) -> Any:
    return yaml.safe_load((EXPORTS / name).read_text())


def statuses(result: Any) -> dict[str, tuple[str, str]]:
    return {note.title or note.node_id: (note.dify_type, note.status) for note in result.notes}


def test_a_workflow_of_mappable_nodes_imports_cleanly():
    result = import_dify(load("support_desk.yml"), base_url="http://models/v1")
    assert result.clean, "\n".join(note.format() for note in result.notes)
    assert statuses(result) == {
        "Start": ("start", "dropped"), "Draft": ("llm", "mapped"), "Critic A": ("llm", "mapped"),
        "Critic B": ("llm", "mapped"), "Merge": ("llm", "mapped"), "By length": ("question-classifier", "mapped"),
        "Short": ("llm", "mapped"), "Long": ("llm", "mapped"), "Answer": ("variable-aggregator", "dropped"),
        "Split": ("llm", "mapped"), "Each part": ("iteration", "mapped"), "1010start": ("iteration-start", "dropped"),
        "Polish": ("llm", "mapped"), "End": ("end", "dropped")}
    flow = result.flow
    assert check_flow(flow) == []
    assert flow["name"] == "support-desk" and flow["env"] == {"TONE": "friendly"}  # the secret is not copied
    steps = flow["root"]["agents"]
    assert [s["type"] for s in steps] == ["llm", "parallel", "llm", "route", "llm", "loop"]
    draft, fan, merge, route, split, each = steps
    assert draft == {"type": "llm", "name": "draft", "model": "drafter", "baseUrl": "http://models/v1",
                     "apiKeyEnv": "MODEL_API_KEY", "temperature": 0.2,
                     "system": "You draft, in a {{ env.TONE }} tone.", "input": "Write about {{ inputs.topic }}"}
    assert [a["name"] for a in fan["agents"]] == ["critic-a", "critic-b"]
    assert merge["input"] == "A={{ state.critic-a }} B={{ state.critic-b }}"
    assert [(a["name"], a["description"]) for a in route["agents"]] == [("short", "Short answers"),
                                                                      ("long", "Long answers")]
    assert route["model"] == "router" and route["instruction"] == "Prefer short."
    assert split["input"] == "{{ state.by-length }}"
    assert each["forEach"] == "state.split" and each["agent"]["input"] == "Polish: {{ loop.item }}"


def test_the_imported_flow_runs_as_the_dify_app_ran(model, runner):
    model.script({
        "drafter": {"reply": "D({input})"}, "critic-a": {"reply": "a:{input}"}, "critic-b": {"reply": "b:{input}"},
        "merger": {"reply": "M<{input}>"}, "router": {"reply": "short"}, "short": {"reply": "S:{input}"},
        "long": {"reply": "L"}, "splitter": {"reply": '["x", "y"]'}, "polisher": {"reply": "P({input})"}})
    result = import_dify(load("support_desk.yml"), base_url=model.base_url)
    proc = runner(result.flow, env={"MODEL_API_KEY": "k"})
    response = httpx.post(proc.url + "/v1/workflows/run", timeout=60,
                          json={"inputs": {"topic": "cats"}, "response_mode": "blocking", "user": "u"})
    data = response.json()["data"]
    assert data["status"] == "succeeded", data
    assert json.loads(data["outputs"]["text"]) == ["P(Polish: x)", "P(Polish: y)"]
    by_model = {call["model"]: call["messages"][-1]["content"] for call in model.log()}
    assert by_model["drafter"] == "Write about cats"
    assert by_model["merger"] == "A=a:D(Write about cats) B=b:D(Write about cats)"
    assert by_model["short"] == "M<A=a:D(Write about cats) B=b:D(Write about cats)>"
    assert by_model["splitter"] == "S:" + by_model["short"] and "long" not in by_model


def test_a_dify_loop_becomes_an_until_loop(model, runner):
    result = import_dify(load("refine_loop.yml"), base_url=model.base_url)
    assert result.clean, "\n".join(note.format() for note in result.notes)
    loop = result.flow["root"]
    assert loop["until"] == 'state.refine contains "DONE" or state.refine == ""' and loop["maxIterations"] == 5
    model.script({"refiner": {"replies": ["draft one", "draft two", "draft three DONE"]}})
    proc = runner(result.flow, env={"MODEL_API_KEY": "k"})
    assert answer(proc.url, "my essay") == "draft three DONE"
    assert [c["messages"][-1]["content"] for c in model.log()] == [
        "Improve: my essay (round 0)", "Improve: my essay (round 1)", "Improve: my essay (round 2)"]


def test_nodes_without_a_counterpart_are_reported_one_by_one():
    result = import_dify(load("branching.yml"), base_url="http://models/v1")
    assert not result.clean
    notes = {note.title: note for note in result.notes}
    assert {title: note.status for title, note in notes.items()} == {
        "Start": "dropped", "Clean up": "unmapped", "Ask": "unmapped", "Is it long?": "unmapped",
        "Yes": "unmapped", "No": "unmapped", "End": "unmapped"}
    assert notes["Clean up"].detail.startswith("a flow has no code nodes: deploy the code as an agentrun runtime")
    assert notes["Ask"].detail == ("the reference 'conversation.topic' has no counterpart; the reference 'clean.r' "
                                   "has no counterpart; assistant turns, memory of this LLM node have no counterpart")
    assert notes["Is it long?"].detail.startswith("a deterministic branch is not one of the four kinds")
    assert notes["Yes"].detail == notes["No"].detail == "after an unmapped branch"
    assert check_flow(result.flow) == []  # what did map still forms a valid flow
    ask = result.flow["root"]  # the one node imported before the if-else
    assert ask["name"] == "ask" and ask["input"] == "(not imported: clean.r)"
    assert ask["system"] == "Use (not imported: conversation.topic)"


@pytest.mark.parametrize(("document", "message"), [
    ({"app": {"mode": "chat"}}, "not a Dify workflow export (app.mode is 'chat')"),
    ({"kind": "app"}, "not a Dify workflow export (app.mode is None)"),
    ({"app": {"mode": "workflow"}, "workflow": {}}, "the export has no workflow.graph"),
    ({"app": {"mode": "workflow"}, "workflow": {"graph": {"nodes": [], "edges": []}}},
     "expected one start node, found 0"),
])
def test_what_is_not_a_workflow_export_is_bad_input(document, message):
    with pytest.raises(BadInput) as caught:
        import_dify(document)
    assert caught.value.message == message and caught.value.hint
