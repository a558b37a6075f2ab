"""A small HTTP/1.1 client and server over asyncio streams, standard library only.

Why not aiohttp or httpx: the runner ships as a runtime's code and must start on every Python the
runtime offers (python3.10/3.12 images, the process driver's host Python, the cloud) without a
dependency build; compiled wheels (aiohttp's multidict/yarl/frozenlist) would have to match the
instance's platform. What flows need from HTTP is narrow: JSON requests and SSE streams to
OpenAI-compatible agents, JSON and SSE answers to callers. So this module does exactly that:

- client: ``await request(method, url, headers, body)`` → ``Response`` (status, lower-cased
  headers, ``await read()``, ``async for data in sse()``); TLS through ``ssl``; bodies by
  Content-Length, chunked, or until close; one connection per request (``Connection: close``),
  cancellable at any await (that is how node timeouts stop a call).
- server: ``await serve(handler, host, port)`` → ``Server``; keep-alive, ``Expect: 100-continue``,
  chunked or sized request bodies, idle keep-alive connections closed after 75 s;
  ``Exchange.send_json``, or ``start_stream`` + ``write`` (one chunk per write, flushed) + ``finish``.
Proxies (``HTTPS_PROXY``) are not used; agents are reached directly.
"""

from __future__ import annotations

import asyncio
import json
import ssl
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

MAX_HEAD = 64 * 1024
MAX_BODY = 16 * 1024 * 1024
KEEP_ALIVE = 75.0  # seconds an idle keep-alive connection waits for its next request
REASONS = {200: "OK", 400: "Bad Request", 404: "Not Found", 405: "Method Not Allowed", 413: "Payload Too Large",
           500: "Internal Server Error", 502: "Bad Gateway", 504: "Gateway Timeout"}


class HttpError(Exception):
    """A transport problem (connect, malformed reply, body too large): the message names the URL."""


async def _read_head(reader: asyncio.StreamReader) -> tuple[str, dict[str, str]] | None:
    try:
        raw = await reader.readuntil(b"\r\n\r\n")
    except asyncio.IncompleteReadError as exc:
        if not exc.partial:
            return None  # the peer closed between messages
        raise HttpError("connection closed in the middle of a message head") from None
    except asyncio.LimitOverrunError:
        raise HttpError(f"message head larger than {MAX_HEAD} bytes") from None
    first, *lines = raw.decode("latin-1").split("\r\n")
    headers: dict[str, str] = {}
    for line in lines:
        if ":" in line:
            name, value = line.split(":", 1)
            key = name.strip().lower()
            headers[key] = f"{headers[key]}, {value.strip()}" if key in headers else value.strip()
    return first, headers


async def _body_chunks(reader: asyncio.StreamReader, headers: Mapping[str, str], *,
                       until_close: bool) -> AsyncIterator[bytes]:
    if "chunked" in headers.get("transfer-encoding", "").lower():
        while True:
            size_line = await reader.readuntil(b"\r\n")
            size = int(size_line.split(b";", 1)[0].strip() or b"0", 16)
            if size == 0:
                while (await reader.readuntil(b"\r\n")) != b"\r\n":
                    pass  # trailers
                return
            data = await reader.readexactly(size)
            await reader.readexactly(2)
            yield data
    elif "content-length" in headers:
        remaining = int(headers["content-length"])
        while remaining > 0:
            data = await reader.read(min(remaining, 65536))
            if not data:
                raise HttpError("connection closed before the body was complete")
            remaining -= len(data)
            yield data
    elif until_close:
        while data := await reader.read(65536):
            yield data


async def _collect(chunks: AsyncIterator[bytes], limit: int = MAX_BODY) -> bytes:
    out = bytearray()
    async for chunk in chunks:
        out += chunk
        if len(out) > limit:
            raise HttpError(f"body larger than {limit} bytes")
    return bytes(out)


async def sse_data(chunks: AsyncIterator[bytes]) -> AsyncIterator[str]:
    """The ``data`` of each server-sent event, as the event completes (multi-line data joined by newlines)."""
    buffer, data_lines = b"", list[str]()
    async for chunk in chunks:
        buffer += chunk
        while b"\n" in buffer:
            line, buffer = buffer.split(b"\n", 1)
            text = line.rstrip(b"\r").decode("utf-8", "replace")
            if not text:
                if data_lines:
                    yield "\n".join(data_lines)
                    data_lines = []
            elif text.startswith("data:"):
                data_lines.append(text[5:].removeprefix(" "))
    if data_lines:
        yield "\n".join(data_lines)


@dataclass
class Response:
    status: int
    headers: dict[str, str]
    url: str
    _reader: asyncio.StreamReader
    _writer: asyncio.StreamWriter

    def chunks(self) -> AsyncIterator[bytes]:
        return _body_chunks(self._reader, self.headers, until_close=True)

    async def read(self) -> bytes:
        try:
            return await _collect(self.chunks())
        finally:
            self.close()

    def sse(self) -> AsyncIterator[str]:
        return sse_data(self.chunks())

    def close(self) -> None:
        self._writer.close()


