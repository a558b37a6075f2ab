"""Calling the leaves: every agent kind speaks OpenAI chat completions, so one call serves all three.

``call_agent`` renders the node's input (and headers, system prompt), POSTs the request, and returns
the answer's text. With a ``sink`` it asks for a stream and forwards each delta as it arrives (that
is how the last agent's stream reaches the caller); without one it asks for one JSON answer.
Transport errors, non-2xx answers and malformed bodies become ``FlowFailure`` naming the node.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from agentctl.flow.context import FlowFailure, NodeScope, Sink, preview
from agentctl.flow.expr import ExpressionError, Template
from agentctl.flow.httpwire import HttpError, Response, request
from agentctl.flow.model import Agent, ChatEndpoint, LlmAgent, OpenAIAgent, RuntimeAgent


def render(template: Template, scope: NodeScope, path: str, what: str) -> str:
    try:
        return template.render(scope)
    except ExpressionError as exc:
        raise FlowFailure(path, f"{what}: {exc}", code="ExpressionFailed", status=500) from exc


def headers_of(templates: Mapping[str, Template], scope: NodeScope, path: str) -> dict[str, str]:
    return {name: render(t, scope, path, f"header {name}") for name, t in templates.items()}


def endpoint_headers(endpoint: ChatEndpoint, scope: NodeScope, path: str) -> dict[str, str]:
    headers = headers_of(endpoint.headers, scope, path)
    if endpoint.api_key_env:
        key = scope.run.env.get(endpoint.api_key_env)
        if not key:
            raise FlowFailure(path, f"apiKeyEnv {endpoint.api_key_env} is not set in the runtime's environment",
                              code="MissingApiKey", status=500)
        headers.setdefault("Authorization", f"Bearer {key}")
    return headers


async def call_agent(node: Agent, scope: NodeScope, path: str, sink: Sink | None) -> str:
    text = render(node.input, scope, path, "input")
    messages: list[dict[str, str]] = [{"role": "user", "content": text}]
    body: dict[str, Any] = {}
    match node:
        case RuntimeAgent():
            if node.url is None:
                raise FlowFailure(path, f"runtime {node.resource!r} has no URL bound", code="NotBound", status=500)
            url, headers = node.url.rstrip("/") + node.path, headers_of(node.headers, scope, path)
        case OpenAIAgent(endpoint=endpoint) | LlmAgent(endpoint=endpoint):
            url, headers = endpoint.url, endpoint_headers(endpoint, scope, path)
            if endpoint.model:
                body["model"] = endpoint.model
            if endpoint.temperature is not None:
                body["temperature"] = endpoint.temperature
            if isinstance(node, LlmAgent) and node.system is not None:
                messages.insert(0, {"role": "system", "content": render(node.system, scope, path, "system")})
    if scope.run.input.user_id:
        body["user"] = scope.run.input.user_id
    return await chat(url, headers, {**body, "messages": messages}, path, sink)


async def chat(url: str, headers: Mapping[str, str], body: dict[str, Any], path: str, sink: Sink | None) -> str:
    """POST one chat completion; the answer's text (streamed into ``sink`` when given)."""
    payload = json.dumps({**body, "stream": sink is not None}, ensure_ascii=False).encode()
    all_headers = {"Content-Type": "application/json", "Accept": "text/event-stream" if sink else "application/json",
                   **headers}
    try:
        response = await request("POST", url, all_headers, payload)
    except HttpError as exc:
        raise FlowFailure(path, str(exc), code="AgentUnreachable") from exc
    try:
        if response.status // 100 != 2:
            detail = (await response.read()).decode("utf-8", "replace")
            raise FlowFailure(path, f"{url} answered {response.status}: {preview(detail, 300)}")
        if sink is not None and response.headers.get("content-type", "").startswith("text/event-stream"):
            return await _relay(response, path, sink)
        content = _content_of(await response.read(), url, path)
        if sink is not None:
            await sink(content)  # asked for a stream, got one JSON answer: pass it on whole
        return content
    except HttpError as exc:
        raise FlowFailure(path, f"{url}: {exc}", code="AgentFailed") from exc
    finally:
        response.close()


async def _relay(response: Response, path: str, sink: Sink) -> str:
    parts: list[str] = []
    async for data in response.sse():
        if data.strip() == "[DONE]":
            break
        try:
            chunk = json.loads(data)
        except ValueError:
            raise FlowFailure(path, f"{response.url} sent a stream event that is not JSON: {preview(data)}") from None
        if isinstance(chunk, dict) and "error" in chunk:
            raise FlowFailure(path, f"{response.url} streamed an error: {preview(json.dumps(chunk['error']))}")
        delta = _delta_of(chunk)
        if delta:
            parts.append(delta)
            await sink(delta)
    return "".join(parts)


def _delta_of(chunk: Any) -> str:
    try:
        content = chunk["choices"][0]["delta"].get("content")
    except (KeyError, IndexError, TypeError, AttributeError):
        return ""
    return content if isinstance(content, str) else ""


def _content_of(raw: bytes, url: str, path: str) -> str:
    try:
        content = json.loads(raw)["choices"][0]["message"]["content"]
    except (ValueError, KeyError, IndexError, TypeError):
        raise FlowFailure(path, f"{url} did not answer a chat completion: {preview(raw.decode('utf-8', 'replace'))}",
                          code="BadAnswer") from None
    if isinstance(content, list):  # content parts
        return "".join(str(part.get("text", "")) for part in content if isinstance(part, dict))
    return "" if content is None else str(content)
