"""The gateway's client side: keep-alive connections to instances, relaying bytes as they arrive.

Per instance a stack of idle connections (raw ``asyncio.Protocol``s, httptools
response parsing). A forwarded request writes one head (hop-by-hop headers
dropped, the request id added) and then the client's body as it arrives
(re-framed when chunked). The answer goes back the same way: its head is
rewritten once (hop-by-hop headers out, the gateway's headers in), then each
upstream read becomes *one* write to the client, whatever it holds (a whole
small answer, or one SSE event). Nothing waits for the end of a body, so
streams stay live and large bodies are never held in memory: when the client
reads slowly its transport pauses this one (see ``Reply.stream_from``), and
when the instance reads slowly this one pauses the client's.

A reused connection the instance closed meanwhile fails before any byte of an
answer; such a request is sent again on a fresh connection when its body was
complete before sending (nothing streamed yet). Any other failure is an
:class:`UpstreamFailed` the gateway turns into a 502 (or a cut stream).

Bytes the instance sends that no request asked for (a second answer in the same
send, an answer while the connection is idle, an answer to body bytes the app
took for a request) are a protocol error *of that connection*: it is closed, never
reused, and the request it carried is answered (its complete answer stays
delivered; an incomplete one fails). Every exchange leaves its connection resolved
(``_complete``, ``_fail``, ``_client_gone``, ``connection_lost``): nothing waits on
a future that cannot finish.
"""

from __future__ import annotations

import asyncio
import logging
import time

import httptools

from agentctl.emulator import tcp
from agentctl.emulator.http_front import Reply, Request

HOP_BY_HOP = frozenset({
    b"connection", b"keep-alive", b"proxy-authenticate", b"proxy-authorization", b"proxy-connection", b"te",
    b"trailer", b"trailers", b"transfer-encoding", b"upgrade",
})
# never forwarded: hop-by-hop, framing (re-done here), Expect (the front answers 100-continue itself)
NOT_FORWARDED = HOP_BY_HOP | {b"host", b"content-length", b"expect"}
NOT_RETURNED = HOP_BY_HOP | {b"content-length"}
IDLE_SECONDS = 30.0
MAX_IDLE = 64  # idle connections kept per instance
log = logging.getLogger("agentctl.emulator.gateway")


class UpstreamFailed(Exception):
    """The instance refused, reset or cut the connection; ``answered``: part of the answer went out.

    ``refused``: no connection could be made, so nothing of the request was sent (it may go elsewhere).
    ``resendable``: the instance reset the connection before a byte of an answer and the whole request is
    still at hand. A reset (RST, not FIN) on close means the app left request bytes unread: it died before it
    could serve this request. Sending it again is then safe for an idempotent method (nginx's
    ``proxy_next_upstream error`` rule); a clean close after the app read the request is a request really in
    flight, and fails.
    """

    def __init__(self, message: str, *, answered: bool, refused: bool = False, resendable: bool = False) -> None:
        super().__init__(message)
        self.answered, self.refused, self.resendable = answered, refused, refused or resendable


class ClientGone(Exception):
    """The client closed its connection before the answer was complete."""


class StrayAnswer(Exception):
    """Raised inside the parser: an answer began on a connection with no request waiting."""


def filter_headers(headers: list[tuple[bytes, bytes]], dropped: frozenset[bytes], ours: frozenset[bytes]) -> bytes:
    """Header lines without ``dropped``, ``ours`` and whatever ``Connection`` names (RFC 9110 §7.6.1)."""
    named: set[bytes] = set()
    for name, value in headers:
        if name.lower() == b"connection":
            named.update(token.strip().lower() for token in value.split(b","))
    out = []
    for name, value in headers:
        low = name.lower()
        if low not in dropped and low not in ours and low not in named:
            out.append(b"%s: %s\r\n" % (name, value))
    return b"".join(out)


