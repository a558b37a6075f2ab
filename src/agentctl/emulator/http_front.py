"""The gateway's HTTP/1.1 server side: an ``asyncio.Protocol`` with httptools parsing.

Why not aiohttp's server: per request it builds a request object, a header
multidict, a payload stream and a response object; the gateway only relays
bytes, so here a request is a few slots and a response is bytes written to
the transport (measured: see bench/gateway.py).

One connection handles its requests in order (pipelined requests queue up).
Each is a :class:`~agentctl.emulator.http_messages.Request` (its body streamed
to the handler, never buffered whole) and a :class:`~agentctl.emulator.http_messages.Reply`
(raw bytes to the client, framed in ``Reply.head``, the upstream paused while
the client reads slowly).

What a client may send is bounded (:class:`FrontLimits`, values in the README):
a request target over 8 KiB gets 414, a header line over 16 KiB or a head over
64 KiB 431 (checked while the head arrives, so nothing big is ever buffered),
and a head or body that stops arriving for ``body_timeout`` seconds while the
gateway waits for it gets 408. Each is a JSON answer from the gateway and the
end of the connection.
"""

from __future__ import annotations

import asyncio
import collections
import json
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import httptools

from agentctl.emulator.http_messages import Reply, Request

__all__ = ["FrontLimits", "FrontServer", "Handler", "Rejected", "Reply", "Request"]

log = logging.getLogger("agentctl.emulator.gateway")

IDLE_SECONDS = 75.0  # keep-alive connections with nothing to do are closed after this
LOST_GRACE = 1.0  # a handler still running this long after its client left is cancelled (frees its slot)
LINGER_SECONDS = 2.0  # after refusing a request, what the client still sends is read and dropped this long



@dataclass(frozen=True)
class FrontLimits:
    """What one request may send (nginx, Node and the cloud gateways bound the same things)."""

    max_target: int = 8 * 1024  # the request target (path and query) → 414
    max_header_line: int = 16 * 1024  # one header line, name and value → 431
    max_head: int = 64 * 1024  # the request line and all header lines together → 431
    body_timeout: float = 30.0  # seconds a started head, or a body the gateway waits for, may pause → 408


