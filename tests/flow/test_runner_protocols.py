"""The runner's protocols: OpenAI streaming pass-through, Dify workflow run (blocking and streaming), errors.

Streaming is proven by order, not time: the scripted model sends the last agent's first word and
then holds its stream until the test releases it — which the test does only after it has read that
word from the runner. A runner that buffered the stream would never show it (the hold then gives
up and the content says HOLD-TIMEOUT).
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from flow_support import Proc, chat, runtime


def events(response: httpx.Response) -> Iterator[Any]:
    for line in response.iter_lines():
        if line.startswith("data: "):
            data = line[len("data: "):]
            yield data if data == "[DONE]" else json.loads(data)


def writer_flow(model_url: str) -> dict[str, Any]:
    return {"name": "letters", "root": {"type": "sequential", "name": "letters", "agents": [
        runtime("upper"),
        {"type": "llm", "name": "writer", "model": "writer", "baseUrl": model_url, "system": "Write a letter.",
         "input": "to {{ last.content }}"}]}}


def test_the_last_agents_stream_reaches_the_client_before_that_agent_finishes(agents, model, runner):
    model.script({"writer": {"reply": "Dear {input}, see you soon", "hold": "w1"}})
    proc = runner(writer_flow(model.base_url), bind=agents)
    body = {"messages": [{"role": "user", "content": "ann"}], "stream": True}
    with httpx.stream("POST", proc.url + "/openai/v1/chat/completions", json=body, timeout=60) as response:
        assert response.status_code == 200 and response.headers["content-type"] == "text/event-stream"
        stream = events(response)
        first = next(stream)
        assert first["object"] == "chat.completion.chunk" and first["choices"][0]["delta"]["role"] == "assistant"
        assert next(stream)["choices"][0]["delta"] == {"content": "Dear"}  # while the writer is still held
        model.release("w1")
        rest = list(stream)
    assert rest[-1] == "[DONE]" and rest[-2]["choices"][0]["finish_reason"] == "stop"
    text = "Dear" + "".join(chunk["choices"][0]["delta"].get("content", "") for chunk in rest[:-2])
    assert text == "Dear to ANN, see you soon"
    (call,) = model.log()
    assert call["stream"] is True
    assert call["messages"] == [{"role": "system", "content": "Write a letter."},
                                {"role": "user", "content": "to ANN"}]


def test_an_answer_that_is_not_streamed_comes_as_one_chunk(agents, runner):
    flow = {"root": {"type": "parallel", "merge": "concat", "separator": "+",
                     "agents": [runtime("upper"), runtime("reverse")]}}
    proc = runner(flow, bind=agents)
    body = {"messages": [{"role": "user", "content": "a b"}], "stream": True}
    with httpx.stream("POST", proc.url + "/openai/v1/chat/completions", json=body, timeout=60) as response:
        chunks = list(events(response))
    assert [c["choices"][0]["delta"] for c in chunks[:-1]] == [
        {"role": "assistant", "content": ""}, {"content": "A B+b a"}, {}]


def test_a_failure_in_a_stream_is_the_last_event(agents, model, runner):
    model.script({"writer": {"status": 500, "reply": "model overloaded"}})
    proc = runner(writer_flow(model.base_url), bind=agents)
    body = {"messages": [{"role": "user", "content": "x"}], "stream": True}
    with httpx.stream("POST", proc.url + "/openai/v1/chat/completions", json=body, timeout=60) as response:
        chunks = list(events(response))
    error = chunks[-2]["error"]
    assert chunks[-1] == "[DONE]"
    assert error["node"] == "letters/writer" and error["code"] == "AgentFailed"
    assert "answered 500" in error["message"] and "model overloaded" in error["message"]


def test_dify_blocking_run(agents, model, runner):
    model.script({"writer": {"reply": "Dear {input}"}})
    proc = runner(writer_flow(model.base_url), bind=agents)
    response = httpx.post(proc.url + "/v1/workflows/run", timeout=60, json={
        "inputs": {"query": "bo"}, "response_mode": "blocking", "user": "u-9"})
    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"task_id", "workflow_run_id", "data"}
    data = body["data"]
    assert data["status"] == "succeeded" and data["outputs"] == {"text": "Dear to BO"}
    assert data["workflow_id"] == "letters" and data["total_steps"] == 3 and data["error"] is None
    assert model.log()[0]["headers"].get("content-type") == "application/json"


def test_dify_streaming_run_sends_node_events_and_the_text(agents, model, runner):
    model.script({"writer": {"reply": "Dear {input}", "hold": "w2"}})
    proc = runner(writer_flow(model.base_url), bind=agents)
    with httpx.stream("POST", proc.url + "/v1/workflows/run", timeout=60, json={
            "inputs": {"sys.query": "cy", "lang": "en"}, "response_mode": "streaming", "user": "u"}) as response:
        stream = events(response)
        seen = []
        for event in stream:
            seen.append(event)
            if event["event"] == "text_chunk":
                break
        model.release("w2")
        seen += list(stream)
    names = [e["event"] for e in seen]
    assert names[0] == "workflow_started" and names[-1] == "workflow_finished"
    assert seen[0]["data"]["inputs"]["lang"] == "en" and seen[0]["data"]["inputs"]["sys.query"] == "cy"
    started = [e["data"]["node_id"] for e in seen if e["event"] == "node_started"]
    finished = {e["data"]["node_id"]: e["data"] for e in seen if e["event"] == "node_finished"}
    assert started == ["letters", "letters/upper", "letters/writer"]
    assert finished["letters/writer"]["status"] == "succeeded"
    assert finished["letters/upper"]["outputs"] == {"text": "CY"}
    assert finished["letters/upper"]["node_type"] == "runtime"
    text = "".join(e["data"]["text"] for e in seen if e["event"] == "text_chunk")
    assert text == "Dear to CY"
    writer_done = next(i for i, e in enumerate(seen) if e["event"] == "node_finished"
                       and e["data"]["node_id"] == "letters/writer")
    assert names.index("text_chunk") < writer_done  # the text went out while the writer was running
    assert seen[-1]["data"]["outputs"] == {"text": "Dear to CY"} and seen[-1]["data"]["status"] == "succeeded"
    assert len({e["task_id"] for e in seen}) == 1 and len({e["workflow_run_id"] for e in seen}) == 1


def test_dify_failed_run_reports_the_node(agents, runner):
    flow = {"root": {"type": "sequential", "name": "s", "agents": [runtime("echo"), runtime("ghost")]}}
    proc = runner(flow, bind={**agents, "ghost": "http://127.0.0.1:9"})
    data = httpx.post(proc.url + "/v1/workflows/run", json={"inputs": {"query": "q"}}, timeout=60).json()["data"]
    assert data["status"] == "failed" and data["outputs"] is None and data["node"] == "s/ghost"
    assert data["error"].startswith("s/ghost: cannot connect to http://127.0.0.1:9")


def test_bad_requests_are_400_with_a_reason(agents, runner):
    proc = runner({"root": runtime("echo")}, bind=agents)
    url = proc.url + "/openai/v1/chat/completions"
    assert httpx.post(url, content=b"{not json", timeout=10).json()["error"]["message"].startswith(
        "the body is not JSON")
    response = httpx.post(url, json={"messages": [{"role": "system", "content": "x"}]}, timeout=10)
    assert response.status_code == 400
    assert response.json()["error"]["message"] == ("messages has no user message: the flow starts from the "
                                                   "last one (sys.query)")
    bad_mode = httpx.post(proc.url + "/v1/workflows/run", json={"inputs": {}, "response_mode": "fast"}, timeout=10)
    assert bad_mode.status_code == 400 and "response_mode must be blocking or streaming" in bad_mode.text
    assert httpx.get(url, timeout=10).status_code == 405
    assert httpx.get(proc.url + "/nope", timeout=10).status_code == 404
    assert httpx.get(proc.url + "/health", timeout=10).json() == {"status": "ok", "flow": "flow"}
    models = httpx.get(proc.url + "/openai/v1/models", timeout=10).json()
    assert [m["id"] for m in models["data"]] == ["flow"]


def test_keep_alive_connections_serve_many_requests(agents, runner):
    proc = runner({"root": runtime("upper")}, bind=agents)
    with httpx.Client(base_url=proc.url, timeout=10) as client:
        answers = [client.post("/openai/v1/chat/completions",
                               json={"messages": [{"role": "user", "content": f"m{i}"}]}).json() for i in range(20)]
    assert [a["choices"][0]["message"]["content"] for a in answers] == [f"M{i}" for i in range(20)]


def test_request_user_and_conversation_reach_the_flow(agents, runner):
    flow = {"root": runtime("echo", input="{{ sys.user_id }}/{{ sys.conversation_id }}/{{ sys.query }}")}
    proc = runner(flow, bind=agents)
    response = chat(proc.url, "hi", user="u-3", conversation_id="c-8")
    assert response.json()["choices"][0]["message"]["content"] == "u-3/c-8/hi"


def test_a_client_that_leaves_mid_stream_stops_the_run(agents, model, runner):
    model.script({"writer": {"reply": "Dear {input}, more", "hold": "w-gone"}})
    proc = runner(writer_flow(model.base_url), bind=agents)
    body = {"messages": [{"role": "user", "content": "di"}], "stream": True}
    with httpx.stream("POST", proc.url + "/openai/v1/chat/completions", json=body, timeout=60) as response:
        stream = events(response)
        next(stream)
        assert next(stream)["choices"][0]["delta"] == {"content": "Dear"}
    # The client hung up while the writer was held: the runner sees the connection close and cancels
    # the run (and its call to the model) without waiting for the writer.
    writer_end = wait_for_line(proc, "node=letters/writer event=end")
    assert "outcome=error" in writer_end and "error=cancelled" in writer_end
    assert httpx.get(proc.url + "/health", timeout=10).status_code == 200
    model.release("w-gone")


def test_a_client_that_gives_up_on_a_blocking_run_stops_it(model, runner):
    model.script({"slow": {"reply": "late", "hold": "h-blocking"}})
    proc = runner({"root": {"type": "llm", "name": "slow", "model": "slow", "baseUrl": model.base_url}})
    with pytest.raises(httpx.ReadTimeout):
        chat_with_timeout(proc.url, 0.5)
    assert "error=cancelled" in wait_for_line(proc, "node=slow event=end")
    model.release("h-blocking")


def chat_with_timeout(url: str, seconds: float) -> None:
    httpx.post(url + "/openai/v1/chat/completions", timeout=seconds,
               json={"messages": [{"role": "user", "content": "x"}]})


def wait_for_line(proc: Proc, text: str) -> str:
    """The first log line holding ``text`` (the runner's trace is written as things happen)."""
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        for line in proc.output().splitlines():
            if text in line:
                return line
        time.sleep(0.05)
    raise AssertionError(f"no line with {text!r} in:\n{proc.output()}")


def test_concurrent_requests_each_get_their_own_answer(agents, runner):
    from concurrent.futures import ThreadPoolExecutor

    flow = {"root": {"type": "sequential", "agents": [runtime("upper"), runtime("exclaim")]}}
    proc = runner(flow, bind=agents)
    with ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(lambda i: chat(proc.url, f"m{i}").json()["choices"][0]["message"]["content"],
                                range(40)))
    assert answers == [f"M{i}!" for i in range(40)]
