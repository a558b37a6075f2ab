"""Run a flow: each node in turn over the run's shared state, with per-node timeouts and retries.

- sequential: children in order; each one receives the previous one's output (the first, the
  sequential's own input); the last child's output is the sequential's.
- parallel / route: see ``agentctl.flow.branches``.
- loop: ``count`` runs the body N times, each iteration receiving the previous one's output;
  ``until`` does so until the condition holds after an iteration (``maxIterations``, when given,
  ends it normally; otherwise 1000 iterations fail with "Max loop count reached"); ``forEach``
  runs the body once per element (the element is its input and ``loop.item``) and outputs the list.
- agents: ``agentctl.flow.agents``.

Every node writes its output to ``state[outputKey]``. A node that fails is retried ``retries``
times (backoff 0.25 s doubling, at most 4 s), each attempt bounded by its ``timeout``; a retry is
skipped once part of the answer was streamed to the caller (it cannot be taken back). The whole
run is bounded by the flow's ``timeout``. Only the node in tail position gets the caller's sink,
so the last agent's stream passes through as it arrives; everything else is awaited whole.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import time
from collections.abc import Awaitable, Mapping, Sequence
from dataclasses import dataclass

from agentctl.flow import branches
from agentctl.flow.agents import call_agent
from agentctl.flow.context import (
    FlowFailure,
    LoopVars,
    NodeEvent,
    NodeScope,
    Observer,
    Result,
    Run,
    RunInput,
    Sink,
)
from agentctl.flow.expr import Expr, ExpressionError, evaluate, render_value, truthy
from agentctl.flow.model import (
    MAX_LOOP_ITERATIONS,
    Agent,
    ArrayLoop,
    ConditionLoop,
    CountLoop,
    Flow,
    LlmAgent,
    Loop,
    Node,
    OpenAIAgent,
    Parallel,
    Route,
    RuntimeAgent,
    Sequential,
    node_type,
)

MAX_LOOP_MESSAGE = "Max loop count reached"


@dataclass(frozen=True)
class Outcome:
    result: Result
    streamed: bool  # True when the sink already received the answer's text


class _TrackingSink:
    """Wraps the caller's sink to know whether anything went out (then a retry would duplicate text)."""

    def __init__(self, sink: Sink | None) -> None:
        self.sink, self.emitted = sink, False

    async def __call__(self, delta: str) -> None:
        self.emitted = True
        if self.sink is not None:
            await self.sink(delta)

    def get(self) -> Sink | None:
        return self if self.sink is not None else None


