"""The gateway's HTTP/1.1 server side: an ``asyncio.Protocol`` with httptools parsing.

Why not aiohttp's server: per request it builds a request object, a header
multidict, a payload stream and a response object; the gateway only relays
bytes, so here a request is a few slots and a response is bytes written to
the transport (measured: see bench/gateway.py).

One connection handles its requests in order (pipelined requests queue up).
A request's body is never buffered whole: chunks wait in the request until the
handler attaches a sink (then they flow as they arrive), and reading from the
client pauses while too much waits, or while the sink's own transport is full.
The response side is :class:`Reply`: the handler writes raw bytes; when the
client reads slowly, ``pause_writing`` pauses the reply's *source* (the
upstream transport), so a large answer is streamed, never accumulated.
Framing of the answer (Content-Length, chunked, or close-delimited for
HTTP/1.0) and ``Connection`` handling live in :meth:`Reply.head`.
"""

from __future__ import annotations

import asyncio
import collections
import logging
import time
from collections.abc import Awaitable, Callable

import httptools

log = logging.getLogger("agentctl.emulator.gateway")

BODY_BUFFER = 1024 * 1024  # request bytes that may wait for the handler before reading pauses
CONTINUE = b"HTTP/1.1 100 Continue\r\n\r\n"
IDLE_SECONDS = 75.0  # keep-alive connections with nothing to do are closed after this
LOST_GRACE = 1.0  # a handler still running this long after its client left is cancelled (frees its slot)

Sink = Callable[[bytes], None]


class Request:
    """What the client asked: method, raw target, raw headers (names as sent) and a body to attach to."""

    __slots__ = ("_chunks", "_conn", "_end", "_sink", "_waiting", "chunked", "complete", "expect_continue",
                 "headers", "http11", "keep_alive", "length", "method", "target")

    def __init__(self, conn: FrontConnection, method: bytes, target: bytes, headers: list[tuple[bytes, bytes]],
                 http11: bool, keep_alive: bool) -> None:
        self._conn, self.method, self.target, self.headers = conn, method, target, headers
        self.http11, self.keep_alive = http11, keep_alive
        self.length: int | None = None
        self.chunked = self.expect_continue = self.complete = False
        for name, value in headers:
            low = name.lower()
            if low == b"content-length" and value.strip().isdigit():
                self.length = int(value)
            elif low == b"transfer-encoding" and b"chunked" in value.lower():
                self.chunked = True
            elif low == b"expect" and value.strip().lower() == b"100-continue":
                self.expect_continue = True
        if self.chunked:
            self.length = None
        self._chunks: list[bytes] = []
        self._waiting = 0
        self._sink: Sink | None = None
        self._end: Callable[[], None] | None = None

    @property
    def has_body(self) -> bool:
        return self.chunked or bool(self.length)

    def header(self, lower_name: bytes) -> bytes | None:
        """The first value of a header (``lower_name`` in lower case), else None."""
        for name, value in self.headers:
            if name.lower() == lower_name:
                return value
        return None

    def take_body(self) -> list[bytes] | None:
        """The whole body when it has already arrived (then nothing streams later), else None."""
        if not self.complete or self._sink is not None:
            return None
        chunks, self._chunks = self._chunks, []
        self._sink = _drop
        self._conn.resume_reading()
        return chunks

    def attach(self, sink: Sink, end: Callable[[], None]) -> None:
        """Deliver the body to ``sink`` from now on (what waited first), then call ``end``."""
        if self.expect_continue and not self.complete:
            self._conn.write(CONTINUE)
        self._sink, self._end = sink, end
        chunks, self._chunks = self._chunks, []
        for chunk in chunks:
            sink(chunk)
        self._conn.resume_reading()
        if self.complete:
            end()

    def detach(self) -> None:
        """Drop whatever else arrives (the handler gave up on this body)."""
        self._sink, self._end, self._chunks = _drop, None, []

    def pause_reading(self) -> None:
        self._conn.pause_reading()

    def resume_reading(self) -> None:
        self._conn.resume_reading()

    def _feed(self, data: bytes) -> None:
        if self._sink is not None:
            self._sink(data)
            return
        self._chunks.append(data)
        self._waiting += len(data)
        if self._waiting > BODY_BUFFER:
            self._conn.pause_reading()

    def _finish(self) -> None:
        self.complete = True
        if self._end is not None:
            self._end()


def _drop(_: bytes) -> None:
    pass