async def request(method: str, url: str, headers: Mapping[str, str], body: bytes = b"") -> Response:
    """Send one request; the caller reads the body (``read``/``sse``) and the connection closes after it."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise HttpError(f"not an http(s) URL: {url!r}")
    tls = ssl.create_default_context() if parts.scheme == "https" else None
    port = parts.port or (443 if tls else 80)
    try:
        reader, writer = await asyncio.open_connection(parts.hostname, port, ssl=tls, limit=MAX_HEAD)
    except OSError as exc:
        raise HttpError(f"cannot connect to {parts.scheme}://{parts.netloc}: {exc.strerror or exc}") from exc
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    lines = [f"{method} {target} HTTP/1.1", f"Host: {parts.netloc}", f"Content-Length: {len(body)}",
             "Connection: close", *(f"{name}: {value}" for name, value in headers.items())]
    try:
        writer.write(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body)
        await writer.drain()
        head = await _read_head(reader)
        while head is not None and head[0].split(" ")[1:2] == ["100"]:
            head = await _read_head(reader)  # a 100 Continue before the real answer
    except (OSError, HttpError) as exc:
        writer.close()
        raise HttpError(f"{method} {url}: {exc}") from exc
    except BaseException:
        writer.close()
        raise
    if head is None:
        writer.close()
        raise HttpError(f"{method} {url}: the server closed the connection without answering")
    status_line, response_headers = head
    try:
        status = int(status_line.split(" ")[1])
    except (IndexError, ValueError):
        writer.close()
        raise HttpError(f"{method} {url}: malformed status line {status_line!r}") from None
    return Response(status, response_headers, url, reader, writer)


@dataclass
class Incoming:
    method: str
    path: str
    query: str
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body or b"{}")


@dataclass
class Exchange:
    """One request and its answer: ``send_json`` once, or ``start_stream`` then ``write``… then ``finish``."""

    request: Incoming
    _writer: asyncio.StreamWriter
    _reader: asyncio.StreamReader
    started: bool = False
    finished: bool = False
    reusable: bool = True
    extra_headers: dict[str, str] = field(default_factory=dict)

    async def peer_gone(self) -> None:
        """Returns when the client closes its side; bytes it sends meanwhile make the connection single-use."""
        while await self._reader.read(65536):
            self.reusable = False  # a pipelined request we will not answer: close after this one

    def _head(self, status: int, headers: Mapping[str, str]) -> bytes:
        lines = [f"HTTP/1.1 {status} {REASONS.get(status, 'Status')}",
                 *(f"{name}: {value}" for name, value in {**self.extra_headers, **headers}.items())]
        return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")

    async def send_json(self, status: int, payload: Any) -> None:
        data = json.dumps(payload, ensure_ascii=False).encode()
        head = {"Content-Type": "application/json", "Content-Length": str(len(data))}
        self._writer.write(self._head(status, head) + data)
        self.started = self.finished = True
        await self._writer.drain()

    async def start_stream(self, content_type: str = "text/event-stream") -> None:
        head = {"Content-Type": content_type, "Cache-Control": "no-cache", "Transfer-Encoding": "chunked"}
        self._writer.write(self._head(200, head))
        self.started = True
        await self._writer.drain()

    async def write(self, data: bytes) -> None:
        if data:
            self._writer.write(b"%x\r\n%s\r\n" % (len(data), data))
            await self._writer.drain()  # raises ConnectionResetError when the client went away

    async def finish(self) -> None:
        self._writer.write(b"0\r\n\r\n")
        self.finished = True
        await self._writer.drain()


Handler = Callable[[Exchange], Awaitable[None]]


class Server:
    """A listening server; ``port`` is the bound port, ``close()`` stops it and its connections."""

    def __init__(self, server: asyncio.Server, connections: set[asyncio.Task[None]]) -> None:
        self._server, self._connections = server, connections
        self.port: int = server.sockets[0].getsockname()[1]

    async def close(self) -> None:
        self._server.close()
        for task in list(self._connections):
            task.cancel()
        await asyncio.gather(*self._connections, return_exceptions=True)
        await self._server.wait_closed()


async def serve(handler: Handler, host: str, port: int) -> Server:
    connections: set[asyncio.Task[None]] = set()

    async def on_connection(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        connections.add(task)
        try:
            await _connection(handler, reader, writer)
        except (OSError, HttpError, asyncio.IncompleteReadError, ValueError):
            pass  # a client that went away or spoke garbage: nothing to answer
        finally:
            connections.discard(task)
            writer.close()

    server = await asyncio.start_server(on_connection, host, port, limit=MAX_HEAD)
    return Server(server, connections)


async def _connection(handler: Handler, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    while True:
        try:
            head = await asyncio.wait_for(_read_head(reader), KEEP_ALIVE)
        except asyncio.TimeoutError:
            return  # idle: close it, as servers do after their keep-alive timeout
        if head is None:
            return
        request_line, headers = head
        method, target, version = [*request_line.split(" "), "", ""][:3]
        if headers.get("expect", "").lower() == "100-continue":
            writer.write(b"HTTP/1.1 100 Continue\r\n\r\n")
        path, _, query = target.partition("?")
        exchange = Exchange(Incoming(method, path, query, headers, b""), writer, reader)
        try:
            exchange.request.body = await _collect(_body_chunks(reader, headers, until_close=False))
        except HttpError as exc:
            exchange.extra_headers["Connection"] = "close"
            await exchange.send_json(413, {"error": {"message": str(exc), "type": "invalid_request_error"}})
            return
        await handler(exchange)
        if not exchange.finished or not exchange.reusable:
            return  # the handler gave up mid-answer (or bytes were read past it): the connection is done
        if headers.get("connection", "").lower() == "close" or version == "HTTP/1.0":
            return