class Exchange:
    """One request/answer on one connection; ``done`` resolves to the status or an exception."""

    __slots__ = ("answered", "chunked_in", "chunked_out", "close_delimited", "done", "extra", "head_only",
                 "ours", "out", "reason", "replay", "reply", "request", "request_head", "response_headers",
                 "sent_all", "status")

    def __init__(self, request: Request, reply: Reply, request_head: bytes, extra: bytes,
                 ours: frozenset[bytes]) -> None:
        self.request, self.reply, self.request_head, self.extra, self.ours = request, reply, request_head, extra, ours
        self.done: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        self.replay: list[bytes] | None = None  # the body, when it was complete before sending
        self.out: list[bytes] = []
        self.response_headers: list[tuple[bytes, bytes]] = []
        self.status, self.reason = 0, b""
        self.answered = self.chunked_out = self.close_delimited = self.sent_all = False
        self.head_only = request.method == b"HEAD"
        self.chunked_in = request.chunked

    def resolve(self, error: Exception | None = None) -> None:
        if not self.done.done():
            if error is None:
                self.done.set_result(self.status)
            else:
                self.done.set_exception(error)


class UpstreamConnection(asyncio.Protocol):
    """A keep-alive connection to one instance; carries one :class:`Exchange` at a time."""

    def __init__(self, pool: UpstreamPool, key: str) -> None:
        self.pool, self.key = pool, key
        self.transport: asyncio.Transport | None = None
        self.exchange: Exchange | None = None
        self.parser = httptools.HttpResponseParser(self)
        self.reusable = True
        self.reused = False
        self.fd = -1
        self.idle_since = time.monotonic()

    # sending ------------------------------------------------------------------
    def begin(self, ex: Exchange) -> None:
        assert self.transport is not None
        self.exchange = ex
        ex.reply.on_lost = self._client_gone
        ex.reply.stream_from(self.transport)
        request = ex.request
        if not request.has_body:
            ex.replay, ex.sent_all = [], True
            self.transport.write(ex.request_head)
            return
        whole = request.take_body() if ex.replay is None else ex.replay
        if whole is not None:
            ex.replay, ex.sent_all = whole, True
            self.transport.write(ex.request_head + b"".join(self._framed(c) for c in whole) + self._last())
            return
        self.transport.write(ex.request_head)
        request.attach(self._send_body, self._end_body)

    def _framed(self, data: bytes) -> bytes:
        assert self.exchange is not None
        return b"%x\r\n%s\r\n" % (len(data), data) if self.exchange.chunked_in and data else data

    def _last(self) -> bytes:
        assert self.exchange is not None
        return b"0\r\n\r\n" if self.exchange.chunked_in else b""

    def _send_body(self, data: bytes) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.write(self._framed(data))

    def _end_body(self) -> None:
        if self.exchange is not None:
            self.exchange.sent_all = True
            if self.exchange.chunked_in and self.transport is not None and not self.transport.is_closing():
                self.transport.write(b"0\r\n\r\n")

    # receiving ------------------------------------------------------------------
    def data_received(self, data: bytes) -> None:
        ex = self.exchange
        if ex is None:  # bytes nobody asked for, on an idle connection: it is out of step
            self._stray(len(data))
            return
        ex.answered = True
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError as exc:
            error: httptools.HttpParserError | None = exc
        else:
            error = None
        if ex.out:  # what was parsed goes out first: a complete answer stays complete
            ex.reply.write(b"".join(ex.out) if len(ex.out) > 1 else ex.out[0])
            ex.out.clear()
        if self.exchange is ex:
            if error is not None:
                self._fail(f"sent an answer that is not valid HTTP ({error})")
            return
        # the answer completed during this read (``_complete`` resolved it); decide the connection's fate
        if error is not None:
            self._stray(len(data))
        elif self.reusable:
            self.pool._checkin(self)
        else:
            self._close()

    def _stray(self, size: int) -> None:
        """Bytes after the answer (or with no request waiting): close this connection, never reuse it."""
        self.reusable = False
        log.warning("instance %s sent bytes no request asked for (in a read of %d bytes); its connection is "
                    "closed", self.key, size)
        self._close()

    def on_message_begin(self) -> None:
        if self.exchange is None:  # a second answer after the one the request got: stop parsing here
            raise StrayAnswer()

    def on_status(self, reason: bytes) -> None:
        assert self.exchange is not None
        self.exchange.reason += reason

    def on_header(self, name: bytes, value: bytes) -> None:
        assert self.exchange is not None
        self.exchange.response_headers.append((name, value))

    def on_headers_complete(self) -> None:
        ex = self.exchange
        assert ex is not None
        status = self.parser.get_status_code()
        if 100 <= status < 200:  # an interim answer (103 Early Hints …): not relayed
            ex.response_headers.clear()
            ex.reason = b""
            return
        ex.status = status
        length: int | None = None
        chunked = False
        for name, value in ex.response_headers:
            low = name.lower()
            if low == b"content-length" and value.strip().isdigit():
                length = int(value)
            elif low == b"transfer-encoding" and b"chunked" in value.lower():
                chunked = True
        body = not ex.head_only and status not in (204, 304)
        ex.close_delimited = body and length is None and not chunked
        lines = filter_headers(ex.response_headers, NOT_RETURNED, ex.ours) + ex.extra
        head, ex.chunked_out = ex.reply.head(status, ex.reason or b"OK", lines, length=None if chunked else length,
                                             body=body, http11=ex.request.http11)
        ex.out.append(head)
        if ex.head_only:  # the parser would wait for a body a HEAD answer never has: finish here, don't reuse
            self.reusable = False
            self._complete()

    def on_body(self, body: bytes) -> None:
        ex = self.exchange
        if ex is not None:
            ex.out.append(b"%x\r\n%s\r\n" % (len(body), body) if ex.chunked_out else body)

    def on_message_complete(self) -> None:
        ex = self.exchange
        if ex is None or ex.status == 0:
            return  # the end of an interim answer
        if ex.chunked_out:
            ex.out.append(b"0\r\n\r\n")
        if not self.parser.should_keep_alive():
            self.reusable = False
        self._complete()

    def _complete(self) -> None:
        """The answer is whole: resolve the exchange (the caller decides whether the connection is reused)."""
        ex = self.exchange
        assert ex is not None
        self.exchange = None
        ex.reply.on_lost = None
        ex.reply.stream_from(None)
        if not ex.sent_all:  # answered before the whole request went out: this connection is out of step
            ex.request.detach()
            self.reusable = False
        ex.resolve()

    def dropped(self) -> bool:
        """Before reuse: has the instance closed this idle connection (or sent bytes on it) meanwhile?

        A readable idle socket holds an end of file or stray bytes the loop has not read yet (urllib3's
        ``is_connection_dropped`` check). Without it, a request would go out on a connection the instance
        (just killed, or done with keep-alive) has already closed, and fail as if it had been in flight.
        """
        return tcp.readable(self.fd)

    # failures -------------------------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        self.fd = transport.get_extra_info("socket").fileno()

    def connection_lost(self, exc: Exception | None) -> None:
        self.reusable = False
        self.pool._forget(self)
        ex = self.exchange
        if ex is None:
            return
        if ex.close_delimited:  # the end of the connection is the end of that answer
            if ex.chunked_out:
                ex.reply.write(b"0\r\n\r\n")
            self._complete()
            return
        # A reset, or request bytes the instance's kernel never acknowledged, before any answer: the app had
        # not read all of the request, so it cannot have served it; the gateway may send it elsewhere.
        self._fail(f"closed the connection{' mid-answer' if ex.status else ''}"
                   f"{f' ({exc})' if exc else ''}",
                   unread=isinstance(exc, ConnectionResetError) or tcp.unread(self.fd))

    def eof_received(self) -> bool | None:
        return None  # let the transport close; connection_lost decides

    def pause_writing(self) -> None:
        if self.exchange is not None:
            self.exchange.request.pause_reading()

    def resume_writing(self) -> None:
        if self.exchange is not None:
            self.exchange.request.resume_reading()

    def _fail(self, message: str, *, unread: bool = False) -> None:
        ex = self.exchange
        self.exchange = None
        self.reusable = False
        self._close()
        if ex is not None:
            ex.reply.on_lost = None
            ex.reply.stream_from(None)
            ex.request.detach()
            ex.resolve(UpstreamFailed(message, answered=ex.reply.started,
                                      resendable=unread and not ex.answered and ex.replay is not None))

    def _client_gone(self) -> None:
        ex = self.exchange
        self.exchange = None
        self.reusable = False
        self._close()
        if ex is not None:
            ex.resolve(ClientGone())

    def _close(self) -> None:
        if self.transport is not None:
            self.transport.close()


