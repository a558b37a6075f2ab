"""The gateway bounds what a client may send (issue #9, items 3 and 6), through a real daemon.

- a header line over 16 KiB, or a head over 64 KiB in all → 431; a request target over 8 KiB → 414; each
  answered by the gateway itself (JSON, no instance involved) and the connection closed;
- a client that sends its head and then stalls its body gets 408 after ``--body-timeout`` seconds, so
  stalled connections cannot hold the instance slots: the next request is served, not refused with 429.
"""

from __future__ import annotations

import json
import socket
import sys
from pathlib import Path

from gate_project import GateProject, gate_project

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))
from emulator_kit import APP

READ_TIMEOUT = 30.0  # bounded: a gateway that never answers fails the test instead of hanging it


def raw_exchange(project: GateProject, head: bytes, *, body: bytes = b"") -> tuple[int, dict[str, str], bytes]:
    """Send raw bytes, read until the gateway closes: (status, headers, body)."""
    with socket.create_connection((project.host, project.port), timeout=READ_TIMEOUT) as sock:
        sock.sendall(head + body)
        return parse(read_all(sock))


def read_all(sock: socket.socket) -> bytes:
    data = b""
    while chunk := sock.recv(65536):
        data += chunk
    return data


def parse(data: bytes) -> tuple[int, dict[str, str], bytes]:
    raw, _, body = data.partition(b"\r\n\r\n")
    lines = raw.decode("latin-1").split("\r\n")
    headers = {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:])}
    return int(lines[0].split()[1]), headers, body


def request_head(project: GateProject, tail: str, *extra: str) -> bytes:
    lines = [f"GET {project.path(tail)} HTTP/1.1", "Host: gateway", *extra]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


def answered_by_the_gateway(status: int, headers: dict[str, str], body: bytes, code: str) -> None:
    assert json.loads(body)["code"] == code, (status, body[:200])
    assert "x-agentrun-instance-id" not in headers and headers.get("connection") == "close"


def test_oversized_heads_get_431_or_414_from_the_gateway_and_normal_requests_still_work(tmp_path: Path) -> None:
    with gate_project(tmp_path, concurrency=5) as project:
        assert project.request("ok").status == 200

        status, headers, body = raw_exchange(project, request_head(project, "ok", "x-big: " + "a" * 20_000))
        assert status == 431
        answered_by_the_gateway(status, headers, body, "RequestHeaderFieldsTooLarge")

        status, headers, body = raw_exchange(project, request_head(project, "ok", "x-huge: " + "a" * 4_000_000))
        assert status == 431
        answered_by_the_gateway(status, headers, body, "RequestHeaderFieldsTooLarge")

        many = [f"x-h{n}: {'b' * 1000}" for n in range(80)]  # every line is small, the head is 80 KB
        status, headers, body = raw_exchange(project, request_head(project, "ok", *many))
        assert status == 431
        answered_by_the_gateway(status, headers, body, "RequestHeaderFieldsTooLarge")

        status, headers, body = raw_exchange(project, request_head(project, "ok?q=" + "c" * 10_000))
        assert status == 414
        answered_by_the_gateway(status, headers, body, "URITooLong")

        under = request_head(project, "ok?q=" + "c" * 4_000, "x-fine: " + "d" * 8_000)  # within every limit
        assert raw_exchange(project, under.replace(b"Host: gateway", b"Host: gateway\r\nConnection: close"))[0] == 200
        assert project.request("ok").status == 200


def test_stalled_request_bodies_get_408_and_do_not_hold_the_instance_slots(tmp_path: Path) -> None:
    reader = tmp_path / "reader.py"
    reader.write_text(APP)  # reads the whole body before it answers, as agents do
    start = ("--max-instances", "2", "--body-timeout", "2")
    with gate_project(tmp_path, concurrency=1, start=start, app=reader) as project:
        stalled = []
        for _ in range(5):  # more than the two slots there are
            sock = socket.create_connection((project.host, project.port), timeout=READ_TIMEOUT)
            sock.sendall(request_head(project, "work", "Content-Length: 100").replace(b"GET", b"POST", 1) + b"x" * 10)
            stalled.append(sock)
        try:
            answers = [parse(read_all(sock)) for sock in stalled]
        finally:
            for sock in stalled:
                sock.close()

        for status, headers, body in answers:
            assert status == 408, (status, body)
            assert json.loads(body)["code"] == "RequestTimeout" and headers.get("connection") == "close"
        assert project.request("work").status == 200
        assert sum(int(row.get("inFlight") or 0) for row in project.instances()) == 0