class Rejected(Exception):
    """Raised from a parser callback: this request breaks a limit; the gateway answers it and closes."""

    def __init__(self, status: int, reason: bytes, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.reason, self.code, self.message = status, reason, code, message

    def answer(self) -> bytes:
        body = json.dumps({"code": self.code, "message": self.message}).encode()
        return (b"HTTP/1.1 %d %s\r\ncontent-type: application/json\r\ncontent-length: %d\r\nconnection: close"
                b"\r\n\r\n%s" % (self.status, self.reason, len(body), body))


def _head_too_large(limits: FrontLimits) -> Rejected:
    return Rejected(431, b"Request Header Fields Too Large", "RequestHeaderFieldsTooLarge",
                    f"the request line and headers are longer than {limits.max_head} bytes")


def _cancel_if_running(task: asyncio.Task[None]) -> None:
    if not task.done():
        log.warning("a gateway request was still running %.1fs after its client left: cancelled", LOST_GRACE)
        task.cancel()


Handler = Callable[[Request, Reply], Awaitable[None]]


class FrontConnection(asyncio.Protocol):
    """One client connection: parse, queue, run the handler per request, in order."""

    def __init__(self, handler: Handler, server: FrontServer) -> None:
        self._handler, self._server = handler, server
        self._limits = server.limits
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
        self.idle_since = self.last_read = time.monotonic()
        self._in_head = False  # a request's head has begun and is not complete yet
        self._head_bytes = 0  # bytes read since the head began (in reads after the one it began in)
        self._head_size = 0  # the target and the header lines parsed so far
        self._began_now = False
        self._discarding = False  # refused: what still arrives is dropped until the connection closes

    # transport events -----------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = transport  # type: ignore[assignment]
        self._server.connections.add(self)

    def data_received(self, data: bytes) -> None:
        if self._discarding:
            return
        self.last_read = time.monotonic()
        self._began_now = False
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            self._stop_after = True  # an Upgrade/CONNECT: served as a plain request, then the connection ends
            self.pause_reading()
            return
        except httptools.HttpParserError as exc:
            rejected = exc.__context__ if isinstance(exc.__context__, Rejected) else None
            self._refuse(rejected or Rejected(400, b"Bad Request", "BadRequest", f"not a valid HTTP request ({exc})"))
            return
        if self._in_head:
            self._head_bytes += 0 if self._began_now else len(data)
            if self._head_bytes > self._limits.max_head:
                self._refuse(_head_too_large(self._limits))

    def _refuse(self, rejected: Rejected) -> None:
        """Answer a request the gateway will not serve, and read nothing more on this connection."""
        self._stop_after = True
        self._in_head = False
        self.pause_reading()
        if self._current is None and not self._queue:
            self.write(rejected.answer())
            self._linger()

    def _linger(self) -> None:
        """End the connection so that the client reads the answer: half-close, drop what it still sends, close.

        Closing at once while the client is still sending (a 4 MB header) would reset the connection and
        lose the answer on the way (nginx's "lingering close").
        """
        transport = self._transport
        if transport is None or self._closed:
            return
        self._discarding = True
        if transport.can_write_eof():
            transport.write_eof()
        self._read_paused = False
        transport.resume_reading()
        asyncio.get_running_loop().call_later(LINGER_SECONDS, self._close)

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
        self._in_head, self._head_bytes, self._began_now, self._head_size = True, 0, True, 0

    def on_url(self, url: bytes) -> None:
        self._url += url
        self._head_size += len(url)
        if len(self._url) > self._limits.max_target:
            raise Rejected(414, b"URI Too Long", "URITooLong",
                           f"the request target is longer than {self._limits.max_target} bytes")

    def on_header(self, name: bytes, value: bytes) -> None:
        size = len(name) + len(value)
        if size > self._limits.max_header_line:
            raise Rejected(431, b"Request Header Fields Too Large", "RequestHeaderFieldsTooLarge",
                           f"header {name[:64].decode('latin-1')!r} is longer than "
                           f"{self._limits.max_header_line} bytes")
        self._head_size += size + 4  # ": " and CRLF
        if self._head_size > self._limits.max_head:
            raise _head_too_large(self._limits)
        self._headers.append((name, value))

    def on_headers_complete(self) -> None:
        self._in_head = False
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
        if self._current is None and self._parsing is None and not self._in_head and self.idle_since < before:
            self._close()

    def time_out_if_stalled(self, before: float) -> None:
        """408 when a head, or a body the gateway waits for, has not advanced since ``before``."""
        if self.last_read >= before or self._read_paused or self._closed:
            return
        stalled = self._in_head or (self._parsing is not None and self._parsing.owes_body)
        if not stalled:
            return
        rejected = Rejected(408, b"Request Timeout", "RequestTimeout",
                            f"the request stopped arriving for {self._limits.body_timeout:g}s")
        current = self._current
        if current is not None and self._parsing is not None and not self._queue:
            current._time_out(rejected.answer())  # the stalled body is the current request's
        elif current is None and not self._queue:
            self.write(rejected.answer())
        self._stop_after = True
        self._close()

    def close_now(self) -> None:
        self._close()


class FrontServer:
    """The listening side: connections, their running handler tasks, and an idle sweeper."""

    def __init__(self, handler: Handler, *, idle_seconds: float = IDLE_SECONDS,
                 limits: FrontLimits | None = None) -> None:
        self.handler, self.idle_seconds = handler, idle_seconds
        self.limits = limits or FrontLimits()
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
        timeout = self.limits.body_timeout
        while True:
            await asyncio.sleep(min(self.idle_seconds / 3, timeout / 4))
            now = time.monotonic()
            for conn in list(self.connections):
                conn.close_if_idle(now - self.idle_seconds)
                conn.time_out_if_stalled(now - timeout)

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
