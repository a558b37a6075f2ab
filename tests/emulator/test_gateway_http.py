"""The gateway speaks HTTP/1.1 correctly: bodies, framing, keep-alive, hop-by-hop headers, disconnects.

Real sockets and a real instance process (apps/gateway_probe); raw sockets where the bytes on the wire matter.
"""

from __future__ import annotations

import hashlib
import json
import os
import socket
import time
from collections.abc import Callable, Iterator

import httpx
import pytest
from gateway_support import MemoryRoutes, Running

BASE = "/agent-runtimes/probe/endpoints/default/invocations"


@pytest.fixture(scope="module")
def gateway() -> Iterator[Running]:
    routes = MemoryRoutes()
    routes.add("probe", "gateway_probe", {"LATEST": {}})
    routes.route("probe", "default", "LATEST")
    running = Running(routes)
    try:
        httpx.get(running.url + BASE + "/health", timeout=30).raise_for_status()  # start the instance once
        yield running
    finally:
        running.close()


def connect(gateway: Running) -> socket.socket:
    return socket.create_connection(("127.0.0.1", gateway.server.port), timeout=10)


def read_response(sock: socket.socket, buffer: bytearray, *, head: bool = False) -> tuple[int, dict[str, str], bytes]:
    """One response off a keep-alive socket (Content-Length or chunked); leftover bytes stay in ``buffer``."""
    while b"\r\n\r\n" not in buffer:
        buffer += _recv(sock)
    raw, _, rest = bytes(buffer).partition(b"\r\n\r\n")
    buffer[:] = rest
    lines = raw.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    headers: dict[str, str] = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    if head or status in (204, 304) or 100 <= status < 200:
        return status, headers, b""
    if "content-length" in headers:
        return status, headers, _take(sock, buffer, int(headers["content-length"]))
    assert headers.get("transfer-encoding") == "chunked", headers
    body = b""
    while True:
        size = int(_line(sock, buffer), 16)
        body += _take(sock, buffer, size)
        _take(sock, buffer, 2)
        if size == 0:
            return status, headers, body


def _recv(sock: socket.socket) -> bytes:
    data = sock.recv(65536)
    assert data, "the gateway closed the connection"
    return data


def _take(sock: socket.socket, buffer: bytearray, n: int) -> bytes:
    while len(buffer) < n:
        buffer += _recv(sock)
    data = bytes(buffer[:n])
    del buffer[:n]
    return data


def _line(sock: socket.socket, buffer: bytearray) -> bytes:
    while b"\r\n" not in buffer:
        buffer += _recv(sock)
    line, _, rest = bytes(buffer).partition(b"\r\n")
    buffer[:] = rest
    return line


def until(check: Callable[[], bool], what: str, limit: float = 20) -> None:
    """Poll ``check`` until it holds (the deadline only guards against a hang)."""
    deadline = time.monotonic() + limit
    while not check():
        assert time.monotonic() < deadline, f"still not true: {what}"
        time.sleep(0.05)


def test_a_chunked_request_body_reaches_the_app_whole(gateway: Running) -> None:
    parts = [b"alpha-", b"beta-" * 1000, b"gamma"]
    reply = httpx.post(gateway.url + BASE + "/echo", content=iter(parts), timeout=30)
    seen = reply.json()
    assert reply.status_code == 200
    assert seen["length"] == sum(map(len, parts))
    assert seen["sha256"] == hashlib.sha256(b"".join(parts)).hexdigest()
    assert ["transfer-encoding", "chunked"] in seen["headers"]


def test_large_bodies_pass_through_in_both_directions(gateway: Running) -> None:
    upload = os.urandom(8 * 1024 * 1024)
    seen = httpx.post(gateway.url + BASE + "/echo", content=upload, timeout=60).json()
    assert (seen["length"], seen["sha256"]) == (len(upload), hashlib.sha256(upload).hexdigest())
    size = 0
    with httpx.stream("GET", gateway.url + BASE + "/big?n=30000000", timeout=60) as reply:
        assert reply.headers["content-length"] == "30000000"
        for chunk in reply.iter_raw():
            size += len(chunk)
    assert size == 30_000_000


