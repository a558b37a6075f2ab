"""``agentctl invoke``: send a chat message (or any request) to an endpoint and stream the answer.

Chat mode posts ``/openai/v1/chat/completions`` with ``"stream": true`` and
prints the text of each server-sent event as it arrives. Raw mode
(``--method/--path/--body/--header``) streams the response body unchanged.
``--debug`` prints the status and the ``x-agentrun-*`` headers to stderr;
``-o json`` prints one JSON object with status, those headers and the body.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterable, Iterator
from typing import Any

import typer

from agentctl.cli.context import options
from agentctl.cli.render import emit, say
from agentctl.cli.target import BACKEND, single
from agentctl.errors import BackendError, BadInput

CHAT_PATH = "/openai/v1/chat/completions"
HEADER_PREFIX = "x-agentrun-"


def invoke(
    ctx: typer.Context,
    message: str = typer.Option(None, "--message", "-m", help="The chat message (default mode)."),
    endpoint_name: str = typer.Option("default", "--endpoint-name", help="The endpoint to call."),
    method: str = typer.Option(None, "--method", help="Send a raw request with this method instead of a chat."),
    path: str = typer.Option(None, "--path", help="Path under the endpoint for a raw request, e.g. /health."),
    body: str = typer.Option(None, "--body", help="Request body for a raw request; @FILE reads a file."),
    header: list[str] = typer.Option([], "--header", "-H", help="Extra header 'Name: value' (repeatable)."),
    timeout: float = typer.Option(300.0, "--timeout", help="Seconds to wait for the answer."),
    backend: str = BACKEND,
) -> None:
    """Send a chat message to the agent (or any request with --method/--path) and stream the answer."""
    opts = options(ctx)
    target = single(ctx, backend)
    runtime = target.runtime()
    url = target.backend.invoke_url(runtime, target.backend.require_endpoint(runtime, endpoint_name))
    raw = any(value is not None for value in (method, path, body))
    request = raw_request(method, path, body, header) if raw else chat_request(message or "Hello", header)
    result = send(url, request, stream=opts.output == "table", trust_env=target.backend.kind != "local",
                  timeout=timeout, chat=not raw, debug=opts.debug)
    if opts.output != "table":
        emit(result, opts.output)
    if result["status"] >= 400:
        raise BackendError(f"the agent answered HTTP {result['status']} on endpoint {endpoint_name}",
                           hint="`agentctl logs` shows what the instance printed.")


def chat_request(message: str, headers: list[str]) -> dict[str, Any]:
    payload = {"model": "agent", "stream": True, "messages": [{"role": "user", "content": message}]}
    return {"method": "POST", "path": CHAT_PATH, "headers": {"Content-Type": "application/json",
            "Accept": "text/event-stream", **parse_headers(headers)}, "content": json.dumps(payload).encode()}


def raw_request(method: str | None, path: str | None, body: str | None, headers: list[str]) -> dict[str, Any]:
    content = _read_body(body) if body is not None else None
    path = path or "/"
    return {"method": (method or ("POST" if content is not None else "GET")).upper(),
            "path": path if path.startswith("/") else "/" + path,
            "headers": parse_headers(headers), "content": content}


def _read_body(body: str) -> bytes:
    if not body.startswith("@"):
        return body.encode()
    try:
        with open(body[1:], "rb") as handle:
            return handle.read()
    except OSError as exc:
        raise BadInput(f"--body {body}: {exc.strerror}", hint="Give a readable file after @, or the body itself.") \
            from exc


def parse_headers(items: Iterable[str]) -> dict[str, str]:
    headers = {}
    for item in items:
        name, sep, value = item.partition(":")
        if not sep or not name.strip():
            raise BadInput(f"--header {item!r} is not 'Name: value'", hint="e.g. --header 'X-Session-Id: abc'")
        headers[name.strip()] = value.strip()
    return headers


def sse_text(line: str) -> str | None:
    """The text an OpenAI stream line carries (``data: {...choices[0].delta.content}``), else None."""
    if not line.startswith("data:"):
        return None
    data = line[5:].strip()
    if not data or data == "[DONE]":
        return None
    try:
        event = json.loads(data)
        choice = event["choices"][0]
    except (ValueError, KeyError, IndexError, TypeError):
        return None
    delta = choice.get("delta") or choice.get("message") or {}
    content = delta.get("content") if isinstance(delta, dict) else None
    return content if isinstance(content, str) else None


def send(url: str, request: dict[str, Any], *, stream: bool, trust_env: bool, timeout: float, chat: bool,
         debug: bool) -> dict[str, Any]:
    """Send the request; while ``stream``, write the answer to stdout as it comes. Returns the summary."""
    import httpx

    try:
        with httpx.Client(trust_env=trust_env, timeout=httpx.Timeout(timeout, connect=10.0)) as client, \
                client.stream(request["method"], url.rstrip("/") + request["path"],
                              headers=request["headers"], content=request["content"]) as response:
            agent_headers = {k: v for k, v in response.headers.items() if k.lower().startswith(HEADER_PREFIX)}
            if debug:
                say(f"HTTP {response.status_code} " + " ".join(f"{k}={v}" for k, v in agent_headers.items()))
            text = _consume(response, stream=stream, chat=chat and response.status_code < 400)
    except httpx.HTTPError as exc:
        raise BackendError(f"cannot reach {url}: {exc}",
                           hint="Check that the runtime is deployed and READY (`agentctl info`).") from exc
    return {"status": response.status_code, "headers": agent_headers, "body": _maybe_json(text)}


def _consume(response: Any, *, stream: bool, chat: bool) -> str:
    """The answer's text; echoed to stdout piece by piece while ``stream``."""
    if chat and "text/event-stream" in response.headers.get("content-type", ""):
        text = "".join(_echo((p for line in response.iter_lines() if (p := sse_text(line))), stream))
    elif chat:
        body = response.read().decode(errors="replace")
        text = sse_text("data: " + body) or body  # a JSON completion: just the reply
        _write(text, stream)
    else:
        text = "".join(_echo(response.iter_text(), stream))
    if text and not text.endswith("\n"):
        _write("\n", stream)
    return text


def _echo(pieces: Iterable[str], stream: bool) -> Iterator[str]:
    for piece in pieces:
        _write(piece, stream)
        yield piece


def _write(text: str, stream: bool) -> None:
    if stream:
        sys.stdout.write(text)
        sys.stdout.flush()


def _maybe_json(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        return text


def register(app: typer.Typer) -> None:
    app.command("invoke")(invoke)