def _cancel_if_running(task: asyncio.Task[None]) -> None:
    if not task.done():
        log.warning("a gateway request was still running %.1fs after its client left: cancelled", LOST_GRACE)
        task.cancel()


class Reply:
    """The answer to one request: raw bytes to the client, framing decided in :meth:`head`."""

    __slots__ = ("_conn", "_source", "closed", "keep_alive", "on_lost", "started")

    def __init__(self, conn: FrontConnection, request: Request) -> None:
        self._conn = conn
        self.keep_alive = request.keep_alive
        self.started = self.closed = False
        self.on_lost: Callable[[], None] | None = None  # called when the client goes away
        self._source: asyncio.BaseTransport | None = None

    def head(self, status: int, reason: bytes, lines: bytes, *, length: int | None, body: bool,
             http11: bool) -> tuple[bytes, bool]:
        """Status line + ``lines`` (each ending in CRLF) + framing; returns (bytes, chunked?)."""
        self.started = True
        chunked = False
        if body and length is not None:
            lines += b"content-length: %d\r\n" % length
        elif body and http11:
            lines += b"transfer-encoding: chunked\r\n"
            chunked = True
        elif body:
            self.keep_alive = False  # HTTP/1.0 and no length: the end of the answer is the end of the connection
        elif length is not None:
            lines += b"content-length: %d\r\n" % length  # HEAD: the length the GET would have
        if not self.keep_alive:
            lines += b"connection: close\r\n"
        elif not http11:
            lines += b"connection: keep-alive\r\n"
        return b"HTTP/1.1 %d %s\r\n%s\r\n" % (status, reason, lines), chunked

    def write(self, data: bytes) -> None:
        if not self.closed:
            self._conn.write(data)

    def send(self, status: int, reason: bytes, lines: bytes, body: bytes, *, http11: bool = True) -> None:
        """A whole answer at once (the gateway's own JSON errors)."""
        head, _ = self.head(status, reason, lines, length=len(body), body=True, http11=http11)
        self.write(head + body)

    def stream_from(self, source: asyncio.BaseTransport | None) -> None:
        """While the client's buffer is full, ``source`` (a transport) stops reading."""
        self._source = source
        if source is not None and self._conn.write_paused:
            source.pause_reading()  # type: ignore[attr-defined]

    def abort(self) -> None:
        """Cut the connection: the client sees an incomplete answer, not a clean end."""
        self.keep_alive = False
        self._conn.abort()

    def _pause_source(self) -> None:
        if self._source is not None and not self._source.is_closing():
            self._source.pause_reading()  # type: ignore[attr-defined]

    def _resume_source(self) -> None:
        if self._source is not None and not self._source.is_closing():
            self._source.resume_reading()  # type: ignore[attr-defined]

    def _lost(self) -> None:
        self.closed = True
        if self.on_lost is not None:
            self.on_lost()


Handler = Callable[[Request, Reply], Awaitable[None]]


