"""The flow runner: the process a flow runtime's instances run (``python3 -m agentctl.flow.runner``).

    POST /openai/v1/chat/completions   OpenAI chat completions, JSON or ``stream: true`` SSE
    POST /v1/workflows/run             Dify workflow run, ``response_mode`` blocking | streaming
    GET  /openai/v1/models             the flow, as the one model served
    GET  /health                       {"status": "ok", "flow": <name>}

It reads the resolved flow (``agentctl.flow.resolved``) from ``--flow``, ``$AGENTCTL_FLOW_FILE`` or
``./flow.json``; ``--runtime RESOURCE[:ENDPOINT]=URL`` binds runtime nodes for a run outside a
deploy. It listens on ``--port``, else $PORT / $FC_SERVER_PORT / $AGENTRUN_PORT (default 9000), at
``--host``, else $HOST, else 0.0.0.0 inside a cloud instance (FC_INSTANCE_ID set), else 127.0.0.1 —
as the templates do. A flow that does not load is an error on stderr and exit code 2 (the
instance then fails its health check, and a deploy says why). Stdlib only (see ``httpwire``).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import sys
import traceback
import uuid
from collections.abc import Awaitable, Coroutine, Mapping, Sequence
from pathlib import Path
from typing import Any, TypeVar

from agentctl.flow.context import FlowFailure, NodeEvent, Observer, RunInput, Sink
from agentctl.flow.executor import Executor, Outcome
from agentctl.flow.fields import FlowSpecError
from agentctl.flow.httpwire import Exchange, Server, serve
from agentctl.flow.model import Flow
from agentctl.flow.protocols import (
    DONE,
    BadRequest,
    DifyShapes,
    OpenAIShapes,
    dify_input,
    openai_error,
    openai_input,
)
from agentctl.flow.resolved import FLOW_FILE, load_flow_file
from agentctl.flow.trace import LogTrace

T = TypeVar("T")
PING_SECONDS = 10.0  # keeps idle streams (a long non-streaming stage) alive through proxies


class _Pump:
    """Bytes for a streaming answer, queued by the run (sync observers, async sink) and written in order."""

    def __init__(self, ping: bytes) -> None:
        self.queue: asyncio.Queue[bytes | None] = asyncio.Queue()
        self.ping = ping

    def put(self, data: bytes) -> None:
        self.queue.put_nowait(data)

    def close(self) -> None:
        self.queue.put_nowait(None)

    async def into(self, exchange: Exchange) -> None:
        while True:
            try:
                item = await asyncio.wait_for(self.queue.get(), PING_SECONDS)
            except asyncio.TimeoutError:
                await exchange.write(self.ping)
                continue
            if item is None:
                return
            await exchange.write(item)


class _DifyEvents:
    """An observer that turns node events into Dify stream events."""

    def __init__(self, shapes: DifyShapes, pump: _Pump) -> None:
        self.shapes, self.pump, self.steps = shapes, pump, 0

    def node_started(self, event: NodeEvent) -> None:
        self.pump.put(self.shapes.node_started(event))

    def node_finished(self, event: NodeEvent) -> None:
        self.steps += 1
        self.pump.put(self.shapes.node_finished(event))

    def note(self, event: NodeEvent, message: str) -> None:
        pass


class FlowRunner:
    """The HTTP face of one flow: routes, protocol shapes, the request-level log lines."""

    def __init__(self, flow: Flow, *, environ: Mapping[str, str] | None = None, trace: LogTrace | None = None) -> None:
        self.flow = flow
        self.trace = trace or LogTrace()
        self.executor = Executor(flow, environ=environ, observers=[self.trace])

    async def start(self, host: str, port: int) -> Server:
        return await serve(self.handle, host, port)

    async def handle(self, exchange: Exchange) -> None:
        request = exchange.request
        request_id = request.headers.get("x-agentrun-request-id") or uuid.uuid4().hex
        exchange.extra_headers["x-flow-request-id"] = request_id
        route = (request.method, request.path.rstrip("/") or "/")
        try:
            match route:
                case ("GET", "/health"):
                    await exchange.send_json(200, {"status": "ok", "flow": self.flow.name})
                case ("GET", "/openai/v1/models"):
                    model = {"id": self.flow.name, "object": "model", "created": 0, "owned_by": "agentctl-flow"}
                    await exchange.send_json(200, {"object": "list", "data": [model]})
                case ("POST", "/openai/v1/chat/completions"):
                    await self.openai(exchange, request_id)
                case ("POST", "/v1/workflows/run"):
                    await self.dify(exchange, request_id)
                case (_, "/health" | "/openai/v1/models" | "/openai/v1/chat/completions" | "/v1/workflows/run"):
                    await exchange.send_json(405, openai_error(f"{request.method} is not allowed on {request.path}"))
                case _:
                    await exchange.send_json(404, openai_error(f"no route for {request.method} {request.path}",
                                                               "not_found"))
        except BadRequest as exc:
            await exchange.send_json(400, openai_error(str(exc)))

    def _body(self, exchange: Exchange) -> object:
        try:
            return exchange.request.json()
        except ValueError as exc:
            raise BadRequest(f"the body is not JSON: {exc}") from None

    async def _run(self, run: RunInput, protocol: str, *, sink: Sink | None = None,
                   observers: Sequence[Observer] = ()) -> Outcome:
        """Run with request-level log lines; unexpected errors become a 500 FlowFailure (traceback to stderr)."""
        self.trace.request(run.request_id, event="request", protocol=protocol)
        try:
            outcome = await self.executor.run(run, sink, observers)
        except FlowFailure as failure:
            self.trace.request(run.request_id, event="request-end", outcome="error", node=failure.path,
                               code=failure.code)
            raise
        except Exception as exc:
            traceback.print_exc(file=sys.stderr)
            raise FlowFailure(self.flow.name, f"the runner failed: {exc!r}", code="RunnerError", status=500) from exc
        self.trace.request(run.request_id, event="request-end", outcome="ok")
        return outcome

    async def openai(self, exchange: Exchange, request_id: str) -> None:
        body = self._body(exchange)
        run = openai_input(body, exchange.request.headers, request_id)
        shapes = OpenAIShapes(self.flow.name)
        if not (isinstance(body, dict) and body.get("stream")):
            try:
                done = await _unless_gone(exchange, self._run(run, "openai"))
                if done is None:
                    return  # the client left; the run was stopped
                outcome = done.result()
            except FlowFailure as failure:
                await exchange.send_json(failure.status, {"error": failure.body()})
                return
            await exchange.send_json(200, shapes.completion(outcome.result.content))
            return
        pump = _Pump(b": ping\n\n")
        pump.put(shapes.chunk({"role": "assistant", "content": ""}))

        async def sink(delta: str) -> None:
            pump.put(shapes.chunk({"content": delta}))

        async def work() -> None:
            try:
                outcome = await self._run(run, "openai-stream", sink=sink)
                if not outcome.streamed:
                    pump.put(shapes.chunk({"content": outcome.result.content}))
                pump.put(shapes.chunk({}, "stop"))
            except FlowFailure as failure:
                pump.put(shapes.failure(failure))
            finally:
                pump.put(DONE)
                pump.close()

        await self._stream(exchange, pump, work())

    async def dify(self, exchange: Exchange, request_id: str) -> None:
        run, streaming = dify_input(self._body(exchange), request_id)
        shapes = DifyShapes(self.flow.name, run)
        if not streaming:
            steps = _DifyEvents(shapes, _Pump(b""))
            try:
                done = await _unless_gone(exchange, self._run(run, "dify", observers=[steps]))
                if done is None:
                    return  # the client left; the run was stopped
                outcome = done.result()
                answer = shapes.blocking(outcome.result.content, None, steps.steps)
            except FlowFailure as failure:
                answer = shapes.blocking(None, failure, steps.steps)
            await exchange.send_json(200, answer)
            return
        pump = _Pump(shapes.ping())
        events = _DifyEvents(shapes, pump)
        pump.put(shapes.workflow_started())

        async def sink(delta: str) -> None:
            pump.put(shapes.text_chunk(delta))

        async def work() -> None:
            try:
                outcome = await self._run(run, "dify-stream", sink=sink, observers=[events])
                if not outcome.streamed:
                    pump.put(shapes.text_chunk(outcome.result.content))
                pump.put(shapes.workflow_finished(outcome.result.content, None, events.steps))
            except FlowFailure as failure:
                pump.put(shapes.workflow_finished(None, failure, events.steps))
            finally:
                pump.close()

        await self._stream(exchange, pump, work())

    async def _stream(self, exchange: Exchange, pump: _Pump, work: Coroutine[Any, Any, None]) -> None:
        await exchange.start_stream()
        task = asyncio.ensure_future(work)
        try:
            if await _unless_gone(exchange, pump.into(exchange)) is not None:
                await exchange.finish()
        finally:
            if not task.done():
                task.cancel()  # the client went away: stop the run (and its agent calls)
            await asyncio.gather(task, return_exceptions=True)


async def _unless_gone(exchange: Exchange, work: Awaitable[T]) -> asyncio.Future[T] | None:
    """``work``, finished; or None (``work`` cancelled) when the client closes the connection first."""
    task, gone = asyncio.ensure_future(work), asyncio.ensure_future(exchange.peer_gone())
    try:
        await asyncio.wait({task, gone}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for pending in (task, gone):
            if not pending.done():
                pending.cancel()
        await asyncio.gather(task, gone, return_exceptions=True)
    return None if task.cancelled() else task


def _port(given: int | None) -> int:
    if given is not None:
        return given
    for name in ("PORT", "FC_SERVER_PORT", "AGENTRUN_PORT"):
        if os.environ.get(name):
            return int(os.environ[name])
    return 9000


def _host(given: str | None) -> str:
    if given:
        return given
    if os.environ.get("HOST"):
        return os.environ["HOST"]
    return "0.0.0.0" if os.environ.get("FC_INSTANCE_ID") else "127.0.0.1"


def _bindings(values: list[str]) -> dict[tuple[str, str], str]:
    out = {}
    for value in values:
        target, sep, url = value.partition("=")
        if not sep or not url:
            raise ValueError(f"--runtime expects RESOURCE[:ENDPOINT]=URL, got {value!r}")
        resource, _, endpoint = target.partition(":")
        out[(resource, endpoint or "default")] = url
    return out


async def _serve(runner: FlowRunner, host: str, port: int) -> None:
    server = await runner.start(host, port)
    print(f"flow {runner.flow.name} listening on http://{host}:{server.port}", flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    await stop.wait()
    await server.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m agentctl.flow.runner", description=__doc__.split("\n")[0])
    parser.add_argument("--flow", type=Path, help=f"the flow file (default $AGENTCTL_FLOW_FILE, else ./{FLOW_FILE})")
    parser.add_argument("--runtime", action="append", default=[], metavar="RESOURCE[:ENDPOINT]=URL",
                        help="bind a runtime node to a URL (repeat per runtime)")
    parser.add_argument("--host")
    parser.add_argument("--port", type=int)
    args = parser.parse_args(argv)
    path = args.flow or Path(os.environ.get("AGENTCTL_FLOW_FILE") or FLOW_FILE)
    try:
        bindings = _bindings(args.runtime)
        flow = load_flow_file(path, bind=(lambda r, e: bindings.get((r, e))) if bindings else None)
    except FlowSpecError as exc:
        sys.stderr.write(f"flow runner: {exc.message}\nHint: {exc.hint}\n")
        return 2
    except ValueError as exc:
        sys.stderr.write(f"flow runner: {exc}\nHint: e.g. --runtime shout=http://127.0.0.1:9001\n")
        return 2
    asyncio.run(_serve(FlowRunner(flow), _host(args.host), _port(args.port)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
