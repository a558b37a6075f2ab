"""The two halves of one exchange at the gateway's front: the client's :class:`Request` and our :class:`Reply`.

A request's body is never buffered whole: chunks wait in the request until the handler attaches a sink
(then they flow as they arrive), and reading from the client pauses while too much waits, or while the
sink's own transport is full. The reply is raw bytes to the client; when the client reads slowly,
``pause_writing`` pauses the reply's *source* (the upstream transport), so a large answer is streamed,
never accumulated. Framing of the answer (Content-Length, chunked, or close-delimited for HTTP/1.0) and
``Connection`` handling live in :meth:`Reply.head`. Both belong to a ``http_front.FrontConnection``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from agentctl.emulator.http_front import FrontConnection

BODY_BUFFER = 1024 * 1024  # request bytes that may wait for the handler before reading pauses
CONTINUE = b"HTTP/1.1 100 Continue\r\n\r\n"

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

    @property
    def owes_body(self) -> bool:
        """The client should be sending body bytes now (not before a 100 Continue it waits for)."""
        return self.has_body and not self.complete and (self._sink is not None or not self.expect_continue)

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


class Reply:
    """The answer to one request: raw bytes to the client, framing decided in :meth:`head`."""

    __slots__ = ("_conn", "_source", "closed", "keep_alive", "lost_status", "on_lost", "started")

    def __init__(self, conn: FrontConnection, request: Request) -> None:
        self._conn = conn
        self.keep_alive = request.keep_alive
        self.started = self.closed = False
        self.on_lost: Callable[[], None] | None = None  # called when the client goes away
        self.lost_status = 499  # what the log says when the answer could not be completed (408: timed out)
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

    def _time_out(self, answer: bytes) -> None:
        """The client stopped sending what the request needs: 408 if nothing went out yet, then the end."""
        if not self.started and not self.closed:
            self.started = True
            self._conn.write(answer)
        self.lost_status = 408
        self._lost()