class Executor:
    """Runs one parsed flow; stateless between runs, so one executor serves concurrent requests."""

    def __init__(self, flow: Flow, *, environ: Mapping[str, str] | None = None,
                 observers: Sequence[Observer] = ()) -> None:
        self.flow = flow
        # The flow's env are defaults; the instance's environment (the runtime's environmentVariables) wins.
        self.env = {**flow.env, **(os.environ if environ is None else environ)}
        self.observers = tuple(observers)

    async def run(self, given: RunInput, sink: Sink | None = None,
                  observers: Sequence[Observer] = ()) -> Outcome:
        run = Run(given, self.env, self.observers + tuple(observers))
        tracking = _TrackingSink(sink)
        root = self.flow.root
        try:
            result = await asyncio.wait_for(
                self.node(root, NodeScope(run, Result.text(given.query)), root.meta.name, tracking.get()),
                self.flow.timeout)
        except asyncio.TimeoutError:
            raise FlowFailure(root.meta.name, f"the flow did not finish within {self.flow.timeout:g}s",
                              code="Timeout", status=504) from None
        return Outcome(result, tracking.emitted)

    async def node(self, node: Node, scope: NodeScope, path: str, sink: Sink | None) -> Result:
        """One node with its retries and timeout, bracketed by start/end trace events."""
        run = scope.run
        event = NodeEvent(run.input.request_id, path, node_type(node), node.meta.name, run.next_index(),
                          time.time(), scope.last.content)
        for observer in run.observers:
            observer.node_started(event)
        attempts = node.meta.retries + 1
        try:
            for attempt in range(1, attempts + 1):
                event.attempts = attempt
                tracking = _TrackingSink(sink)
                try:
                    result = await self._attempt(node, scope, path, tracking.get(), event)
                    break
                except FlowFailure as failure:
                    if attempt == attempts or tracking.emitted:
                        raise
                    for observer in run.observers:
                        observer.note(event, f"retry attempt={attempt + 1} after: {failure}")
                    await asyncio.sleep(min(0.25 * 2 ** (attempt - 1), 4.0))
            run.state[node.meta.output_key] = result.value
            event.outcome, event.output = "ok", result.content
        except FlowFailure as failure:
            event.outcome, event.error = "error", str(failure)
            raise
        except BaseException as exc:  # cancelled (a sibling failed, the client left) or the caller's sink broke
            event.outcome, event.error = "error", "cancelled" if isinstance(exc, asyncio.CancelledError) else repr(exc)
            raise
        finally:
            event.finished_at = time.time()
            for observer in run.observers:
                observer.node_finished(event)
        return result

    async def _attempt(self, node: Node, scope: NodeScope, path: str, sink: Sink | None, event: NodeEvent) -> Result:
        work = self._dispatch(node, scope, path, sink, event)
        if node.meta.timeout is None:
            return await work
        try:
            return await asyncio.wait_for(work, node.meta.timeout)
        except asyncio.TimeoutError:
            raise FlowFailure(path, f"timed out after {node.meta.timeout:g}s", code="Timeout", status=504) from None

    def _dispatch(self, node: Node, scope: NodeScope, path: str, sink: Sink | None,
                  event: NodeEvent) -> Awaitable[Result]:
        match node:
            case Sequential():
                return self._sequential(node, scope, path, sink)
            case Parallel():
                return branches.fan_out(self._child(scope, path), node.agents, node.merge, scope.last)
            case Loop():
                return self._loop(node, scope, path, sink)
            case Route():
                return branches.route(self._child(scope, path), node, scope, path, sink, event)
            case RuntimeAgent() | OpenAIAgent() | LlmAgent():
                return self._agent(node, scope, path, sink)
        raise AssertionError(node)

    def _child(self, scope: NodeScope, path: str) -> branches.RunChild:
        def run_child(child: Node, last: Result, sink: Sink | None) -> Awaitable[Result]:
            return self.node(child, scope.given(last), f"{path}/{child.meta.name}", sink)
        return run_child

    async def _agent(self, node: Agent, scope: NodeScope, path: str, sink: Sink | None) -> Result:
        return Result.text(await call_agent(node, scope, path, sink))

    async def _sequential(self, node: Sequential, scope: NodeScope, path: str, sink: Sink | None) -> Result:
        last = scope.last
        for i, child in enumerate(node.agents):
            tail = sink if i == len(node.agents) - 1 else None
            last = await self.node(child, scope.given(last), f"{path}/{child.meta.name}", tail)
        return last

    async def _loop(self, node: Loop, scope: NodeScope, path: str, sink: Sink | None) -> Result:
        def iteration(i: int, last: Result, item: object = None, tail: Sink | None = None) -> Awaitable[Result]:
            inner = NodeScope(scope.run, last, LoopVars(i, item))
            return self.node(node.agent, inner, f"{path}[{i}]/{node.agent.meta.name}", tail)

        strategy, last = node.strategy, scope.last
        match strategy:
            case CountLoop(count):
                for i in range(count):
                    last = await iteration(i, last, tail=sink if i == count - 1 else None)
                return last
            case ConditionLoop(until, source, max_iterations):
                for i in range(max_iterations or MAX_LOOP_ITERATIONS):
                    last = await iteration(i, last)
                    inner = NodeScope(scope.run, last, LoopVars(i))
                    if truthy(_evaluate(until, inner, path, "until")):
                        return last
                if max_iterations:
                    return last
                raise FlowFailure(path, f"{MAX_LOOP_MESSAGE} ({MAX_LOOP_ITERATIONS} iterations) before "
                                  f"`{source}` held", code="MaxLoopCountReached", status=500)
            case ArrayLoop(items, source):
                elements = _array(_evaluate(items, scope, path, "forEach"), source, path)
                outputs = []
                for i, element in enumerate(elements):
                    outputs.append((await iteration(i, Result.text(render_value(element)), element)).value)
                return Result(render_value(outputs), outputs)
        raise AssertionError(strategy)


def _evaluate(expr: Expr, scope: NodeScope, path: str, what: str) -> object:
    try:
        return evaluate(expr, scope)
    except ExpressionError as exc:
        raise FlowFailure(path, f"{what}: {exc}", code="ExpressionFailed", status=500) from exc


def _array(value: object, source: str, path: str) -> list[object]:
    if isinstance(value, str):
        with contextlib.suppress(ValueError):
            value = json.loads(value)  # text holding a JSON array
    if not isinstance(value, list):
        shown = value if isinstance(value, str) else render_value(value)
        raise FlowFailure(path, f"forEach `{source}` must give a JSON array, got {str(shown)[:200]!r}",
                          code="NotAnArray", status=500)
    if len(value) > MAX_LOOP_ITERATIONS:
        raise FlowFailure(path, f"{MAX_LOOP_MESSAGE}: forEach `{source}` has {len(value)} elements "
                          f"(at most {MAX_LOOP_ITERATIONS})", code="MaxLoopCountReached", status=500)
    return value