def test_head_204_and_304_carry_no_body_and_keep_the_connection(gateway: Running) -> None:
    with connect(gateway) as sock:
        buffer = bytearray()
        sock.sendall(f"HEAD {BASE}/head HTTP/1.1\r\nHost: x\r\n\r\n".encode())
        status, headers, _ = read_response(sock, buffer, head=True)
        assert status == 200 and headers["content-length"] == "1234"
        for code in (204, 304):
            sock.sendall(f"GET {BASE}/status/{code} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
            status, headers, _ = read_response(sock, buffer)
            assert status == code and headers["x-probe"] == "yes"
            assert "transfer-encoding" not in headers and headers.get("content-length", "0") == "0"
        sock.sendall(f"GET {BASE}/head HTTP/1.1\r\nHost: x\r\n\r\n".encode())
        status, _, body = read_response(sock, buffer)
        assert status == 200 and body == b"x" * 1234
        assert buffer == b""  # nothing stray on the wire after a bodiless answer


def test_pipelined_requests_are_answered_in_order(gateway: Running) -> None:
    with connect(gateway) as sock:
        buffer = bytearray()
        sock.sendall(b"".join(f"GET {BASE}/echo?n={i} HTTP/1.1\r\nHost: x\r\n\r\n".encode() for i in range(5)))
        paths = [json.loads(read_response(sock, buffer)[2])["path"] for _ in range(5)]
    assert paths == [f"/echo?n={i}" for i in range(5)]


def test_expect_100_continue_gets_a_continue_then_the_answer(gateway: Running) -> None:
    with connect(gateway) as sock:
        buffer = bytearray()
        sock.sendall(f"POST {BASE}/echo HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n"
                     "Expect: 100-continue\r\n\r\n".encode())
        assert read_response(sock, buffer)[0] == 100
        sock.sendall(b"hello")
        status, _, body = read_response(sock, buffer)
    assert status == 200 and json.loads(body)["length"] == 5
    assert "expect" not in dict(json.loads(body)["headers"])


def test_connection_close_ends_the_connection_after_the_answer(gateway: Running) -> None:
    with connect(gateway) as sock:
        buffer = bytearray()
        sock.sendall(f"GET {BASE}/echo HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode())
        status, headers, _ = read_response(sock, buffer)
        assert status == 200 and headers["connection"] == "close"
        assert sock.recv(100) == b""  # EOF


def test_hop_by_hop_headers_are_dropped_both_ways(gateway: Running) -> None:
    reply = httpx.get(gateway.url + BASE + "/echo", headers={
        "Connection": "keep-alive, X-Drop", "X-Drop": "1", "Keep-Alive": "timeout=3", "TE": "trailers",
        "Proxy-Authorization": "Basic eA==", "X-Stays": "1", "X-Agentrun-Instance-Id": "forged"})
    sent = {name for name, _ in reply.json()["headers"]}
    assert "x-stays" in sent
    assert not sent & {"x-drop", "keep-alive", "te", "proxy-authorization", "x-agentrun-instance-id"}
    back = httpx.get(gateway.url + BASE + "/hop")
    assert back.headers["x-kept"] == "yes"
    assert not {"x-secret", "keep-alive", "proxy-connection"} & set(back.headers)
    assert back.headers.get("connection", "keep-alive") == "keep-alive"


def test_a_client_leaving_mid_stream_frees_its_slot_and_closes_the_instance_side(gateway: Running) -> None:
    gone_before = httpx.get(gateway.url + BASE + "/stats").json()["gone"]
    with connect(gateway) as sock:
        sock.sendall(f"GET {BASE}/endless HTTP/1.1\r\nHost: x\r\n\r\n".encode())
        assert b"data: x" in sock.recv(4096) + sock.recv(4096)
        assert gateway.on_loop(lambda: sum(i.in_flight for i in gateway.pool.instances())) == 1
    until(lambda: gateway.on_loop(lambda: sum(i.in_flight for i in gateway.pool.instances())) == 0,
          "the lease of the abandoned stream is released")
    until(lambda: httpx.get(gateway.url + BASE + "/stats").json()["gone"] == gone_before + 1,
          "the app sees its stream's connection closed")


def test_an_unparseable_request_gets_a_400_and_the_connection_ends(gateway: Running) -> None:
    with connect(gateway) as sock:
        sock.sendall(b"NOT HTTP AT ALL\r\n\r\n")
        data = b""
        while chunk := sock.recv(4096):
            data += chunk
    assert data.startswith(b"HTTP/1.1 400")


def test_an_http10_client_gets_a_stream_ended_by_closing_the_connection(gateway: Running) -> None:
    with connect(gateway) as sock:
        sock.sendall(f"GET {BASE}/chunks?n=4 HTTP/1.0\r\n\r\n".encode())
        data = b""
        while chunk := sock.recv(4096):
            data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200") and b"transfer-encoding" not in head.lower()
    assert body == b"0123"