class FrontConnection(asyncio.Protocol):
    """One client connection: parse, queue, run the handler per request, in order."""

    def __init__(self, handler: Handler, server: FrontServer) -> None:
        self._handler, self._server = handler, server
        self._parser = httptools.HttpRequestParser(self)
        self._transport: asyncio.Transport | None = None
        self._url = b""
        self._headers: list[tuple[bytes, bytes]] = []
        self._parsing: Request | None = None
        self._queue: collections.deque[Request] = collections.deque()
        self._current: Reply | None = None
        self._task: asyncio.Task[None] | None = None
        self._read_paused = self.write_paused = self._closed = False
        self._stop_after = False  # an upgrade or a parse error: no more requests on this connection
        self.idle_since = time.monotonic()

    # transport events -----------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = transport  # type: ignore[assignment]
        self._server.connections.add(self)

    def data_received(self, data: bytes) -> None:
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            self._stop_after = True  # an Upgrade/CONNECT: served as a plain request, then the connection ends
            self.pause_reading()
        except httptools.HttpParserError:
            self._stop_after = True
            if self._current is None and not self._queue:
                self.write(b"HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\nconnection: close\r\n\r\n")
                self._close()

    def connection_lost(self, exc: Exception | None) -> None:
        self._closed = True
        self._server.connections.discard(self)
        if self._current is not None:
            self._current._lost()
        task = self._task
        if task is not None and not task.done():
            # The watchdog: a request never outlives its client. The handler normally ends at once (the
            # upstream exchange resolves on ``on_lost``); one that does not is cancelled, and its
            # ``finally`` gives the instance slot back.
            asyncio.get_running_loop().call_later(LOST_GRACE, _cancel_if_running, task)

    def pause_writing(self) -> None:
        self.write_paused = True
        if self._current is not None:
            self._current._pause_source()

    def resume_writing(self) -> None:
        self.write_paused = False
        if self._current is not None:
            self._current._resume_source()

    # parser callbacks -------------------------------------------------------
    def on_message_begin(self) -> None:
        self._url, self._headers = b"", []

    def on_url(self, url: bytes) -> None:
        self._url += url

    def on_header(self, name: bytes, value: bytes) -> None:
        self._headers.append((name, value))

    def on_headers_complete(self) -> None:
        parser = self._parser
        request = Request(self, parser.get_method(), self._url, self._headers, parser.get_http_version() == "1.1",
                          parser.should_keep_alive())
        self._parsing = request
        if self._current is None:
            self._start(request)
        else:
            self._queue.append(request)
            if len(self._queue) > 8:
                self.pause_reading()  # a client pipelining without end

    def on_body(self, body: bytes) -> None:
        if self._parsing is not None:
            self._parsing._feed(body)

    def on_message_complete(self) -> None:
        if self._parsing is not None:
            self._parsing._finish()
            self._parsing = None

    # requests ------------------------------------------------------------------
    def _start(self, request: Request) -> None:
        reply = self._current = Reply(self, request)
        task = self._task = asyncio.get_running_loop().create_task(self._run(request, reply))
        self._server.tasks.add(task)
        task.add_done_callback(self._server.tasks.discard)

    async def _run(self, request: Request, reply: Reply) -> None:
        try:
            await self._handler(request, reply)
        except Exception:
            log.exception("gateway handler failed")
            if not reply.started:
                reply.keep_alive = False
                reply.send(500, b"Internal Server Error", b"content-type: application/json\r\n",
                           b'{"code":"InternalError","message":"the gateway failed; see the emulator log"}')
            else:
                reply.abort()
        self._finished(request, reply)

    def _finished(self, request: Request, reply: Reply) -> None:
        self._current = None
        self.idle_since = time.monotonic()
        if self._closed:
            return
        if not (reply.keep_alive and request.complete) or (self._stop_after and not self._queue):
            self._close()
            return
        if self._queue:
            self._start(self._queue.popleft())
        self.resume_reading()

    # helpers -----------------------------------------------------------------
    def write(self, data: bytes) -> None:
        if self._transport is not None and not self._closed:
            self._transport.write(data)

    def pause_reading(self) -> None:
        if not self._read_paused and self._transport is not None and not self._closed:
            self._read_paused = True
            self._transport.pause_reading()

    def resume_reading(self) -> None:
        if self._read_paused and not self._stop_after and self._transport is not None and not self._closed:
            self._read_paused = False
            self._transport.resume_reading()

    def abort(self) -> None:
        if self._transport is not None:
            self._transport.abort()

    def _close(self) -> None:
        if self._transport is not None:
            self._transport.close()

    def close_if_idle(self, before: float) -> None:
        if self._current is None and self._parsing is None and self.idle_since < before:
            self._close()

    def close_now(self) -> None:
        self._close()


class FrontServer:
    """The listening side: connections, their running handler tasks, and an idle sweeper."""

    def __init__(self, handler: Handler, *, idle_seconds: float = IDLE_SECONDS) -> None:
        self.handler, self.idle_seconds = handler, idle_seconds
        self.connections: set[FrontConnection] = set()
        self.tasks: set[asyncio.Task[None]] = set()
        self._server: asyncio.base_events.Server | None = None
        self._sweeper: asyncio.Task[None] | None = None

    async def start(self, host: str, port: int) -> int:
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(lambda: FrontConnection(self.handler, self), host, port,
                                                reuse_address=True, backlog=1024)
        self._sweeper = loop.create_task(self._sweep())
        return int(self._server.sockets[0].getsockname()[1])

    async def _sweep(self) -> None:
        while True:
            await asyncio.sleep(self.idle_seconds / 3)
            before = time.monotonic() - self.idle_seconds
            for conn in list(self.connections):
                conn.close_if_idle(before)

    async def close(self, grace: float = 2.0) -> None:
        """Stop listening, give running requests ``grace`` seconds, then close every connection."""
        if self._sweeper is not None:
            self._sweeper.cancel()
        if self._server is not None:
            self._server.close()
        if self.tasks:
            await asyncio.wait(set(self.tasks), timeout=grace)
        for conn in list(self.connections):
            conn.close_now()
        for task in list(self.tasks):
            task.cancel()
