"""The two protocols a flow answers, as AgentRun flows do: OpenAI chat completions and Dify workflow run.

OpenAI (``POST /openai/v1/chat/completions``): ``sys.query`` is the last user message, ``sys.user_id``
the body's ``user``, ``sys.conversation_id`` the body's ``conversation_id`` (an extension) or the
``x-conversation-id`` header. The answer is a ``chat.completion`` (model = the flow's name), or
with ``stream: true`` ``chat.completion.chunk`` events then ``[DONE]``; a failure is
``{"error": {message, type: flow_error, code, node}}`` — the HTTP status (502 an agent failed,
504 a timeout, 500 the flow itself) in JSON mode, a last ``data:`` event when streaming.

Dify (``POST /v1/workflows/run``): ``inputs`` (``inputs.*`` in expressions; ``sys.query`` from
``inputs["sys.query"]`` or ``inputs.query``), ``response_mode`` blocking (default) | streaming,
``user``. Blocking answers ``{task_id, workflow_run_id, data: {id, workflow_id, status, outputs:
{text}, error, elapsed_time, total_tokens, total_steps, created_at, finished_at}}``; streaming sends
``workflow_started``, ``node_started``/``node_finished`` per node (node_id = the node path), the
last agent's ``text_chunk`` events, and ``workflow_finished`` — Dify's event shapes. A failed run
is ``status: failed`` with ``error`` (HTTP 200, as Dify answers).
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Mapping
from typing import Any

from agentctl.flow.context import FlowFailure, NodeEvent, RunInput


class BadRequest(Exception):
    """A request the runner cannot take (400): the message says what to send instead."""


def _text_of(content: Any) -> str:
    if isinstance(content, list):
        return " ".join(str(part.get("text", "")) for part in content if isinstance(part, dict))
    return "" if content is None else str(content)


def openai_input(body: Any, headers: Mapping[str, str], request_id: str) -> RunInput:
    if not isinstance(body, dict) or not isinstance(body.get("messages"), list):
        raise BadRequest("expected a JSON body with a messages list")
    users = [m for m in body["messages"] if isinstance(m, dict) and m.get("role") == "user"]
    if not users:
        raise BadRequest("messages has no user message: the flow starts from the last one (sys.query)")
    return RunInput(query=_text_of(users[-1].get("content")), user_id=str(body.get("user") or ""),
                    conversation_id=str(body.get("conversation_id") or headers.get("x-conversation-id", "")),
                    request_id=request_id)


def dify_input(body: Any, request_id: str) -> tuple[RunInput, bool]:
    """The run input and whether the caller asked for streaming."""
    if not isinstance(body, dict):
        raise BadRequest("expected a JSON body like {inputs: {...}, response_mode: blocking, user: ...}")
    inputs = body.get("inputs") or {}
    if not isinstance(inputs, dict):
        raise BadRequest("inputs must be a map of input name to value")
    mode = body.get("response_mode") or "blocking"
    if mode not in ("blocking", "streaming"):
        raise BadRequest(f"response_mode must be blocking or streaming, got {mode!r}")
    query = inputs.get("sys.query", inputs.get("query", body.get("query", "")))
    run = RunInput(query=_text_of(query), user_id=str(body.get("user") or inputs.get("sys.user_id") or ""),
                   conversation_id=str(body.get("conversation_id") or inputs.get("sys.conversation_id") or ""),
                   inputs={k: v for k, v in inputs.items() if not str(k).startswith("sys.")}, request_id=request_id)
    return run, mode == "streaming"


def openai_error(message: str, kind: str = "invalid_request_error") -> dict[str, Any]:
    return {"error": {"message": message, "type": kind}}


class OpenAIShapes:
    """Completion and chunk bodies of one answer (one id, one created time)."""

    def __init__(self, model: str) -> None:
        self.model = model
        self.id = f"chatcmpl-{uuid.uuid4().hex[:24]}"
        self.created = int(time.time())

    def completion(self, content: str) -> dict[str, Any]:
        return {"id": self.id, "object": "chat.completion", "created": self.created, "model": self.model,
                "choices": [{"index": 0, "message": {"role": "assistant", "content": content},
                             "finish_reason": "stop"}]}

    def chunk(self, delta: dict[str, str], finish: str | None = None) -> bytes:
        body = {"id": self.id, "object": "chat.completion.chunk", "created": self.created, "model": self.model,
                "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}
        return sse(body)

    @staticmethod
    def failure(failure: FlowFailure) -> bytes:
        return sse({"error": failure.body()})


def sse(payload: Any) -> bytes:
    return b"data: " + json.dumps(payload, ensure_ascii=False).encode() + b"\n\n"


DONE = b"data: [DONE]\n\n"


class DifyShapes:
    """Dify workflow-run event and blocking bodies for one run (task id = the request id)."""

    def __init__(self, workflow_id: str, run: RunInput) -> None:
        self.workflow_id, self.run = workflow_id, run
        self.task_id = run.request_id
        self.run_id = str(uuid.uuid4())
        self.created_at = int(time.time())
        self.started = time.time()

    def event(self, name: str, data: Mapping[str, Any]) -> bytes:
        return sse({"event": name, "task_id": self.task_id, "workflow_run_id": self.run_id, "data": dict(data)})

    def workflow_started(self) -> bytes:
        inputs = {**self.run.inputs, "sys.query": self.run.query, "sys.user_id": self.run.user_id,
                  "sys.conversation_id": self.run.conversation_id}
        return self.event("workflow_started", {"id": self.run_id, "workflow_id": self.workflow_id,
                                               "sequence_number": 1, "inputs": inputs, "created_at": self.created_at})

    def _node(self, event: NodeEvent) -> dict[str, Any]:
        return {"id": f"{self.run_id}:{event.index}", "node_id": event.path, "node_type": event.type,
                "title": event.title, "index": event.index, "predecessor_node_id": None,
                "inputs": {"text": event.input}, "created_at": int(event.started_at), "extras": {}}

    def node_started(self, event: NodeEvent) -> bytes:
        return self.event("node_started", self._node(event))

    def node_finished(self, event: NodeEvent) -> bytes:
        outputs = {"text": event.output, **event.detail} if event.outcome == "ok" else None
        return self.event("node_finished", {
            **self._node(event), "process_data": None, "outputs": outputs,
            "status": "succeeded" if event.outcome == "ok" else "failed", "error": event.error,
            "elapsed_time": event.duration_ms / 1000, "execution_metadata": {"attempts": event.attempts},
            "finished_at": int(event.finished_at or time.time()), "files": []})

    def text_chunk(self, text: str) -> bytes:
        return self.event("text_chunk", {"text": text, "from_variable_selector": [self.workflow_id, "text"]})

    def finished_data(self, content: str | None, failure: FlowFailure | None, steps: int) -> dict[str, Any]:
        return {"id": self.run_id, "workflow_id": self.workflow_id, "sequence_number": 1,
                "status": "failed" if failure else "succeeded",
                "outputs": None if failure else {"text": content},
                "error": str(failure) if failure else None,
                "elapsed_time": time.time() - self.started, "total_tokens": 0, "total_steps": steps,
                "created_at": self.created_at, "finished_at": int(time.time()), "files": []}

    def workflow_finished(self, content: str | None, failure: FlowFailure | None, steps: int) -> bytes:
        return self.event("workflow_finished", self.finished_data(content, failure, steps))

    def blocking(self, content: str | None, failure: FlowFailure | None, steps: int) -> dict[str, Any]:
        data = self.finished_data(content, failure, steps)
        del data["sequence_number"], data["files"]
        if failure:
            data["node"] = failure.path
        return {"task_id": self.task_id, "workflow_run_id": self.run_id, "data": data}

    def ping(self) -> bytes:
        return b"event: ping\n\n"
