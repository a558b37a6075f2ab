"""Nodes with branches: parallel fan-out with its merge, and LLM routing.

Parallel: every child receives the node's input and runs at once (at most ``maxConcurrency`` at a
time); each child's output also lands in ``state[its outputKey]``. The merge, in child order:

    map (default)  {"<outputKey>": <output>, ...}   (content: that map as JSON)
    list           [<output>, ...]                  (content: that list as JSON)
    concat         outputs joined by ``separator`` (default a blank line)

``onError: fail`` (default) fails the node with the first failing branch (the others are cancelled);
``onError: report`` keeps going and puts ``{"error": {"node", "message", "code"}}`` in place of that
branch's output (in concat: ``[<node path> failed: <message>]``).

Route: the model gets a system prompt listing each candidate's name and description and the
node's input as the user message, and answers with one name (or, with ``multiple: true``, a
JSON array of names). An answer that names no candidate, an unknown one, or several when one was
asked is invalid: the model is told why and asked again, ``pickRetries`` times (default 2). A
model call that fails counts as an invalid answer. When no answer is valid the ``fallback`` node
answers (without one, the route fails with NoValidRoute). One pick runs with the caller's sink
(its stream passes through); a multi-pick runs the picked candidates like a parallel node.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from agentctl.flow.agents import chat, endpoint_headers
from agentctl.flow.context import FlowFailure, NodeEvent, NodeScope, Result, Sink, preview
from agentctl.flow.model import DEFAULT_AGENT_TIMEOUT, Merge, Node, Route

RunChild = Callable[[Node, Result, "Sink | None"], Awaitable[Result]]


async def fan_out(run_child: RunChild, agents: Sequence[Node], merge: Merge, last: Result) -> Result:
    limit = asyncio.Semaphore(merge.max_concurrency or len(agents))

    async def branch(child: Node) -> Result:
        async with limit:
            return await run_child(child, last, None)

    tasks = [asyncio.ensure_future(branch(child)) for child in agents]
    try:
        if merge.on_error == "fail":
            outcomes: list[Result | BaseException] = list(await asyncio.gather(*tasks))
        else:
            outcomes = list(await asyncio.gather(*tasks, return_exceptions=True))
    finally:
        for task in tasks:
            task.cancel()  # no-op for finished branches; stops the rest after a failure or a cancel
        await asyncio.gather(*tasks, return_exceptions=True)
    for outcome in outcomes:
        if isinstance(outcome, BaseException) and not isinstance(outcome, FlowFailure):
            raise outcome
    return merged(agents, outcomes, merge)


def merged(agents: Sequence[Node], outcomes: Sequence[Result | BaseException], merge: Merge) -> Result:
    def value(outcome: Result | BaseException) -> Any:
        if isinstance(outcome, FlowFailure):
            return {"error": {"node": outcome.path, "message": outcome.message, "code": outcome.code}}
        assert isinstance(outcome, Result)
        return outcome.value

    def text(outcome: Result | BaseException) -> str:
        if isinstance(outcome, FlowFailure):
            return f"[{outcome.path} failed: {outcome.message}]"
        assert isinstance(outcome, Result)
        return outcome.content

    if merge.strategy == "concat":
        return Result.text(merge.separator.join(text(outcome) for outcome in outcomes))
    if merge.strategy == "list":
        items = [value(outcome) for outcome in outcomes]
        return Result(json.dumps(items, ensure_ascii=False), items)
    mapping = {agent.meta.output_key: value(outcome) for agent, outcome in zip(agents, outcomes, strict=True)}
    return Result(json.dumps(mapping, ensure_ascii=False), mapping)


async def route(run_child: RunChild, node: Route, scope: NodeScope, path: str, sink: Sink | None,
                event: NodeEvent) -> Result:
    picked = await pick(node, scope, path, event)
    event.detail["picked"] = [agent.meta.name for agent in picked]
    if not picked:
        if node.fallback is None:
            raise FlowFailure(path, f"no valid pick after {node.pick_retries + 1} attempts and no fallback",
                              code="NoValidRoute")
        event.detail["fallback"] = node.fallback.meta.name
        return await run_child(node.fallback, scope.last, sink)
    if not node.multiple:
        return await run_child(picked[0], scope.last, sink)
    return await fan_out(run_child, picked, node.merge, scope.last)


def router_prompt(node: Route) -> str:
    lines = ["You route a request to the agent best suited to handle it. The agents:"]
    lines += [f"- {agent.meta.name}: {agent.meta.description.strip()}" for agent in node.agents]
    if node.multiple:
        lines.append('Answer with a JSON array of the names of every agent that should handle the request, '
                     'e.g. ["' + node.agents[0].meta.name + '"], and nothing else.')
    else:
        lines.append("Answer with the name of exactly one agent and nothing else.")
    if node.instruction:
        lines.append(node.instruction)
    return "\n".join(lines)


async def pick(node: Route, scope: NodeScope, path: str, event: NodeEvent) -> list[Node]:
    """The valid pick (in candidate order), or [] when every attempt was invalid."""
    by_name = {agent.meta.name: agent for agent in node.agents}
    messages = [{"role": "system", "content": router_prompt(node)}, {"role": "user", "content": scope.last.content}]
    headers = endpoint_headers(node.model, scope, path)
    body = {"model": node.model.model, "temperature": node.model.temperature}
    for attempt in range(1, node.pick_retries + 2):
        try:
            call = chat(node.model.url, headers, {**body, "messages": messages}, path, None)
            reply = await asyncio.wait_for(call, DEFAULT_AGENT_TIMEOUT)
        except (FlowFailure, asyncio.TimeoutError) as exc:
            _note(scope, event, f"pick attempt={attempt} failed: {exc or 'timed out'}")
            continue
        names, problem = parse_pick(reply, list(by_name), node.multiple)
        if problem is None:
            _note(scope, event, f"pick attempt={attempt} picked={','.join(names)}")
            return [agent for agent in node.agents if agent.meta.name in names]
        _note(scope, event, f"pick attempt={attempt} invalid: {problem} reply={preview(reply, 120)}")
        messages += [{"role": "assistant", "content": reply},
                     {"role": "user", "content": f"{problem} Answer again, with names from the list only."}]
    return []


def parse_pick(reply: str, names: list[str], multiple: bool) -> tuple[list[str], str | None]:
    """The names a router answer gives, and what is wrong with it (None when it is a valid pick)."""
    text = reply.strip().removeprefix("```json").removeprefix("```").removesuffix("```").strip()
    try:
        parsed: Any = json.loads(text)
    except ValueError:
        parsed = text.replace("\n", ",").split(",")
    if isinstance(parsed, dict):
        parsed = parsed.get("agents", parsed.get("agent", []))
    if isinstance(parsed, str):
        parsed = [parsed]
    if not isinstance(parsed, list):
        parsed = [str(parsed)]
    words = [str(item).strip().strip("`'\".").removeprefix("- ").strip() for item in parsed]
    words = [word for word in words if word]
    folded = {name.lower(): name for name in names}
    chosen = list(dict.fromkeys(folded.get(word.lower(), word) for word in words))
    unknown = [word for word in chosen if word not in names]
    if not chosen:
        return [], "The answer named no agent."
    if unknown:
        return [], f"{', '.join(repr(w) for w in unknown)} is not one of the agents ({', '.join(names)})."
    if not multiple and len(chosen) > 1:
        return [], f"Pick exactly one agent; the answer named {len(chosen)}."
    return chosen, None


def _note(scope: NodeScope, event: NodeEvent, message: str) -> None:
    for observer in scope.run.observers:
        observer.note(event, message)
