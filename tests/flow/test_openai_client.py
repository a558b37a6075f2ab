"""The official ``openai`` client as the judge of the runner's chat completions protocol (JSON and stream).

``openai`` is not among the test dependencies yet (phase 2 adds it to ``[test]``): until then this
module is skipped where it is not installed.
"""

from __future__ import annotations

import pytest
from flow_support import runtime

openai = pytest.importorskip("openai")


def test_the_openai_client_reads_a_flow_answer_and_its_stream(agents, runner):
    flow = {"name": "judge", "root": {"type": "sequential", "agents": [runtime("upper"), runtime("reverse")]}}
    proc = runner(flow, bind=agents)
    client = openai.OpenAI(base_url=proc.url + "/openai/v1", api_key="unused", max_retries=0)
    completion = client.chat.completions.create(model="judge", messages=[{"role": "user", "content": "one two"}])
    assert completion.choices[0].message.content == "TWO ONE" and completion.model == "judge"
    stream = client.chat.completions.create(model="judge", stream=True,
                                            messages=[{"role": "user", "content": "one two three"}])
    text = "".join(chunk.choices[0].delta.content or "" for chunk in stream if chunk.choices)
    assert text == "THREE TWO ONE"
    assert [m.id for m in client.models.list()] == ["judge"]


def test_the_openai_client_sees_a_flow_failure_as_an_api_error(agents, runner):
    proc = runner({"root": runtime("ghost")}, bind={"ghost": "http://127.0.0.1:9"})
    client = openai.OpenAI(base_url=proc.url + "/openai/v1", api_key="unused", max_retries=0)
    with pytest.raises(openai.APIStatusError) as caught:
        client.chat.completions.create(model="f", messages=[{"role": "user", "content": "x"}])
    assert caught.value.status_code == 502
    assert caught.value.body["code"] == "AgentUnreachable" and caught.value.body["node"] == "ghost"