class UpstreamPool:
    """Idle keep-alive connections per instance, and the one call the gateway makes: :meth:`forward`."""

    def __init__(self, *, idle_seconds: float = IDLE_SECONDS) -> None:
        self.idle_seconds = idle_seconds
        self._idle: dict[str, list[UpstreamConnection]] = {}
        self._sweeper: asyncio.Task[None] | None = None

    async def forward(self, key: str, host: str, port: int, request: Request, reply: Reply, request_head: bytes,
                      extra: bytes, ours: frozenset[bytes]) -> int:
        """Send ``request`` to ``host:port`` and relay the answer into ``reply``; returns its status.

        ``key`` names the instance (its connections are kept apart). ``request_head`` is the request line
        and header lines (no final CRLF); ``extra`` are header lines added to the answer. Raises
        :class:`UpstreamFailed` or :class:`ClientGone`.
        """
        ex = Exchange(request, reply, request_head + self._framing(request) + b"\r\n", extra, ours)
        delivered = False  # a first try on a stale connection may have reached the app
        while True:
            try:
                conn = await self._checkout(key, host, port, ex)
            except UpstreamFailed as exc:
                if delivered:  # then a refused second try does not mean "nothing was sent"
                    raise UpstreamFailed(str(exc), answered=False) from exc
                raise
            if reply.closed:
                self._checkin(conn)
                raise ClientGone()
            conn.begin(ex)
            try:
                return await ex.done
            except UpstreamFailed as exc:
                if not (conn.reused and not ex.answered and ex.replay is not None and not reply.closed):
                    raise
                ex.done = asyncio.get_running_loop().create_future()  # a stale keep-alive: once more, fresh
                delivered = not exc.resendable

    @staticmethod
    def _framing(request: Request) -> bytes:
        if request.chunked:
            return b"transfer-encoding: chunked\r\n"
        if request.length is not None:
            return b"content-length: %d\r\n" % request.length
        return b""

    async def _checkout(self, key: str, host: str, port: int, ex: Exchange) -> UpstreamConnection:
        idle = self._idle.get(key)
        while idle:
            conn = idle.pop()
            if conn.transport is not None and not conn.transport.is_closing():
                if conn.dropped():  # closed by the instance (or out of step): never reused
                    conn.reusable = False
                    conn._close()
                    continue
                conn.reused = True
                return conn
        if ex.reply.closed:
            raise ClientGone()
        loop = asyncio.get_running_loop()
        try:
            _, conn = await loop.create_connection(lambda: UpstreamConnection(self, key), host, port)
        except OSError as exc:
            raise UpstreamFailed(f"refused the connection ({exc.strerror or exc})", answered=False,
                                 refused=True) from exc
        if self._sweeper is None:
            self._sweeper = loop.create_task(self._sweep())
        return conn

    def _checkin(self, conn: UpstreamConnection) -> None:
        conn.idle_since = time.monotonic()
        idle = self._idle.setdefault(conn.key, [])
        if len(idle) >= MAX_IDLE:
            conn._close()
        else:
            idle.append(conn)

    def _forget(self, conn: UpstreamConnection) -> None:
        idle = self._idle.get(conn.key)
        if idle is not None and conn in idle:
            idle.remove(conn)
            if not idle:
                del self._idle[conn.key]

    def drop(self, key: str) -> None:
        """Close the idle connections to one instance (it stopped)."""
        for conn in self._idle.pop(key, []):
            conn._close()

    async def _sweep(self) -> None:
        while True:
            await asyncio.sleep(self.idle_seconds / 3)
            before = time.monotonic() - self.idle_seconds
            for idle in list(self._idle.values()):
                for conn in [c for c in idle if c.idle_since < before]:
                    conn._close()

    def close(self) -> None:
        if self._sweeper is not None:
            self._sweeper.cancel()
        for key in list(self._idle):
            self.drop(key)
